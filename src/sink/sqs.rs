//! SQS delivery: SendMessageBatch of up to 10 entries, retried per entry; used for predictions
//! and for the dead-letter queue.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures_util::stream::{self, StreamExt};

use super::retry::{Attempt, Deadline, with_retries};
use super::{Delivery, SinkError};

/// SendMessageBatch's limit on entries per call.
pub const ENTRIES: usize = 10;
/// SendMessageBatch's limit on the summed size of a request's bodies.
pub const REQUEST_BYTES: usize = 1024 * 1024;

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub body: String,
    /// FIFO only: messages of one group keep their order.
    pub group: String,
    /// FIFO only: a redelivery of the same record within five minutes is dropped by SQS.
    pub dedup: String,
}

/// A queue and the client that writes to it.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    fifo: bool,
    delivery: Delivery,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String, delivery: Delivery) -> SqsQueue {
        let fifo = url.ends_with(".fifo");
        SqsQueue {
            client,
            url,
            fifo,
            delivery,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends every message; the result at `i` belongs to `messages[i]`.
    pub async fn send(
        &self,
        messages: &[Message],
        deadline: &Deadline,
    ) -> Vec<Result<(), SinkError>> {
        let batches = batches(messages);
        let sent: Vec<Vec<(usize, Result<(), SinkError>)>> = stream::iter(batches)
            .map(|batch| self.send_batch(batch, messages, deadline))
            .buffer_unordered(self.delivery.concurrency.max(1))
            .collect()
            .await;
        let mut results = vec![None; messages.len()];
        for (index, result) in sent.into_iter().flatten() {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every message is in one batch"))
            .collect()
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
                            if entry.sender_fault() {
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

/// Groups message indices into requests of at most [`ENTRIES`] entries and [`REQUEST_BYTES`].
pub fn batches(messages: &[Message]) -> Vec<Vec<usize>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        let size = message.body.len();
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

/// A whole request refused for its content (`InvalidMessageContents`, a batch too long) is
/// permanent; throttling, 5xx and network errors are transient. (Entries that fail inside a
/// successful request are judged by their own `SenderFault` flag.)
fn classify<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = crate::aws_error::describe("SQS", error);
    match error.code() {
        Some("InvalidMessageContents" | "AWS.SimpleQueueService.BatchRequestTooLong") => {
            SinkError::permanent(error.code(), message)
        }
        _ => SinkError::transient(error.code(), message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: usize) -> Message {
        Message {
            body: "x".repeat(bytes),
            group: "g".into(),
            dedup: "d".into(),
        }
    }

    #[test]
    fn batches_hold_ten_entries_and_stay_under_a_mebibyte() {
        let small: Vec<Message> = (0..25).map(|_| message(10)).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let large: Vec<Message> = (0..5).map(|_| message(300 * 1024)).collect();
        let sizes: Vec<usize> = batches(&large).iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 2]);
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
