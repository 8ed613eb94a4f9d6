//! Rejected records, with their reason: logged at WARN, or sent to a dead-letter queue.
//!
//! A dead-letter message always fits its queue: the `message` is cut to [`MAX_MESSAGE`], then
//! the payload and, if need be, the message are cut to the queue's `MaximumMessageSize`. A
//! rejection that cannot fit even so (its ids alone are too long), or that SQS still refuses as
//! too large, is logged at ERROR with its sequence number and reason and counted as
//! [`Kept::Dropped`]: it is not reported for retry, since no retry could ever succeed.

use std::borrow::Cow;

use serde::Serialize;

use super::retry::Deadline;
use super::sqs::{self, MIN_MAX_MESSAGE, Message, SqsQueue, fifo_id, sqs_safe};
use super::{Retry, SinkError};
use crate::reason::Reason;
use crate::source::Source;

/// The largest body written to the log instead of a queue (CloudWatch Logs' event limit).
pub const MAX_BODY: usize = 256 * 1024;

/// The most of a rejection's `message` kept, in bytes; a longer one is cut, with a marker.
pub const MAX_MESSAGE: usize = 4 * 1024;

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
    /// The invocation's X-Ray trace header, sent as the message's `AWSTraceHeader`.
    #[serde(skip)]
    pub trace_header: Option<&'a str>,
}

impl<'a> Rejection<'a> {
    /// The JSON message body, at most `limit` bytes: see [`Rejection::fit`]. `None` when even
    /// the cut rejection is longer.
    pub fn body(&self, limit: usize) -> Option<String> {
        self.fit(limit).map(|fitted| json(&fitted))
    }

    /// This rejection cut to serialize in at most `limit` bytes: the `message` to
    /// [`MAX_MESSAGE`] always, then the payload as far as needed (`payload_truncated` says so),
    /// then the message further. `None` when even an empty payload and message are too long.
    pub fn fit(&self, limit: usize) -> Option<Rejection<'a>> {
        let mut fitted = self.clone();
        if let Cow::Owned(cut) = cut(&self.message, MAX_MESSAGE, char::len_utf8) {
            fitted.message = cut;
        }
        if json(&fitted).len() <= limit {
            return Some(fitted);
        }
        if let Some(payload) = fitted.payload.take() {
            fitted.payload = Some(String::new());
            fitted.payload_truncated = true;
            if let Some(room) = limit.checked_sub(json(&fitted).len()) {
                fitted.payload = Some(prefix(&payload, room, json_len).to_owned());
                return Some(fitted);
            }
        }
        let message = std::mem::take(&mut fitted.message);
        let room = limit.checked_sub(json(&fitted).len())?;
        fitted.message = cut(&message, room, json_len).into_owned();
        Some(fitted)
    }

    /// The FIFO deduplication id: source and sequence number when the record has one, so that a
    /// retried batch is deduplicated; otherwise unique per record content and `nonce` (one per
    /// invocation), so that a later invocation's record is never dropped as a duplicate.
    pub fn dedup_id(&self, nonce: u128) -> String {
        match self.sequence_number {
            Some(_) => fifo_id(&format!("{}-{}", self.source.as_str(), self.id)),
            None => sqs::unsequenced_dedup_id(
                self.source,
                &[
                    self.id,
                    self.reason.as_str(),
                    self.payload.as_deref().unwrap_or(""),
                ],
                nonce,
            ),
        }
    }
}

/// A rejection as JSON that SQS accepts.
fn json(rejection: &Rejection<'_>) -> String {
    sqs_safe(serde_json::to_string(rejection).expect("a rejection always serializes"))
}

/// The bytes a character takes inside a JSON string written by [`json`].
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{08}' | '\u{0C}' | '\n' | '\r' | '\t' => 2,
        '\0'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => 6,
        c => c.len_utf8(),
    }
}

/// The longest prefix of `text` whose characters measure at most `room`.
fn prefix(text: &str, room: usize, len: fn(char) -> usize) -> &str {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += len(c);
        if used > room {
            return &text[..at];
        }
    }
    text
}

/// `text` if it measures at most `room`; else its longest prefix that leaves room for a marker
/// saying it was cut (empty when not even the marker fits).
fn cut(text: &str, room: usize, len: fn(char) -> usize) -> Cow<'_, str> {
    if text.chars().map(len).sum::<usize>() <= room {
        return Cow::Borrowed(text);
    }
    let marker = format!("… [cut; {} bytes in all]", text.len());
    match room.checked_sub(marker.len()) {
        Some(room) => Cow::Owned(format!("{}{marker}", prefix(text, room, len))),
        None => Cow::Owned(String::new()),
    }
}

/// Where a rejection ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// On the dead-letter queue, or in the WARN log line when no queue is configured.
    DeadLettered,
    /// Too large for the dead-letter queue even when cut: logged at ERROR with its sequence
    /// number and reason, and not retried (no retry could succeed).
    Dropped,
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
    ) -> Vec<Result<Kept, SinkError>> {
        match self {
            DeadLetter::Log => rejections.iter().map(log).collect(),
            DeadLetter::Sqs(_) if rejections.is_empty() => Vec::new(),
            DeadLetter::Sqs(queue) => send(queue, rejections, deadline).await,
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

/// Sends each rejection cut to the queue's limit. One that SQS still refuses as too large (its
/// limit is smaller than the one read or assumed) is cut to the smallest limit a queue can have
/// and sent once more; what does not fit even then is dropped, logged at ERROR.
async fn send(
    queue: &SqsQueue,
    rejections: &[Rejection<'_>],
    deadline: &Deadline,
) -> Vec<Result<Kept, SinkError>> {
    let nonce = fastrand::u128(..);
    let mut results: Vec<Option<Result<Kept, SinkError>>> = vec![None; rejections.len()];
    let mut limit = queue.max_message();
    let mut pending: Vec<usize> = (0..rejections.len()).collect();
    loop {
        let mut sending = Vec::with_capacity(pending.len());
        let mut messages = Vec::with_capacity(pending.len());
        for index in pending {
            let rejection = &rejections[index];
            match rejection.body(limit) {
                Some(body) => {
                    sending.push(index);
                    messages.push(Message {
                        body,
                        group: fifo_id(rejection.partition_key.unwrap_or(rejection.id)),
                        dedup: rejection.dedup_id(nonce),
                        trace_header: rejection.trace_header.map(str::to_owned),
                    });
                }
                None => results[index] = Some(Ok(log_dropped(rejection, limit, None))),
            }
        }
        let sent = queue.send(&messages, deadline).await;
        let smaller = (limit > MIN_MAX_MESSAGE).then_some(MIN_MAX_MESSAGE);
        pending = Vec::new();
        for (index, result) in sending.into_iter().zip(sent) {
            results[index] = Some(match result {
                Ok(()) => Ok(Kept::DeadLettered),
                Err(error) if error.retry == Retry::TooLarge && smaller.is_some() => {
                    pending.push(index);
                    continue;
                }
                Err(error) if error.retry == Retry::TooLarge => {
                    Ok(log_dropped(&rejections[index], limit, Some(&error)))
                }
                Err(error) => Err(error),
            });
        }
        match smaller {
            Some(smaller) if !pending.is_empty() => limit = smaller,
            _ => break,
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every rejection is sent or dropped"))
        .collect()
}

/// Logs a rejection that no dead-letter message can hold, with what identifies it in the stream.
fn log_dropped(rejection: &Rejection<'_>, limit: usize, refused: Option<&SinkError>) -> Kept {
    let message = cut(&rejection.message, MAX_MESSAGE, char::len_utf8);
    tracing::error!(
        id = rejection.id,
        reason = rejection.reason.as_str(),
        source = rejection.source.as_str(),
        source_arn = rejection.source_arn,
        sequence_number = rejection.sequence_number,
        partition_key = rejection.partition_key,
        event_time = rejection.event_time,
        payload_bytes = rejection.payload.as_deref().map(str::len),
        limit,
        refused = refused.map(ToString::to_string),
        "rejected record too large for the dead-letter queue even when cut; dropped, not retried: {message}"
    );
    Kept::Dropped
}

/// The WARN line of a rejection, its payload cut to [`MAX_BODY`] as a queue message would be.
fn log(rejection: &Rejection<'_>) -> Result<Kept, SinkError> {
    let fitted = rejection.fit(MAX_BODY);
    let rejection = fitted.as_ref().unwrap_or(rejection);
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
        payload_truncated = rejection.payload_truncated,
        "{}",
        rejection.message
    );
    Ok(Kept::DeadLettered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(message: &str, payload: Option<&str>) -> Rejection<'static> {
        Rejection {
            id: "49590338271490256608559692538361571095921575989136588898",
            reason: Reason::FeatureString,
            message: message.to_owned(),
            source: Source::Kinesis,
            source_arn: Some("arn:aws:kinesis:us-east-1:123456789012:stream/s"),
            sequence_number: Some("49590338271490256608559692538361571095921575989136588898"),
            partition_key: Some("p-1"),
            event_time: Some(1795000000.25),
            payload: payload.map(str::to_owned),
            payload_encoding: payload.map(|_| PayloadEncoding::Utf8),
            payload_truncated: false,
            trace_header: None,
        }
    }

    fn parsed(body: &str) -> serde_json::Value {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn a_small_rejection_is_written_whole() {
        let r = rejection("feature \"age\" is a string", Some(r#"{"age":"x"}"#));
        let body = r.body(1024).unwrap();
        let doc = parsed(&body);
        assert_eq!(doc["payload"], r#"{"age":"x"}"#);
        assert_eq!(doc["message"], "feature \"age\" is a string");
        assert!(doc.get("payload_truncated").is_none());
    }

    #[test]
    fn a_long_message_is_cut_at_a_char_boundary_with_a_marker() {
        let long = "é".repeat(10_000);
        let body = rejection(&long, None).body(MAX_BODY).unwrap();
        let message = parsed(&body)["message"].as_str().unwrap().to_owned();
        assert!(message.len() <= MAX_MESSAGE, "{}", message.len());
        assert!(message.starts_with("éé"));
        assert!(
            message.ends_with("… [cut; 20000 bytes in all]"),
            "{message}"
        );
    }

    #[test]
    fn every_body_fits_its_limit_however_its_text_escapes() {
        // Quotes, backslashes and control characters grow when escaped; U+FFFE is escaped for
        // SQS; multi-byte characters must not be split.
        let nasty = "\"\\\u{1}\n\u{FFFE}€𝄞a".repeat(40_000);
        for limit in [1024, 1500, 4096, 65_536, 256 * 1024] {
            for (message, payload) in [
                (nasty.as_str(), Some(nasty.as_str())),
                ("short", Some(nasty.as_str())),
                (nasty.as_str(), None),
            ] {
                let r = rejection(message, payload);
                let body = r.body(limit).unwrap();
                assert!(body.len() <= limit, "{} > {limit}", body.len());
                assert!(!body.contains(['\u{FFFE}', '\u{FFFF}']));
                let doc = parsed(&body);
                assert_eq!(doc["id"], r.id);
                assert_eq!(doc["reason"], "feature_string");
                if payload.is_some() {
                    assert_eq!(doc["payload_truncated"], true);
                    let kept = doc["payload"].as_str().unwrap();
                    assert!(nasty.starts_with(kept));
                    // The cut leaves less room unused than one escaped character.
                    if !kept.is_empty() {
                        assert!(body.len() + 12 > limit || message != "short", "{limit}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_payload_is_cut_before_the_message() {
        let r = rejection("feature \"age\" is missing", Some(&"x".repeat(5000)));
        let body = r.body(2048).unwrap();
        let doc = parsed(&body);
        assert_eq!(doc["message"], "feature \"age\" is missing");
        assert_eq!(doc["payload_truncated"], true);
        assert_eq!(body.len(), 2048, "the payload fills the room left");
    }

    #[test]
    fn a_rejection_whose_ids_alone_are_too_long_does_not_fit() {
        let key = "k".repeat(2000);
        let mut r = rejection("m", Some("{}"));
        r.partition_key = Some(&key);
        assert!(r.body(1024).is_none());
        assert!(r.body(4096).is_some());
    }

    #[test]
    fn dedup_ids_follow_the_sequence_number_or_else_the_invocation() {
        let sequenced = rejection("m", Some("{}"));
        assert_eq!(sequenced.dedup_id(1), sequenced.dedup_id(2));
        assert_eq!(
            sequenced.dedup_id(1),
            "kinesis-49590338271490256608559692538361571095921575989136588898"
        );
        let mut unsequenced = rejection("m", Some("{}"));
        unsequenced.id = "#1";
        unsequenced.sequence_number = None;
        assert_eq!(unsequenced.dedup_id(1), unsequenced.dedup_id(1));
        assert_ne!(unsequenced.dedup_id(1), unsequenced.dedup_id(2));
        assert_ne!(unsequenced.dedup_id(1), "kinesis-#1");
        let mut other = unsequenced.clone();
        other.payload = Some("{\"a\":1}".into());
        assert_ne!(unsequenced.dedup_id(1), other.dedup_id(1));
    }
}
