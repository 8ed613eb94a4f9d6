//! Where predictions and rejected records go: the only modules besides model loading that do IO.
//!
//! Every sink answers one result per record it was given, in order, so the handler can account
//! for each record: written, or failed with an error that says whether retrying could help.

pub mod dead_letter;
pub mod stdout;

use serde::Serialize;

use crate::source::Source;

pub use dead_letter::{DeadLetter, Rejection};
pub use stdout::JsonLinesSink;

/// One prediction, as written to every sink (the stdout line and the SQS message body).
#[derive(Debug, Clone, Serialize)]
pub struct Prediction<'a> {
    /// The record's sequence number.
    pub id: &'a str,
    /// The record's key (`ID_FIELD`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    pub prediction: f64,
    pub model: ModelRef<'a>,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<&'a str>,
    /// Arrival or creation time of the record, in seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ModelRef<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// Throttling, a 5xx, unprocessed items: the same write may succeed later.
    #[error("transient sink failure: {0}")]
    Transient(String),
    /// The sink refused this record and always will: it is dead-lettered, not retried.
    #[error("sink rejected the record: {0}")]
    Permanent(String),
}

/// The configured output for predictions.
#[derive(Debug)]
pub enum Sink {
    /// One JSON line per prediction on standard output.
    Stdout(JsonLinesSink),
}

impl Sink {
    /// Writes every prediction; the result at `i` belongs to `predictions[i]`.
    pub async fn write(&self, predictions: &[Prediction<'_>]) -> Vec<Result<(), SinkError>> {
        match self {
            Sink::Stdout(sink) => sink.write(predictions),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Sink::Stdout(_) => "stdout".to_owned(),
        }
    }
}
