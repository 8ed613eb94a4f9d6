//! The function the local trigger invokes: the Lambda binary behind a Runtime API emulator
//! (`cargo lambda watch`), or the same handler in this process.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use stream_infer::App;
use stream_infer::Deadline;

/// Where invocations go.
pub enum Function {
    /// `POST {endpoint}/2015-03-31/functions/{name}/invocations`, the Lambda Invoke API that
    /// `cargo lambda watch` serves.
    RuntimeApi {
        client: Box<Client<HttpConnector, Full<Bytes>>>,
        url: String,
        timeout: Duration,
    },
    /// [`stream_infer::handle`] on an app built in this process.
    InProcess(Box<App>),
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What one invocation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invoked {
    /// The `batchItemFailures` item identifiers (empty when every record was processed).
    Response(Vec<String>),
    /// A function error, or a response Lambda counts as one.
    Error(String),
}

/// The trigger could not reach the function at all; nothing was checkpointed.
#[derive(Debug, thiserror::Error)]
#[error("cannot invoke {url}: {message} (is `cargo lambda watch -A 127.0.0.1` running?)")]
pub struct Unreachable {
    pub url: String,
    pub message: String,
}

impl Function {
    /// The function `name` behind the emulator at `endpoint`, e.g. `http://127.0.0.1:9000`.
    pub fn runtime_api(endpoint: &str, name: &str, timeout: Duration) -> Function {
        let client = Box::new(Client::builder(hyper_util::rt::TokioExecutor::new()).build_http());
        Function::RuntimeApi {
            client,
            url: format!(
                "{}/2015-03-31/functions/{name}/invocations",
                endpoint.trim_end_matches('/')
            ),
            timeout,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Function::RuntimeApi { url, .. } => url.clone(),
            Function::InProcess(app) => {
                format!("in-process handler, sink {}", app.sink().describe())
            }
        }
    }

    pub async fn invoke(&self, event: String) -> Result<Invoked, Unreachable> {
        match self {
            Function::InProcess(app) => Ok(
                match stream_infer::handle(app, &event, &Deadline::none()).await {
                    Ok(handled) => Invoked::Response(
                        handled
                            .response
                            .failures()
                            .into_iter()
                            .map(str::to_owned)
                            .collect(),
                    ),
                    Err(error) => Invoked::Error(error.to_string()),
                },
            ),
            Function::RuntimeApi {
                client,
                url,
                timeout,
            } => {
                let unreachable = |message: String| Unreachable {
                    url: url.clone(),
                    message,
                };
                let request = hyper::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(event)))
                    .map_err(|e| unreachable(e.to_string()))?;
                let response = tokio::time::timeout(*timeout, client.request(request))
                    .await
                    .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
                    .map_err(|e| unreachable(e.to_string()))?;
                let status = response.status();
                // Lambda answers 200 with X-Amz-Function-Error; cargo-lambda answers 500.
                let function_error = response.headers().contains_key("x-amz-function-error");
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| unreachable(e.to_string()))?
                    .to_bytes();
                if function_error || !status.is_success() {
                    return Ok(Invoked::Error(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&body)
                    )));
                }
                Ok(parse_response(&body))
            }
        }
    }
}

/// Reads a response the way Lambda does with `ReportBatchItemFailures`: an empty or null
/// response, or an empty list, is a success; an unreadable one, or a failure without an
/// identifier, is a complete failure.
pub fn parse_response(body: &[u8]) -> Invoked {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Response {
        batch_item_failures: Option<Vec<Failure>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Failure {
        item_identifier: Option<String>,
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return Invoked::Response(Vec::new());
    }
    match serde_json::from_str::<Option<Response>>(&text) {
        Ok(None)
        | Ok(Some(Response {
            batch_item_failures: None,
        })) => Invoked::Response(Vec::new()),
        Ok(Some(Response {
            batch_item_failures: Some(failures),
        })) => {
            let ids: Option<Vec<String>> = failures
                .into_iter()
                .map(|f| f.item_identifier.filter(|id| !id.is_empty()))
                .collect();
            match ids {
                Some(ids) => Invoked::Response(ids),
                None => Invoked::Error("a batchItemFailures entry has no itemIdentifier".into()),
            }
        }
        Err(error) => Invoked::Error(format!("unreadable response ({error}): {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read_as_lambda_reads_them() {
        let ok = Invoked::Response(Vec::new());
        assert_eq!(parse_response(b""), ok);
        assert_eq!(parse_response(b"null"), ok);
        assert_eq!(parse_response(b"{}"), ok);
        assert_eq!(parse_response(br#"{"batchItemFailures":[]}"#), ok);
        assert_eq!(
            parse_response(
                br#"{"batchItemFailures":[{"itemIdentifier":"7"},{"itemIdentifier":"3"}]}"#
            ),
            Invoked::Response(vec!["7".into(), "3".into()])
        );
        for complete_failure in [
            &br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#[..],
            br#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            br#"{"batchItemFailures":[{}]}"#,
            b"not json",
        ] {
            assert!(
                matches!(parse_response(complete_failure), Invoked::Error(_)),
                "{}",
                String::from_utf8_lossy(complete_failure)
            );
        }
    }
}
