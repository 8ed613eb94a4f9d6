//! Lambda's SQS event source mapping, run locally: receive messages (long polling, a visibility
//! timeout, every system and message attribute), build the SQS event as Lambda builds it, invoke
//! the function, and delete the messages that succeeded.
//!
//! As in Lambda with `ReportBatchItemFailures`, the messages named in `batchItemFailures` are not
//! deleted: they reappear after the visibility timeout and are received again (the queue's own
//! redrive policy moves them after `maxReceiveCount`). A function error, or a response naming a
//! message that is not in the batch, fails the whole batch, and nothing is deleted.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Function, Invoked, Stop, Unreachable};

/// The SQS event source mapping's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueMapping {
    /// `BatchSize`: at most 10 per ReceiveMessage; a larger batch is gathered over several within
    /// the batching window.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub window: Duration,
    /// How long a received message stays hidden: failures reappear after it.
    pub visibility_timeout: Duration,
    /// ReceiveMessage's long-poll wait (0 to 20 s).
    pub wait_time: Duration,
}

/// A queue, as the mapping sees it: its URL, and the ARN and region the event names.
#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    region: String,
}

/// A queue operation failed; what was received and not deleted reappears after the visibility
/// timeout.
#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} on {queue_url}: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub queue_url: String,
    pub message: String,
}

impl Queue {
    /// The queue at `url`, with its ARN read from the queue's attributes.
    pub async fn new(aws: &aws_config::SdkConfig, url: &str) -> Result<Queue, QueueError> {
        let client = aws_sdk_sqs::Client::new(aws);
        let error = |message: String| QueueError {
            operation: "GetQueueAttributes",
            queue_url: url.to_owned(),
            message,
        };
        let attributes = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| error(stream_infer::describe_aws_error("SQS", &e)))?;
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| error("the queue has no QueueArn attribute".to_owned()))?;
        let region = arn.split(':').nth(3).unwrap_or("us-east-1").to_owned();
        Ok(Queue {
            client,
            url: url.to_owned(),
            arn,
            region,
        })
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    fn error(&self, operation: &'static str, message: String) -> QueueError {
        QueueError {
            operation,
            queue_url: self.url.clone(),
            message,
        }
    }

    /// One ReceiveMessage of up to `limit` (at most 10) messages.
    async fn receive(
        &self,
        limit: usize,
        mapping: &QueueMapping,
    ) -> Result<Vec<Message>, QueueError> {
        let seconds = |d: Duration| i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(limit.clamp(1, 10) as i32)
            .visibility_timeout(seconds(mapping.visibility_timeout))
            .wait_time_seconds(seconds(mapping.wait_time).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "ReceiveMessage",
                    stream_infer::describe_aws_error("SQS", &e),
                )
            })?;
        Ok(output.messages().to_vec())
    }

    /// Deletes `messages` in batches of ten; a message the queue refuses to delete is an error.
    async fn delete(&self, messages: &[&Message]) -> Result<(), QueueError> {
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    self.error(
                        "DeleteMessageBatch",
                        stream_infer::describe_aws_error("SQS", &e),
                    )
                })?;
            if let Some(failed) = output.failed().first() {
                let message = format!(
                    "{} of {} messages not deleted: {} {}",
                    output.failed().len(),
                    chunk.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                );
                return Err(self.error("DeleteMessageBatch", message));
            }
        }
        Ok(())
    }

    /// The Lambda SQS event for `messages`, as the event source mapping builds it.
    pub fn event(&self, messages: &[Message]) -> String {
        let records: Vec<Value> = messages.iter().map(|m| self.record(m)).collect();
        json!({ "Records": records }).to_string()
    }

    fn record(&self, message: &Message) -> Value {
        let b64 = |blob: &aws_sdk_sqs::primitives::Blob| {
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
        };
        let attributes: Map<String, Value> = message
            .attributes()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.as_str().to_owned(), Value::from(value.as_str())))
            .collect();
        let message_attributes: Map<String, Value> = message
            .message_attributes()
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let mut entry = Map::new();
                if let Some(text) = value.string_value() {
                    entry.insert("stringValue".into(), text.into());
                }
                if let Some(blob) = value.binary_value() {
                    entry.insert("binaryValue".into(), b64(blob).into());
                }
                entry.insert("stringListValues".into(), json!(value.string_list_values()));
                let binaries: Vec<String> = value.binary_list_values().iter().map(b64).collect();
                entry.insert("binaryListValues".into(), json!(binaries));
                entry.insert("dataType".into(), value.data_type().into());
                (name.clone(), Value::Object(entry))
            })
            .collect();
        let mut record = json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.region,
        });
        if let Some(md5) = message.md5_of_message_attributes() {
            record["md5OfMessageAttributes"] = md5.into();
        }
        record
    }
}

/// A queue, a function, and the mapping between them.
#[derive(Debug)]
pub struct QueueTrigger {
    pub queue: Queue,
    pub function: Function,
    pub mapping: QueueMapping,
}

/// One invocation, as the mapping saw it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueInvocation {
    /// The batch's message ids, in order.
    pub messages: Vec<String>,
    /// How many of them had been received before (`ApproximateReceiveCount` > 1).
    pub redelivered: usize,
    /// The ids reported in `batchItemFailures`.
    pub reported: Vec<String>,
    /// How many were deleted.
    pub deleted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct QueueReport {
    pub invocations: Vec<QueueInvocation>,
}

impl QueueReport {
    /// Messages deleted: processed for good (predicted, or rejected and dead-lettered).
    pub fn deleted(&self) -> usize {
        self.invocations.iter().map(|i| i.deleted).sum()
    }
}

/// Why the queue trigger stopped.
#[derive(Debug, thiserror::Error)]
pub enum QueueTriggerError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

impl QueueTrigger {
    /// Receives and invokes until `stop`: with `Stop::idle`, once nothing was received for that
    /// long (messages waiting out a visibility timeout count as not yet received).
    pub async fn run(&self, stop: Stop) -> Result<QueueReport, QueueTriggerError> {
        let mut report = QueueReport::default();
        let mut last_activity = Instant::now();
        loop {
            let batch = self.gather().await?;
            if batch.is_empty() {
                if stop
                    .idle
                    .is_some_and(|idle| last_activity.elapsed() >= idle)
                {
                    return Ok(report);
                }
                if self.mapping.wait_time.is_zero() {
                    tokio::time::sleep(super::POLL_INTERVAL).await;
                }
                continue;
            }
            let invocation = self.deliver(&batch).await?;
            tracing::info!(
                queue = self.queue.arn,
                messages = invocation.messages.len(),
                redelivered = invocation.redelivered,
                reported = invocation.reported.len(),
                deleted = invocation.deleted,
                function_error = invocation.function_error,
                "invoked"
            );
            report.invocations.push(invocation);
            last_activity = Instant::now();
        }
    }

    /// One batch: up to `BatchSize` messages, received until the batch is full, the batching
    /// window has passed, or the queue has nothing more to give.
    async fn gather(&self) -> Result<Vec<Message>, QueueError> {
        let batch_size = self.mapping.batch_size.max(1);
        let started = Instant::now();
        let mut batch: Vec<Message> = Vec::new();
        loop {
            let received = self
                .queue
                .receive(batch_size - batch.len(), &self.mapping)
                .await?;
            let empty = received.is_empty();
            batch.extend(received);
            if batch.len() >= batch_size
                || started.elapsed() >= self.mapping.window
                || (empty && self.mapping.wait_time.is_zero() && !batch.is_empty())
            {
                return Ok(batch);
            }
            if empty && batch.is_empty() {
                return Ok(batch);
            }
        }
    }

    /// Invokes the function on `batch` and deletes what succeeded.
    async fn deliver(&self, batch: &[Message]) -> Result<QueueInvocation, QueueTriggerError> {
        let ids: Vec<String> = batch
            .iter()
            .map(|m| m.message_id().unwrap_or_default().to_owned())
            .collect();
        let redelivered = batch
            .iter()
            .filter(|m| {
                m.attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n > 1)
            })
            .count();
        let (reported, function_error) = match self.function.invoke(self.queue.event(batch)).await?
        {
            Invoked::Response(reported) => {
                match reported.iter().find(|id| !ids.contains(id)) {
                    // Lambda treats a response naming a message outside the batch as a failure
                    // of the whole batch.
                    Some(stranger) => {
                        let error =
                            format!("batchItemFailures names {stranger:?}, not in the batch");
                        (reported, Some(error))
                    }
                    None => (reported, None),
                }
            }
            Invoked::Error(error) => (Vec::new(), Some(error)),
        };
        let done: Vec<&Message> = if function_error.is_some() {
            Vec::new()
        } else {
            batch
                .iter()
                .zip(&ids)
                .filter(|(_, id)| !reported.contains(id))
                .map(|(m, _)| m)
                .collect()
        };
        self.queue.delete(&done).await?;
        Ok(QueueInvocation {
            messages: ids,
            redelivered,
            reported,
            deleted: done.len(),
            function_error,
        })
    }
}
