//! Lambda's event source mapping, run locally: poll a stream's shards, batch, invoke the
//! function, checkpoint, retry, bisect, and send what is given up on to the on-failure queue.
//!
//! This is a development tool for `stream-infer local-trigger`; in AWS the event source mapping
//! does this work. It follows the mapping's documented rules: batches of up to `BatchSize`
//! records within the batching window and 6 MB; with `ReportBatchItemFailures`, a retry resumes
//! from the lowest reported sequence number; a function error is retried, split in two when
//! `BisectBatchOnFunctionError` is on; after `MaximumRetryAttempts` retries, or past
//! `MaximumRecordAgeInSeconds`, the records are described in an on-failure record and the shard
//! moves on. Shards are read one after another in one task; `ParallelizationFactor`, resharding
//! and iterator expiry are not emulated.
//!
//! `queue.rs` is the SQS mapping, which works differently: receive, invoke, delete what succeeded.

pub mod batch;
pub mod function;
pub mod queue;
pub mod stream;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

pub use batch::{BatchRun, Condition, Discarded, Retries, Settled};
pub use function::{Function, Invoked, Unreachable};
pub use queue::{Queue, QueueMapping, QueueReport, QueueTrigger};
pub use stream::{StartingPosition, Stream, StreamError, StreamRecord};

/// Lambda's limit on an invocation's payload; a batch stops growing before it.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// How often an idle shard is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The event source mapping's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// `BatchSize`.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub window: Duration,
    /// `StartingPosition`.
    pub starting_position: StartingPosition,
    /// `MaximumRetryAttempts` and `BisectBatchOnFunctionError`.
    pub retries: Retries,
    /// `MaximumRecordAgeInSeconds`; `None` is -1, no limit.
    pub maximum_record_age: Option<Duration>,
}

/// `DestinationConfig.OnFailure`: where on-failure records go.
#[derive(Debug, Clone)]
pub enum OnFailure {
    /// No destination: the record is logged at WARN, and the records are gone from the shard's
    /// point of view, as in Lambda.
    Log,
    Sqs {
        client: aws_sdk_sqs::Client,
        queue_url: String,
    },
}

/// One invocation, as the trigger saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub shard: String,
    pub first_sequence_number: String,
    pub last_sequence_number: String,
    pub records: usize,
    /// 0 for the first attempt at these records.
    pub retry: u32,
    /// Records processed by this invocation (before the lowest reported failure).
    pub processed: usize,
    /// Sequence numbers reported in `batchItemFailures`.
    pub reported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub invocations: Vec<Invocation>,
    /// The on-failure records sent (or logged), in order.
    pub on_failure: Vec<serde_json::Value>,
    /// Seconds from each processed record's arrival in the stream to the end of the invocation
    /// that processed it: the put-to-prediction latency.
    pub latencies: Vec<f64>,
}

impl Report {
    pub fn processed(&self) -> usize {
        self.latencies.len()
    }

    /// The median put-to-prediction latency in seconds.
    pub fn median_latency(&self) -> Option<f64> {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied()
    }
}

/// Why the trigger stopped early. Records not yet checkpointed stay in the stream.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
    #[error("cannot send the on-failure record to {queue_url}: {message}")]
    OnFailure { queue_url: String, message: String },
}

/// When a run ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop {
    /// Stop once nothing new arrived for this long and nothing is buffered; run until killed
    /// when `None`.
    pub idle: Option<Duration>,
}

/// A stream, a function, and the mapping between them.
#[derive(Debug)]
pub struct Trigger {
    pub stream: Stream,
    pub function: Function,
    /// The name in the on-failure record's `functionArn`.
    pub function_name: String,
    pub mapping: Mapping,
    pub on_failure: OnFailure,
}

struct Shard {
    id: String,
    iterator: Option<String>,
    buffer: VecDeque<StreamRecord>,
    /// When the oldest buffered record was read; the batching window runs from here.
    since: Option<Instant>,
}

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Trigger {
    /// Polls every shard until `stop`, invoking the function batch by batch.
    pub async fn run(&self, stop: Stop) -> Result<Report, TriggerError> {
        let mut shards = Vec::new();
        for id in self.stream.shards().await? {
            let iterator = self
                .stream
                .iterator(&id, self.mapping.starting_position)
                .await?;
            shards.push(Shard {
                id,
                iterator,
                buffer: VecDeque::new(),
                since: None,
            });
        }
        let batch_size = self.mapping.batch_size.max(1);
        let mut report = Report::default();
        let mut last_activity = Instant::now();
        loop {
            let mut busy = false;
            for shard in &mut shards {
                if shard.buffer.len() < batch_size
                    && let Some(iterator) = &shard.iterator
                {
                    let limit = batch_size - shard.buffer.len();
                    let (records, next) = self.stream.read(&shard.id, iterator, limit).await?;
                    if !records.is_empty() {
                        busy = true;
                        shard.since.get_or_insert_with(Instant::now);
                    }
                    shard.buffer.extend(records);
                    shard.iterator = next;
                }
                let full = shard.buffer.len() >= batch_size;
                let waited = shard
                    .since
                    .is_some_and(|s| s.elapsed() >= self.mapping.window);
                let closed = shard.iterator.is_none();
                if !shard.buffer.is_empty() && (full || waited || closed) {
                    let batch = take_batch(&mut shard.buffer, batch_size);
                    shard.since = (!shard.buffer.is_empty()).then(Instant::now);
                    self.deliver(&shard.id, &batch, &mut report).await?;
                    busy = true;
                }
            }
            let drained = shards
                .iter()
                .all(|s| s.iterator.is_none() && s.buffer.is_empty());
            if busy {
                last_activity = Instant::now();
            } else if drained
                || stop.idle.is_some_and(|idle| {
                    last_activity.elapsed() >= idle && shards.iter().all(|s| s.buffer.is_empty())
                })
            {
                return Ok(report);
            } else {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }

    /// Invokes the function on `batch` until every record is processed or given up on.
    async fn deliver(
        &self,
        shard: &str,
        batch: &[StreamRecord],
        report: &mut Report,
    ) -> Result<(), TriggerError> {
        let mut run = BatchRun::new(batch.len(), self.mapping.retries);
        let mut last_error = None;
        while let Some((range, retry)) = run.next() {
            let oldest = batch[range.start].arrival;
            if let Some(age) = self.mapping.maximum_record_age
                && now_seconds() - oldest > age.as_secs_f64()
            {
                let discarded = run.expire().expect("a part is pending");
                self.give_up(shard, batch, &discarded, last_error.as_deref(), report)
                    .await?;
                continue;
            }
            if retry > 0 {
                // Lambda backs off between retries; a short exponential pause, capped at 1 s.
                let millis = 50u64.saturating_mul(1 << retry.min(5)).min(1_000);
                tokio::time::sleep(Duration::from_millis(millis)).await;
            }
            let part = &batch[range.clone()];
            let invoked = self.function.invoke(stream::event(part)).await?;
            let finished = now_seconds();
            let (settled, reported, function_error) = match invoked {
                Invoked::Response(ids) if ids.is_empty() => (Settled::Processed, ids, None),
                Invoked::Response(ids) => {
                    let lowest = ids
                        .iter()
                        .map(|id| part.iter().position(|r| &r.sequence_number == id))
                        .collect::<Option<Vec<usize>>>()
                        .and_then(|positions| positions.into_iter().min());
                    match lowest {
                        Some(position) => (Settled::FailedFrom(range.start + position), ids, None),
                        None => {
                            let error = "batchItemFailures names a record not in the batch";
                            (Settled::Failed, ids, Some(error.to_owned()))
                        }
                    }
                }
                Invoked::Error(error) => (Settled::Failed, Vec::new(), Some(error)),
            };
            let processed = match settled {
                Settled::Processed => range.len(),
                Settled::FailedFrom(first) => first - range.start,
                Settled::Failed => 0,
            };
            report.latencies.extend(
                part[..processed]
                    .iter()
                    .map(|r| (finished - r.arrival).max(0.0)),
            );
            let invocation = Invocation {
                shard: shard.to_owned(),
                first_sequence_number: part[0].sequence_number.clone(),
                last_sequence_number: part[part.len() - 1].sequence_number.clone(),
                records: part.len(),
                retry,
                processed,
                reported,
                function_error: function_error.clone(),
            };
            tracing::info!(
                shard,
                first = invocation.first_sequence_number,
                records = invocation.records,
                retry,
                processed,
                reported = invocation.reported.len(),
                function_error = invocation.function_error,
                "invoked"
            );
            report.invocations.push(invocation);
            last_error = function_error;
            if let Some(discarded) = run.settle(settled) {
                self.give_up(shard, batch, &discarded, last_error.as_deref(), report)
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends the on-failure record for `discarded`, as Lambda does after retries or age run out.
    async fn give_up(
        &self,
        shard: &str,
        batch: &[StreamRecord],
        discarded: &Discarded,
        function_error: Option<&str>,
        report: &mut Report,
    ) -> Result<(), TriggerError> {
        let record = self.failure_record(
            shard,
            &batch[discarded.range.clone()],
            discarded,
            function_error,
        );
        match &self.on_failure {
            OnFailure::Log => tracing::warn!(
                on_failure = %record,
                "records given up on and no on-failure queue is set"
            ),
            OnFailure::Sqs { client, queue_url } => {
                client
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(record.to_string())
                    .send()
                    .await
                    .map_err(|e| TriggerError::OnFailure {
                        queue_url: queue_url.clone(),
                        message: stream_infer::describe_aws_error("SQS", &e),
                    })?;
            }
        }
        report.on_failure.push(record);
        Ok(())
    }

    /// The on-failure record Lambda sends for a stream batch: where the records are, not the
    /// records themselves.
    fn failure_record(
        &self,
        shard: &str,
        records: &[StreamRecord],
        discarded: &Discarded,
        function_error: Option<&str>,
    ) -> serde_json::Value {
        let arn = self.stream.arn();
        let mut parts = arn.split(':');
        let region = parts.nth(3).unwrap_or("us-east-1");
        let account = parts.next().unwrap_or("000000000000");
        let time = |seconds: f64| {
            chrono::DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        let info_key = match &self.stream {
            Stream::Kinesis { .. } => "KinesisBatchInfo",
            Stream::Dynamodb { .. } => "DDBStreamBatchInfo",
        };
        let first = &records[0];
        let last = &records[records.len() - 1];
        json!({
            "requestContext": {
                "requestId": format!("local-{:016x}", fastrand::u64(..)),
                "functionArn": format!("arn:aws:lambda:{region}:{account}:function:{}", self.function_name),
                "condition": discarded.condition.as_str(),
                "approximateInvokeCount": discarded.invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": function_error.map(|_| "Unhandled"),
            },
            "version": "1.0",
            "timestamp": time(now_seconds()),
            info_key: {
                "shardId": shard,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": time(first.arrival),
                "approximateArrivalOfLastRecord": time(last.arrival),
                "batchSize": records.len(),
                "streamArn": arn,
            },
        })
    }
}

/// The next batch off a shard's buffer: up to `batch_size` records and under 6 MB of event.
fn take_batch(buffer: &mut VecDeque<StreamRecord>, batch_size: usize) -> Vec<StreamRecord> {
    let mut bytes = "{\"Records\":[]}".len();
    let mut count = 0;
    for record in buffer.iter().take(batch_size) {
        bytes += record.json.len() + 1;
        if count > 0 && bytes > MAX_PAYLOAD_BYTES {
            break;
        }
        count += 1;
    }
    buffer.drain(..count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: usize, bytes: usize) -> StreamRecord {
        StreamRecord {
            sequence_number: seq.to_string(),
            arrival: 0.0,
            json: "x".repeat(bytes),
        }
    }

    #[test]
    fn a_batch_stops_at_the_batch_size_and_before_six_megabytes() {
        let mut buffer: VecDeque<StreamRecord> = (0..10).map(|i| record(i, 10)).collect();
        assert_eq!(take_batch(&mut buffer, 4).len(), 4);
        assert_eq!(buffer.len(), 6);

        let mut buffer: VecDeque<StreamRecord> = (0..10).map(|i| record(i, 1_000_000)).collect();
        let batch = take_batch(&mut buffer, 100);
        assert_eq!(batch.len(), 6, "seven 1 MB records exceed 6 MiB");
        assert!(stream::event(&batch).len() <= MAX_PAYLOAD_BYTES);
        assert_eq!(buffer.front().unwrap().sequence_number, "6");
    }

    #[test]
    fn the_median_latency_is_the_middle_value() {
        let report = Report {
            latencies: vec![3.0, 1.0, 2.0],
            ..Report::default()
        };
        assert_eq!(report.median_latency(), Some(2.0));
        assert_eq!(Report::default().median_latency(), None);
    }
}
