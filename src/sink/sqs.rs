//! SQS delivery: SendMessageBatch of up to 10 entries, retried per entry; used for predictions
//! and for the dead-letter queue.
//!
//! A message larger than the queue's `MaximumMessageSize` would make SQS refuse the whole request
//! it is in, so it is refused alone, before sending, as [`Retry::TooLarge`](super::Retry). A
//! request SQS refuses as a whole for its content is sent again entry by entry, so one bad entry
//! never fails the others.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use futures_util::stream::{self, StreamExt};

use super::retry::{Attempt, Deadline, with_retries};
use super::{Delivery, Retry, SinkError};
use crate::source::Source;

/// SendMessageBatch's limit on entries per call.
pub const ENTRIES: usize = 10;
/// SendMessageBatch's limit on the summed size of a request's bodies.
pub const REQUEST_BYTES: usize = 1024 * 1024;
/// The `MaximumMessageSize` assumed when the queue's own cannot be read: the default of queues
/// created before August 2025 (newer ones default to 1 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 256 * 1024;
/// The smallest `MaximumMessageSize` a queue can have.
pub const MIN_MAX_MESSAGE: usize = 1024;
/// The largest `MaximumMessageSize` a queue can have.
pub const MAX_MAX_MESSAGE: usize = 1024 * 1024;

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub body: String,
    /// FIFO only: messages of one group keep their order.
    pub group: String,
    /// FIFO only: a redelivery of the same record within five minutes is dropped by SQS.
    pub dedup: String,
    /// The invocation's X-Ray trace header, sent as the `AWSTraceHeader` system attribute (which
    /// does not count toward the message's size).
    pub trace_header: Option<String>,
}

/// A queue and the client that writes to it.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    fifo: bool,
    delivery: Delivery,
    /// The largest body the queue accepts, in bytes.
    max_message: usize,
}

impl SqsQueue {
    /// A queue assumed to accept [`DEFAULT_MAX_MESSAGE`] bytes until
    /// [`read_max_message`](SqsQueue::read_max_message) learns its own limit.
    pub fn new(client: aws_sdk_sqs::Client, url: String, delivery: Delivery) -> SqsQueue {
        let fifo = url.ends_with(".fifo");
        SqsQueue {
            client,
            url,
            fifo,
            delivery,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    /// The same queue, taken to accept bodies of at most `bytes` (clamped to what SQS allows).
    pub fn with_max_message(self, bytes: usize) -> SqsQueue {
        SqsQueue {
            max_message: bytes.clamp(MIN_MAX_MESSAGE, MAX_MAX_MESSAGE),
            ..self
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The largest body the queue is taken to accept, in bytes.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Reads the queue's `MaximumMessageSize` (GetQueueAttributes) and keeps it. On an error the
    /// limit is left as it was, and the error says why.
    pub async fn read_max_message(&mut self) -> Result<usize, SinkError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let value = output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::MaximumMessageSize))
            .ok_or_else(|| {
                SinkError::permanent(
                    None,
                    format!("SQS queue {} did not return MaximumMessageSize", self.url),
                )
            })?;
        let bytes = value
            .parse::<usize>()
            .ok()
            .filter(|b| (MIN_MAX_MESSAGE..=MAX_MAX_MESSAGE).contains(b))
            .ok_or_else(|| {
                SinkError::permanent(
                    None,
                    format!(
                        "SQS queue {} gave MaximumMessageSize {value:?}, not a number of bytes from {MIN_MAX_MESSAGE} to {MAX_MAX_MESSAGE}",
                        self.url
                    ),
                )
            })?;
        self.max_message = bytes;
        Ok(bytes)
    }

    /// Sends every message; the result at `i` belongs to `messages[i]`. A message over the
    /// queue's limit fails alone, as [`Retry::TooLarge`], and is not sent.
    pub async fn send(
        &self,
        messages: &[Message],
        deadline: &Deadline,
    ) -> Vec<Result<(), SinkError>> {
        let mut results = vec![None; messages.len()];
        let mut fitting = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            if message.body.len() > self.max_message {
                results[index] = Some(Err(SinkError::too_large(format!(
                    "the SQS message is {} bytes, and queue {} accepts at most {}",
                    message.body.len(),
                    self.url,
                    self.max_message
                ))));
            } else {
                fitting.push(index);
            }
        }
        let sent: Vec<Vec<(usize, Result<(), SinkError>)>> =
            stream::iter(batches(messages, &fitting))
                .map(|batch| self.send_batch_or_each(batch, messages, deadline))
                .buffer_unordered(self.delivery.concurrency.max(1))
                .collect()
                .await;
        for (index, result) in sent.into_iter().flatten() {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every message is refused or in one batch"))
            .collect()
    }

    /// Sends one request; when SQS refuses it as a whole for its content, sends each entry alone
    /// so that only the bad one fails.
    async fn send_batch_or_each(
        &self,
        batch: Vec<usize>,
        messages: &[Message],
        deadline: &Deadline,
    ) -> Vec<(usize, Result<(), SinkError>)> {
        let results = self.send_batch(batch.clone(), messages, deadline).await;
        let all_refused = results
            .iter()
            .all(|(_, r)| matches!(r, Err(e) if !e.is_transient()));
        if batch.len() == 1 || !all_refused {
            return results;
        }
        let mut alone = Vec::with_capacity(batch.len());
        for index in batch {
            alone.extend(self.send_batch(vec![index], messages, deadline).await);
        }
        alone
    }

    async fn send_batch(
        &self,
        batch: Vec<usize>,
        messages: &[Message],
        deadline: &Deadline,
    ) -> Vec<(usize, Result<(), SinkError>)> {
        with_retries(
            &self.delivery.retry,
            deadline,
            batch,
            |pending| async move {
                let mut entries = Vec::with_capacity(pending.len());
                for (slot, &index) in pending.iter().enumerate() {
                    let message = &messages[index];
                    let mut entry = SendMessageBatchRequestEntry::builder()
                        .id(slot.to_string())
                        .message_body(&message.body);
                    if self.fifo {
                        entry = entry
                            .message_group_id(&message.group)
                            .message_deduplication_id(&message.dedup);
                    }
                    if let Some(trace) = message.trace_header.as_deref() {
                        match trace_attribute(trace) {
                            Ok(attribute) => {
                                entry = entry.message_system_attributes(
                                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                                    attribute,
                                );
                            }
                            Err(error) => return Attempt::all(&pending, error),
                        }
                    }
                    match entry.build() {
                        Ok(entry) => entries.push(entry),
                        Err(e) => {
                            let error = SinkError::permanent(
                                None,
                                format!("cannot build an SQS entry: {e}"),
                            );
                            return Attempt::all(&pending, error);
                        }
                    }
                }
                let response = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                let output = match response {
                    Ok(output) => output,
                    Err(error) => return Attempt::all(&pending, classify(&error)),
                };
                let mut attempt = Attempt::default();
                let mut failed = vec![None; pending.len()];
                for entry in output.failed() {
                    if let Some(slot) = entry
                        .id()
                        .parse::<usize>()
                        .ok()
                        .filter(|s| *s < pending.len())
                    {
                        failed[slot] = Some(entry);
                    }
                }
                for (slot, index) in pending.into_iter().enumerate() {
                    match failed[slot] {
                        None => attempt.done.push(index),
                        Some(entry) => {
                            let reason = format!(
                                "SQS {}: {}",
                                entry.code(),
                                entry.message().unwrap_or("entry failed")
                            );
                            if too_large(Some(entry.code()), entry.message().unwrap_or("")) {
                                let error = SinkError {
                                    retry: Retry::TooLarge,
                                    code: Some(entry.code().to_owned()),
                                    message: reason,
                                };
                                attempt.permanent.push((index, error));
                            } else if entry.sender_fault() {
                                let error = SinkError::permanent(Some(entry.code()), reason);
                                attempt.permanent.push((index, error));
                            } else {
                                let error = SinkError::transient(Some(entry.code()), reason);
                                attempt.retry.push((index, error));
                            }
                        }
                    }
                }
                attempt
            },
        )
        .await
    }
}

/// Groups the messages at `indices` into requests of at most [`ENTRIES`] entries and
/// [`REQUEST_BYTES`] of bodies (a single larger body goes alone).
pub fn batches(messages: &[Message], indices: &[usize]) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for &index in indices {
        let size = messages[index].body.len();
        if !current.is_empty() && (current.len() == ENTRIES || bytes + size > REQUEST_BYTES) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(index);
        bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// A FIFO group or deduplication id: the text itself when SQS accepts it (1–128 printable ASCII
/// characters), else a hash of it.
pub fn fifo_id(text: &str) -> String {
    let valid = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation());
    if valid {
        text.to_owned()
    } else {
        format!("sha256-{}", crate::digest::sha256_hex(text.as_bytes(), 32))
    }
}

/// The FIFO deduplication id of a record without a sequence number: a hash of its source, its
/// `parts` (such as its id and body) and the invocation's `nonce`, so it is unique per record and
/// invocation. (With a sequence number the id is derived from it alone, so that SQS drops the
/// copies Lambda's retries of a batch send.)
pub fn unsequenced_dedup_id(source: Source, parts: &[&str], nonce: u128) -> String {
    let mut bytes = Vec::with_capacity(64 + parts.iter().map(|p| p.len() + 8).sum::<usize>());
    bytes.extend_from_slice(source.as_str().as_bytes());
    for part in parts {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes.extend_from_slice(&nonce.to_le_bytes());
    format!(
        "{}-{}",
        source.as_str(),
        crate::digest::sha256_hex(&bytes, 32)
    )
}

/// A JSON text as SQS accepts it: the two characters JSON allows raw but SQS refuses (U+FFFE and
/// U+FFFF; every other character SQS refuses is a control character, which JSON escapes) are
/// written as `\u` escapes, which decode to the same text.
pub fn sqs_safe(json: String) -> String {
    if !json.contains(['\u{FFFE}', '\u{FFFF}']) {
        return json;
    }
    json.replace('\u{FFFE}', "\\ufffe")
        .replace('\u{FFFF}', "\\uffff")
}

/// Whether SQS refused a message for its size: `BatchRequestTooLong`, or an invalid parameter
/// whose reason is the message's length ("Message must be shorter than 262144 bytes").
fn too_large(code: Option<&str>, message: &str) -> bool {
    match code {
        Some("AWS.SimpleQueueService.BatchRequestTooLong" | "BatchRequestTooLong") => true,
        Some("InvalidParameterValue" | "MessageTooLong") => {
            message.contains("shorter than") || message.contains("too long")
        }
        _ => false,
    }
}

/// A whole request refused for its size is [`Retry::TooLarge`]; refused for its content
/// (`InvalidMessageContents`, an invalid parameter) it is permanent; throttling, 5xx and network
/// errors are transient. (Entries that fail inside a successful request are judged by their own
/// `SenderFault` flag.)
fn classify<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = crate::aws_error::describe("SQS", error);
    if too_large(error.code(), error.message().unwrap_or("")) {
        return SinkError {
            retry: Retry::TooLarge,
            code: error.code().map(str::to_owned),
            message,
        };
    }
    match error.code() {
        Some("InvalidMessageContents" | "InvalidParameterValue") => {
            SinkError::permanent(error.code(), message)
        }
        _ => SinkError::transient(error.code(), message),
    }
}

/// The `AWSTraceHeader` message system attribute, which links the message to the trace.
fn trace_attribute(trace: &str) -> Result<MessageSystemAttributeValue, SinkError> {
    MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(trace)
        .build()
        .map_err(|e| SinkError::permanent(None, format!("cannot build AWSTraceHeader: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: usize) -> Message {
        Message {
            trace_header: None,
            body: "x".repeat(bytes),
            group: "g".into(),
            dedup: "d".into(),
        }
    }

    #[test]
    fn batches_hold_ten_entries_and_stay_under_a_mebibyte() {
        let all = |m: &[Message]| (0..m.len()).collect::<Vec<_>>();
        let small: Vec<Message> = (0..25).map(|_| message(10)).collect();
        let sizes: Vec<usize> = batches(&small, &all(&small)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let large: Vec<Message> = (0..5).map(|_| message(300 * 1024)).collect();
        let sizes: Vec<usize> = batches(&large, &all(&large)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 2]);
        // A big body between small ones starts its own request when it would cross the limit.
        let mixed = [message(10), message(1024 * 1024), message(10), message(10)];
        assert_eq!(
            batches(&mixed, &all(&mixed)),
            [vec![0], vec![1], vec![2, 3]]
        );
        assert_eq!(batches(&mixed, &[0, 2, 3]), [vec![0, 2, 3]]);
    }

    #[test]
    fn the_characters_sqs_refuses_are_escaped_and_decode_to_the_same_text() {
        let text = "a\u{FFFE}b\u{FFFF}c\u{FFFD}";
        let json = sqs_safe(serde_json::to_string(text).unwrap());
        assert_eq!(json, "\"a\\ufffeb\\uffffc\u{FFFD}\"");
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
        assert_eq!(sqs_safe("\"plain\"".into()), "\"plain\"");
    }

    #[test]
    fn unsequenced_dedup_ids_differ_per_invocation_and_content_and_are_valid_fifo_ids() {
        let a = unsequenced_dedup_id(Source::Kinesis, &["#1", "payload"], 7);
        assert_eq!(
            a,
            unsequenced_dedup_id(Source::Kinesis, &["#1", "payload"], 7)
        );
        assert_ne!(
            a,
            unsequenced_dedup_id(Source::Kinesis, &["#1", "payload"], 8)
        );
        assert_ne!(
            a,
            unsequenced_dedup_id(Source::Kinesis, &["#1", "other"], 7)
        );
        assert_ne!(
            a,
            unsequenced_dedup_id(Source::Dynamodb, &["#1", "payload"], 7)
        );
        // Parts are length-prefixed, so moving a boundary changes the id.
        assert_ne!(
            a,
            unsequenced_dedup_id(Source::Kinesis, &["#1p", "ayload"], 7)
        );
        assert!(a.starts_with("kinesis-") && a.len() <= 128);
        assert_eq!(fifo_id(&a), a, "a valid FIFO id as it is");
    }

    #[test]
    fn size_refusals_are_told_from_other_refusals() {
        assert!(too_large(
            Some("InvalidParameterValue"),
            "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes."
        ));
        assert!(too_large(
            Some("AWS.SimpleQueueService.BatchRequestTooLong"),
            ""
        ));
        assert!(!too_large(
            Some("InvalidParameterValue"),
            "DelaySeconds is invalid"
        ));
        assert!(!too_large(Some("InvalidMessageContents"), "too long"));
        assert!(!too_large(None, "shorter than"));
    }

    #[test]
    fn fifo_ids_are_kept_when_valid_and_hashed_otherwise() {
        assert_eq!(fifo_id("patient-0001"), "patient-0001");
        assert_eq!(fifo_id(r#"{"id":{"S":"a"}}"#), r#"{"id":{"S":"a"}}"#);
        let long = fifo_id(&"k".repeat(200));
        assert!(long.starts_with("sha256-") && long.len() <= 128);
        assert!(fifo_id("has space").starts_with("sha256-"));
        assert!(fifo_id("").starts_with("sha256-"));
    }
}
