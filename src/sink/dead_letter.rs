//! Rejected records, with their reason: logged at WARN, or sent to a dead-letter queue.

use serde::Serialize;

use super::SinkError;
use crate::source::Source;

/// A record that can never be predicted, with everything needed to inspect or replay it.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection<'a> {
    pub id: &'a str,
    /// A stable code, such as `feature_missing`.
    pub reason: &'static str,
    /// What exactly was wrong, for a person.
    pub message: String,
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<f64>,
    /// The payload as it arrived: Kinesis data (decoded when UTF-8) or the DynamoDB image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// `utf8`, `base64` (Kinesis data that is not UTF-8) or `dynamodb-json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_encoding: Option<&'static str>,
}

/// Where rejected records go.
#[derive(Debug)]
pub enum DeadLetter {
    /// A WARN log event per record (no `DEAD_LETTER_QUEUE_URL`).
    Log,
}

impl DeadLetter {
    /// Dead-letters every rejection; the result at `i` belongs to `rejections[i]`.
    pub async fn send(&self, rejections: &[Rejection<'_>]) -> Vec<Result<(), SinkError>> {
        match self {
            DeadLetter::Log => rejections.iter().map(log).collect(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DeadLetter::Log => {
                "log (WARN; set DEAD_LETTER_QUEUE_URL to keep rejected records)".to_owned()
            }
        }
    }
}

fn log(rejection: &Rejection<'_>) -> Result<(), SinkError> {
    tracing::warn!(
        id = rejection.id,
        reason = rejection.reason,
        source = rejection.source.as_str(),
        source_arn = rejection.source_arn,
        sequence_number = rejection.sequence_number,
        partition_key = rejection.partition_key,
        event_time = rejection.event_time,
        payload = rejection.payload.as_deref(),
        payload_encoding = rejection.payload_encoding,
        "{}",
        rejection.message
    );
    Ok(())
}
