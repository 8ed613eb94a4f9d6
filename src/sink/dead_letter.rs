//! Rejected records, with their reason: logged at WARN, or sent to a dead-letter queue.

use serde::Serialize;

use super::SinkError;
use super::retry::Deadline;
use super::sqs::{Message, SqsQueue, fifo_id};
use crate::reason::Reason;
use crate::source::Source;

/// The largest message body sent to the dead-letter queue (SQS's classic message limit); a
/// larger payload is cut, and the message says so.
pub const MAX_BODY: usize = 256 * 1024;

/// A record that can never be predicted, with everything needed to inspect or replay it.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection<'a> {
    pub id: &'a str,
    /// A stable code, such as `feature_missing`.
    pub reason: Reason,
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
    /// How `payload` is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_encoding: Option<PayloadEncoding>,
    /// Set when the payload was cut to fit a queue message.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub payload_truncated: bool,
}

impl Rejection<'_> {
    /// The JSON message body, cut to [`MAX_BODY`] by shortening the payload when needed.
    pub fn body(&self) -> String {
        let body = serde_json::to_string(self).expect("a rejection always serializes");
        let Some(payload) = self.payload.as_deref().filter(|_| body.len() > MAX_BODY) else {
            return body;
        };
        // JSON escaping can grow text up to six times; keep well inside the limit.
        let mut keep = (MAX_BODY / 8).min(payload.len());
        while !payload.is_char_boundary(keep) {
            keep -= 1;
        }
        let mut cut = self.clone();
        cut.payload = Some(payload[..keep].to_owned());
        cut.payload_truncated = true;
        serde_json::to_string(&cut).expect("a rejection always serializes")
    }
}

/// How a dead-lettered payload is written in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PayloadEncoding {
    /// Kinesis data, base64-decoded, that is UTF-8 text.
    #[serde(rename = "utf8")]
    Utf8,
    /// Kinesis data that decodes but is not UTF-8: the original base64 text.
    #[serde(rename = "base64")]
    Base64,
    /// Kinesis data that is not valid base64: the text exactly as it arrived.
    #[serde(rename = "raw")]
    Raw,
    /// A DynamoDB `NewImage`, as DynamoDB JSON.
    #[serde(rename = "dynamodb-json")]
    DynamodbJson,
    /// The whole record, when its envelope could not be read.
    #[serde(rename = "record-json")]
    RecordJson,
}

impl PayloadEncoding {
    /// The name written in the message.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadEncoding::Utf8 => "utf8",
            PayloadEncoding::Base64 => "base64",
            PayloadEncoding::Raw => "raw",
            PayloadEncoding::DynamodbJson => "dynamodb-json",
            PayloadEncoding::RecordJson => "record-json",
        }
    }
}

/// Where rejected records go.
#[derive(Debug)]
pub enum DeadLetter {
    /// A WARN log event per record (no `DEAD_LETTER_QUEUE_URL`).
    Log,
    /// One message per record on `DEAD_LETTER_QUEUE_URL`.
    Sqs(SqsQueue),
}

impl DeadLetter {
    /// Dead-letters every rejection; the result at `i` belongs to `rejections[i]`.
    pub async fn send(
        &self,
        rejections: &[Rejection<'_>],
        deadline: &Deadline,
    ) -> Vec<Result<(), SinkError>> {
        match self {
            DeadLetter::Log => rejections.iter().map(log).collect(),
            DeadLetter::Sqs(_) if rejections.is_empty() => Vec::new(),
            DeadLetter::Sqs(queue) => {
                let messages: Vec<Message> = rejections
                    .iter()
                    .map(|r| Message {
                        body: r.body(),
                        group: fifo_id(r.partition_key.unwrap_or(r.id)),
                        dedup: fifo_id(&format!("{}-{}", r.source.as_str(), r.id)),
                    })
                    .collect();
                queue.send(&messages, deadline).await
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DeadLetter::Log => {
                "log (WARN; set DEAD_LETTER_QUEUE_URL to keep rejected records)".to_owned()
            }
            DeadLetter::Sqs(queue) => format!("sqs queue {}", queue.url()),
        }
    }
}

fn log(rejection: &Rejection<'_>) -> Result<(), SinkError> {
    tracing::warn!(
        id = rejection.id,
        reason = rejection.reason.as_str(),
        source = rejection.source.as_str(),
        source_arn = rejection.source_arn,
        sequence_number = rejection.sequence_number,
        partition_key = rejection.partition_key,
        event_time = rejection.event_time,
        payload = rejection.payload.as_deref(),
        payload_encoding = rejection.payload_encoding.map(PayloadEncoding::as_str),
        "{}",
        rejection.message
    );
    Ok(())
}
