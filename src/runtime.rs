//! The Lambda runtime loop of both doors, fed the invocation's bytes exactly as lambda_runtime
//! received them.
//!
//! lambda_runtime deserializes each invocation into the handler's event type before the handler
//! runs: a whole serde pass (3 ms for a 6 MB event even into a `Box<RawValue>`) that the doors
//! would then repeat. Its own extension point avoids it: a `tower::Layer` added with
//! [`Runtime::layer`] sees each `LambdaInvocation` before deserialization. [`RawBody`] moves the
//! body out (leaving `null` for the `LambdaEvent<()>` handler) and lends it to the handler through
//! a task-local, so each door parses the bytes once. The runtime is otherwise untouched: its
//! Runtime API client, its tracing span (request id, X-Ray trace id) and its panic handling.

use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Context, Diagnostic, LambdaEvent, LambdaInvocation, Runtime, service_fn};
use serde::Serialize;
use tokio::task::futures::TaskLocalFuture;

use crate::app::App;
use crate::config::Door;
use crate::handler::{Call, HandlerError, handle_reported};
use crate::http::{HttpError, HttpResponse, handle_http};
use crate::ledger::StreamResponse;
use crate::sink::Deadline;

tokio::task_local! {
    /// The body of the invocation being handled, set by [`RawBody`] around the handler.
    static BODY: Bytes;
}

/// Runs the Lambda runtime loop until the process ends: each invocation's bytes go to the door
/// the config names (`DOOR`).
pub async fn run(app: &App) -> Result<(), lambda_runtime::Error> {
    let handler = service_fn(|event: LambdaEvent<()>| invoke(app, event.context));
    Runtime::new(handler)
        .layer(RawBodyLayer)
        .layer(TracingLayer::new())
        .run()
        .await
}

/// What the function answers: the stream response, or the HTTP door's response.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Stream(StreamResponse),
    Http(HttpResponse),
}

/// Why an invocation failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The body is not UTF-8, so it cannot be a JSON event.
    #[error(
        "the invocation body is not UTF-8 (invalid byte at offset {valid_up_to} of {len}), so it is not a JSON event"
    )]
    NotUtf8 { valid_up_to: usize, len: usize },
    /// The handler ran without [`RawBody`] around it: a bug in the bootstrap.
    #[error("the invocation body was not handed to the handler (the RawBody layer is missing)")]
    NoBody,
    #[error(transparent)]
    Stream(#[from] HandlerError),
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl From<InvocationError> for Diagnostic {
    fn from(error: InvocationError) -> Diagnostic {
        match error {
            InvocationError::Stream(error) => error.into(),
            other => Diagnostic {
                error_type: match &other {
                    InvocationError::NotUtf8 { .. } => "EventNotUtf8",
                    InvocationError::NoBody => "Internal",
                    InvocationError::Http(error) => error.code(),
                    InvocationError::Stream(_) => unreachable!("converted above"),
                }
                .to_owned(),
                error_message: other.to_string(),
            },
        }
    }
}

/// One invocation: the bytes [`RawBody`] lent, through the configured door. Prints the
/// invocation's metrics document (when `METRICS` is on).
async fn invoke(app: &App, context: Context) -> Result<Answer, InvocationError> {
    let body = BODY
        .try_with(Bytes::clone)
        .map_err(|_| InvocationError::NoBody)?;
    let deadline = Deadline::from_epoch_millis(context.deadline, app.deadline_margin());
    let call = Call {
        request_id: &context.request_id,
        trace: context.xray_trace_id.as_deref(),
        deadline: &deadline,
    };
    let (answer, document) = match app.door() {
        Door::Stream => {
            let text = std::str::from_utf8(&body).map_err(|e| InvocationError::NotUtf8 {
                valid_up_to: e.valid_up_to(),
                len: body.len(),
            })?;
            let (handled, document) = handle_reported(app, text, call).await?;
            (Answer::Stream(handled.response), document)
        }
        Door::Http { .. } => {
            let (response, document) = handle_http(app, &body, call).await?;
            (Answer::Http(response), document)
        }
    };
    if let Some(document) = document {
        crate::metrics::print(&document);
    }
    Ok(answer)
}

/// The layer that lends each invocation's body to the handler (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct RawBodyLayer;

impl<S> Layer<S> for RawBodyLayer {
    type Service = RawBody<S>;

    fn layer(&self, inner: S) -> RawBody<S> {
        RawBody(inner)
    }
}

/// The service [`RawBodyLayer`] wraps around the runtime's own.
#[derive(Debug, Clone)]
pub struct RawBody<S>(S);

impl<S> Service<LambdaInvocation> for RawBody<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = TaskLocalFuture<Bytes, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        // `null` is what a `LambdaEvent<()>` deserializes from: the runtime's own pass is then
        // four bytes long.
        let body = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
        BODY.scope(body, self.0.call(invocation))
    }
}
