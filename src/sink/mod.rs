//! Where predictions and rejected records go: the only modules besides model loading that do IO.
//!
//! Every sink answers one result per record it was given, in order, so the handler can account
//! for each record: written, or failed with an error that says whether retrying could help.

pub mod dead_letter;
pub mod dynamodb;
pub(crate) mod line;
pub mod retry;
pub mod sqs;
pub mod stdout;

use serde::Serialize;

use crate::model::Label;
use crate::source::Source;

pub use dead_letter::{DeadLetter, Kept, PayloadEncoding, Rejection};
pub use dynamodb::DynamoDbSink;
pub use retry::{Deadline, RetryPolicy};
pub use sqs::SqsQueue;
pub use stdout::JsonLinesSink;

/// How an AWS sink delivers: requests in flight at once, and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub concurrency: usize,
    pub retry: RetryPolicy,
}

/// One prediction, as written to every sink (the stdout line and the SQS message body).
#[derive(Debug, Clone, Serialize)]
pub struct Prediction<'a> {
    /// The record's id in outputs: its sequence number, or `#index` when it has none.
    pub id: &'a str,
    /// Whether the record has a sequence number (then `id` is the same on every delivery of the
    /// record, and an SQS FIFO deduplication id can be derived from it).
    #[serde(skip)]
    pub sequenced: bool,
    /// The record's key (`ID_FIELD`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    /// A regressor's value, or a classifier's label.
    pub prediction: Predicted<'a>,
    /// A probabilistic classifier's probability of each class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Probabilities<'a>>,
    /// The inputs whose missing value the model imputed.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub imputed: &'a [String],
    /// Which model predicted.
    pub model: ModelRef<'a>,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<&'a str>,
    /// Arrival or creation time of the record, in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<f64>,
    /// The invocation's X-Ray trace header: an SQS message's `AWSTraceHeader`, a DynamoDB
    /// item's `trace_id`. Not part of the prediction's JSON.
    #[serde(skip)]
    pub trace_header: Option<&'a str>,
}

impl Prediction<'_> {
    /// The prediction's JSON text: the stdout line without its newline, and the SQS message
    /// body. Byte for byte what `serde_json` writes for it, built without its dispatch.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(256);
        line::write_prediction(&mut out, self);
        String::from_utf8(out).expect("JSON text built from `str`s is UTF-8")
    }
}

/// What the model answered: a number (JSON number, DynamoDB `N`) or a class label as trained
/// (a string or an integer: `S` or `N`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Predicted<'a> {
    /// A regressor's output.
    Value(f64),
    /// A classifier's label.
    Label(&'a Label),
}

/// A classifier's probabilities, written as a map from class label to probability.
#[derive(Debug, Clone, Copy)]
pub struct Probabilities<'a> {
    /// The model's classes.
    pub classes: &'a [Label],
    /// One probability per class, in the same order.
    pub values: &'a [f64],
}

impl Serialize for Probabilities<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.classes.len()))?;
        for (class, p) in self.classes.iter().zip(self.values) {
            map.serialize_entry(&class.to_string(), p)?;
        }
        map.end()
    }
}

/// The model behind a prediction.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelRef<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

/// Whether retrying a failed write could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, a 5xx, unprocessed items: the same write may succeed later.
    Transient,
    /// The sink refused this record and always will: it is dead-lettered, not retried.
    Permanent,
    /// The message is larger than the queue accepts: the same bytes never fit, a shorter message
    /// may (the dead-letter path cuts it).
    TooLarge,
}

/// Why a write did not happen: whether a retry could help, the service's error code when it gave
/// one (`ThrottlingException`, `ValidationException`, …), and a sentence for the logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", match .retry { Retry::Transient => "transient sink failure", Retry::Permanent => "sink rejected the record", Retry::TooLarge => "message too large for the queue" })]
pub struct SinkError {
    /// Whether retrying could help.
    pub retry: Retry,
    /// The service's error code, when the failure came from the service.
    pub code: Option<String>,
    /// What went wrong, naming the service.
    pub message: String,
}

impl SinkError {
    /// A failure that a later attempt may not see.
    pub fn transient(code: Option<&str>, message: impl Into<String>) -> SinkError {
        SinkError {
            retry: Retry::Transient,
            code: code.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A refusal that every attempt will meet.
    pub fn permanent(code: Option<&str>, message: impl Into<String>) -> SinkError {
        SinkError {
            retry: Retry::Permanent,
            code: code.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A message over the queue's size limit, refused before it was sent.
    pub fn too_large(message: impl Into<String>) -> SinkError {
        SinkError {
            retry: Retry::TooLarge,
            code: None,
            message: message.into(),
        }
    }

    /// Whether retrying could help.
    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Transient
    }
}

/// The configured output for predictions.
#[derive(Debug)]
pub enum Sink {
    /// One JSON line per prediction on standard output.
    Stdout(JsonLinesSink),
    /// One item per prediction in `OUTPUT_TABLE`.
    DynamoDb(DynamoDbSink),
    /// One message per prediction on `OUTPUT_QUEUE_URL`; the body is the stdout line.
    Sqs(SqsQueue),
}

impl Sink {
    /// Writes every prediction; the result at `i` belongs to `predictions[i]`.
    pub async fn write(
        &self,
        predictions: &[Prediction<'_>],
        deadline: &Deadline,
    ) -> Vec<Result<(), SinkError>> {
        if predictions.is_empty() {
            return Vec::new();
        }
        match self {
            Sink::Stdout(sink) => sink.write(predictions),
            Sink::DynamoDb(sink) => sink.write(predictions, deadline).await,
            Sink::Sqs(queue) => {
                let nonce = fastrand::u128(..);
                let messages: Vec<sqs::Message> =
                    predictions.iter().map(|p| message(p, nonce)).collect();
                queue.send(&messages, deadline).await
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Sink::Stdout(_) => "stdout".to_owned(),
            Sink::DynamoDb(sink) => format!("dynamodb table {}", sink.table()),
            Sink::Sqs(queue) => format!("sqs queue {}", queue.url()),
        }
    }
}

/// A prediction as an SQS message: grouped by partition key, deduplicated by source and sequence
/// number (both used only on FIFO queues). A record without a sequence number is deduplicated by
/// its body and the invocation's `nonce` instead, so a later invocation is never dropped as a
/// duplicate of it.
fn message(prediction: &Prediction<'_>, nonce: u128) -> sqs::Message {
    let group = prediction
        .partition_key
        .or(prediction.key)
        .unwrap_or(prediction.id);
    let body = prediction.to_json();
    let dedup = if prediction.sequenced {
        sqs::fifo_id(&format!("{}-{}", prediction.source.as_str(), prediction.id))
    } else {
        sqs::unsequenced_dedup_id(prediction.source, &[prediction.id, &body], nonce)
    };
    sqs::Message {
        body: sqs::sqs_safe(body),
        group: sqs::fifo_id(group),
        dedup,
        trace_header: prediction.trace_header.map(str::to_owned),
    }
}
