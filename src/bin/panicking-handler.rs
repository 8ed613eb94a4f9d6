//! A test-only Lambda: the real bootstrap and handler, plus two test hooks, so that a test can
//! show through the Runtime API that a panic becomes an error response and the process lives on.
//!
//! An event `{"panic": "why"}` panics inside the handler; `{"probe": true}` answers this
//! process's id and how many invocations it has served. Any other event goes to
//! `stream_infer::handle_lambda`, as in `src/bin/stream-infer-lambda.rs`. `tests/panic.rs` runs
//! it with `cargo lambda watch --bin panicking-handler`; cargo-lambda serves only `[[bin]]`
//! targets, not examples, which is why this is a binary. `sam/template.yaml` builds and deploys
//! `stream-infer-lambda` alone.

use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_runtime::{LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use stream_infer::{App, Config, HandlerError, InitError, StreamResponse, handle_lambda};

/// The test hooks; a stream event has neither field.
#[derive(Deserialize)]
struct Hooks {
    panic: Option<String>,
    #[serde(default)]
    probe: bool,
}

/// What the function answers: a probe's answer, or the stream response.
#[derive(Serialize)]
#[serde(untagged)]
enum Answer {
    Probe { pid: u32, served: usize },
    Stream(StreamResponse),
}

// The same single-threaded runtime as `src/bin/stream-infer-lambda.rs`.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().map_err(InitError::from)?;
    let app = App::build(&config).await?;
    let served = AtomicUsize::new(0);
    let handler = |event: LambdaEvent<Box<RawValue>>| {
        let served = served.fetch_add(1, Ordering::SeqCst) + 1;
        let app = &app;
        async move {
            let hooks: Option<Hooks> = serde_json::from_str(event.payload.get()).ok();
            if let Some(Hooks {
                panic: Some(why), ..
            }) = &hooks
            {
                panic!("panicking-handler was asked to panic: {why}");
            }
            if hooks.is_some_and(|h| h.probe) {
                let pid = std::process::id();
                return Ok(Answer::Probe { pid, served });
            }
            Ok::<_, HandlerError>(Answer::Stream(handle_lambda(app, event).await?))
        }
    };
    lambda_runtime::run(service_fn(handler)).await
}
