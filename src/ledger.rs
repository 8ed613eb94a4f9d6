//! The ledger: exactly one outcome per record, and the summary and response built from it.
//!
//! The handler sets each record's outcome as it learns it (skipped, written, dead-lettered,
//! failed). Setting a second outcome for a record is a bug in the handler: it panics in debug
//! builds and tests, and in release keeps the first outcome and logs the bug. A record left
//! without an outcome is reported as failed, so Lambda retries it rather than losing it.
//!
//! For a FIFO SQS queue the ledger also keeps each message group's order, as Powertools'
//! `SqsFifoPartialProcessor` does with `skip_group_on_error`: the handler works through the batch
//! in [`rounds`](Ledger::rounds), and once a message of a group has failed, the group's later
//! messages are not written but held back as failed (see [`Ledger::proceed`]).

use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse,
};
use serde::Serialize;

use crate::reason::Reason;
use crate::source::{Meta, Source, sqs};

/// Where a record ended. Exactly one per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Predicted and written to the sink.
    Written,
    /// Rejected (or refused by the sink) and dead-lettered with its reason.
    DeadLettered,
    /// Not predicted on purpose (a DynamoDB REMOVE).
    Skipped,
    /// Not written and not dead-lettered: reported in `batchItemFailures` for Lambda to retry.
    Failed,
    /// Rejected, but too large for the dead-letter queue even when cut: logged at ERROR with its
    /// sequence number and reason, and not reported (no retry could ever succeed).
    Dropped,
}

/// One record's line in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The record's sequence number (an SQS message's `messageId`), or `#index` when its envelope
    /// had none.
    pub id: String,
    /// Where the record ended.
    pub outcome: Outcome,
    /// The reason code of a rejected record (dead-lettered, or failed to dead-letter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// Counts per outcome, as printed by `stream-infer invoke`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the event.
    #[serde(rename = "in")]
    pub records: usize,
    /// Written to the sink.
    pub predicted: usize,
    /// Dead-lettered with a reason.
    pub rejected: usize,
    /// Skipped on purpose.
    pub skipped: usize,
    /// Reported in `batchItemFailures`.
    pub failed: usize,
    /// Rejected and too large to dead-letter: logged only.
    pub dropped: usize,
}

/// The response for any source; all serialize as `{"batchItemFailures":[{"itemIdentifier":…}]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StreamResponse {
    /// The response to a Kinesis event.
    Kinesis(KinesisEventResponse),
    /// The response to a DynamoDB Streams event.
    Dynamodb(DynamoDbEventResponse),
    /// The response to an SQS event, naming message ids. The SQS response has the Kinesis one's
    /// exact shape; `aws_lambda_events`' own `SqsBatchResponse` sits behind its `sqs` feature,
    /// which needs a crate (`serde_with`) this build does not carry.
    Sqs(KinesisEventResponse),
}

impl StreamResponse {
    fn new(source: Source, failed: Vec<String>) -> StreamResponse {
        match source {
            Source::Kinesis | Source::Sqs => {
                let mut response = KinesisEventResponse::default();
                response.set_failures(failed);
                match source {
                    Source::Sqs => StreamResponse::Sqs(response),
                    _ => StreamResponse::Kinesis(response),
                }
            }
            Source::Dynamodb => {
                // Unlike the Kinesis response, this one has no `set_failures` helper.
                let mut response = DynamoDbEventResponse::default();
                response.batch_item_failures = failed
                    .into_iter()
                    .map(|id| {
                        let mut failure = DynamoDbBatchItemFailure::default();
                        failure.item_identifier = Some(id);
                        failure
                    })
                    .collect();
                StreamResponse::Dynamodb(response)
            }
        }
    }

    /// The reported item identifiers, in order.
    pub fn failures(&self) -> Vec<&str> {
        match self {
            StreamResponse::Kinesis(r) | StreamResponse::Sqs(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect(),
            StreamResponse::Dynamodb(r) => r
                .batch_item_failures
                .iter()
                .filter_map(|f| f.item_identifier.as_deref())
                .collect(),
        }
    }
}

/// The result of one invocation: the response and the ledger behind it.
#[derive(Debug)]
pub struct Handled {
    /// The event's source.
    pub source: Source,
    /// One entry per input record, in input order.
    pub entries: Vec<Entry>,
    /// What Lambda is answered.
    pub response: StreamResponse,
}

impl Handled {
    /// Counts per outcome.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            records: self.entries.len(),
            ..Summary::default()
        };
        for entry in &self.entries {
            match entry.outcome {
                Outcome::Written => summary.predicted += 1,
                Outcome::DeadLettered => summary.rejected += 1,
                Outcome::Skipped => summary.skipped += 1,
                Outcome::Failed => summary.failed += 1,
                Outcome::Dropped => summary.dropped += 1,
            }
        }
        summary
    }
}

/// Records that failed but carry no sequence number, so Lambda cannot be told which to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreportable {
    /// How many such records.
    pub count: usize,
}

/// The outcomes of one batch as they are decided.
#[derive(Debug)]
pub(crate) struct Ledger {
    source: Source,
    ids: Vec<String>,
    /// Each record's sequence number, as the length of the prefix of its id that is the
    /// sequence number (the whole id, or the part before `:sub`), so it is not copied twice.
    sequence_numbers: Vec<Option<usize>>,
    outcomes: Vec<Option<(Outcome, Option<Reason>)>>,
    /// Each record's FIFO message group; all `None` unless the batch is from a FIFO queue.
    groups: Vec<Option<String>>,
}

impl Ledger {
    /// An empty ledger for `records`, in order.
    pub(crate) fn new<'a>(source: Source, records: impl IntoIterator<Item = &'a Meta<'a>>) -> Self {
        let records = records.into_iter();
        let mut ids = Vec::with_capacity(records.size_hint().0);
        let mut sequence_numbers = Vec::with_capacity(records.size_hint().0);
        let mut groups = Vec::with_capacity(records.size_hint().0);
        for (index, meta) in records.enumerate() {
            let id = meta.id(index).into_owned();
            let sequence_number = meta.sequence_number.as_deref();
            debug_assert!(sequence_number.is_none_or(|seq| id.starts_with(seq)));
            sequence_numbers.push(sequence_number.map(str::len));
            ids.push(id);
            groups.push(sqs::fifo_group(source, meta).map(str::to_owned));
        }
        let outcomes = vec![None; ids.len()];
        Ledger {
            source,
            ids,
            sequence_numbers,
            outcomes,
            groups,
        }
    }

    /// The order in which records may be written: one round of every record, except for a FIFO
    /// queue, where round `k` holds the `k`-th message of each message group (and round 0 the
    /// messages without a group). A round is settled before the next one starts, so a message is
    /// written only once every earlier message of its group has ended.
    pub(crate) fn rounds(&self) -> Vec<Vec<usize>> {
        if self.groups.iter().all(Option::is_none) {
            return vec![(0..self.ids.len()).collect()];
        }
        let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut rounds: Vec<Vec<usize>> = vec![Vec::new()];
        for (index, group) in self.groups.iter().enumerate() {
            let round = match group {
                Some(group) => {
                    let count = seen.entry(group.as_str()).or_default();
                    *count += 1;
                    *count - 1
                }
                None => 0,
            };
            if rounds.len() <= round {
                rounds.resize_with(round + 1, Vec::new);
            }
            rounds[round].push(index);
        }
        rounds
    }

    /// The records of `round` that may go on. A record whose FIFO group already has a failed
    /// message is held back: it ends here as failed, so it is reported and redelivered after the
    /// message that failed, and nothing after a failure is written out of order.
    pub(crate) fn proceed(&mut self, round: Vec<usize>) -> Vec<usize> {
        let mut held = 0;
        let mut go = Vec::with_capacity(round.len());
        for index in round {
            let blocked = self.groups[index].as_deref().is_some_and(|group| {
                (0..index).any(|earlier| {
                    self.groups[earlier].as_deref() == Some(group)
                        && matches!(self.outcomes[earlier], Some((Outcome::Failed, _)))
                })
            });
            if blocked {
                self.set(index, Outcome::Failed, None);
                held += 1;
            } else {
                go.push(index);
            }
        }
        if held > 0 {
            tracing::warn!(
                records = held,
                "FIFO messages held back after an earlier message of their group failed; reported for redelivery in order"
            );
        }
        go
    }

    /// Record `index`'s id in outputs.
    pub(crate) fn id(&self, index: usize) -> &str {
        &self.ids[index]
    }

    /// Sets record `index`'s outcome. A second set is a bug in the caller.
    pub(crate) fn set(&mut self, index: usize, outcome: Outcome, reason: Option<Reason>) {
        let slot = &mut self.outcomes[index];
        if let Some((first, _)) = slot {
            debug_assert!(
                false,
                "record {index} already ended as {first:?}; second outcome {outcome:?}"
            );
            tracing::error!(
                record = self.ids[index],
                first = ?first,
                second = ?outcome,
                "a record was given two outcomes; keeping the first"
            );
            return;
        }
        *slot = Some((outcome, reason));
    }

    /// The summary and the response: every failed record is reported by its sequence number (a
    /// KPL user record by its aggregate's, once per aggregate).
    pub(crate) fn finish(self) -> Result<Handled, Unreportable> {
        let mut entries = Vec::with_capacity(self.ids.len());
        let mut failed = Vec::new();
        let mut unreportable = 0;
        for ((id, sequence_number), outcome) in self
            .ids
            .into_iter()
            .zip(self.sequence_numbers)
            .zip(self.outcomes)
        {
            debug_assert!(outcome.is_some(), "record {id} was given no outcome");
            let (outcome, reason) = outcome.unwrap_or((Outcome::Failed, None));
            if outcome == Outcome::Failed {
                match sequence_number.map(|len| &id[..len]) {
                    // The user records of a KPL aggregate share their aggregate's sequence number
                    // and sit next to each other: Lambda is told about the aggregate once.
                    Some(seq) if failed.last().is_some_and(|last: &String| last == seq) => {}
                    Some(seq) => failed.push(seq.to_owned()),
                    None => unreportable += 1,
                }
            }
            entries.push(Entry {
                id,
                outcome,
                reason,
            });
        }
        if unreportable > 0 {
            return Err(Unreportable {
                count: unreportable,
            });
        }
        Ok(Handled {
            source: self.source,
            entries,
            response: StreamResponse::new(self.source, failed),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn meta(seq: Option<&'static str>) -> Meta<'static> {
        Meta {
            sequence_number: seq.map(Cow::Borrowed),
            ..Meta::default()
        }
    }

    #[test]
    fn failed_records_are_reported_by_sequence_number_in_order() {
        let records = [meta(Some("1")), meta(Some("2")), meta(Some("3"))];
        let mut ledger = Ledger::new(Source::Kinesis, &records);
        ledger.set(2, Outcome::Failed, None);
        ledger.set(0, Outcome::Written, None);
        ledger.set(1, Outcome::DeadLettered, Some(Reason::NotJson));
        let handled = ledger.finish().unwrap();
        assert_eq!(handled.response.failures(), vec!["3"]);
        assert_eq!(handled.entries[1].reason, Some(Reason::NotJson));
        let summary = handled.summary();
        assert_eq!(
            (
                summary.records,
                summary.predicted,
                summary.rejected,
                summary.failed
            ),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn failed_user_records_report_their_aggregate_once() {
        let user = |seq: &'static str, sub: u64| Meta {
            sequence_number: Some(Cow::Borrowed(seq)),
            sub_sequence_number: Some(sub),
            ..Meta::default()
        };
        let records = [
            user("7", 0),
            user("7", 1),
            user("7", 2),
            user("8", 0),
            meta(Some("9")),
        ];
        let mut ledger = Ledger::new(Source::Kinesis, &records);
        ledger.set(0, Outcome::Failed, None);
        ledger.set(1, Outcome::Written, None);
        ledger.set(2, Outcome::Failed, None);
        ledger.set(3, Outcome::Failed, None);
        ledger.set(4, Outcome::Failed, None);
        let handled = ledger.finish().unwrap();
        assert_eq!(handled.response.failures(), vec!["7", "8", "9"]);
        let ids: Vec<&str> = handled.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["7:0", "7:1", "7:2", "8:0", "9"]);
        assert_eq!(handled.summary().failed, 4);
    }

    fn message(id: &'static str, group: Option<&'static str>, arn: &'static str) -> Meta<'static> {
        Meta {
            sequence_number: Some(Cow::Borrowed(id)),
            partition_key: group.map(Cow::Borrowed),
            source_arn: Some(Cow::Borrowed(arn)),
            ..Meta::default()
        }
    }

    const FIFO: &str = "arn:aws:sqs:us-east-1:123456789012:q.fifo";
    const STANDARD: &str = "arn:aws:sqs:us-east-1:123456789012:q";

    #[test]
    fn every_failed_sqs_message_is_reported_by_its_message_id() {
        let records = [
            message("m-1", None, STANDARD),
            message("m-2", None, STANDARD),
            message("m-3", None, STANDARD),
        ];
        let mut ledger = Ledger::new(Source::Sqs, &records);
        assert_eq!(ledger.rounds(), vec![vec![0, 1, 2]]);
        ledger.set(0, Outcome::Failed, None);
        ledger.set(1, Outcome::DeadLettered, Some(Reason::NotJson));
        ledger.set(2, Outcome::Failed, None);
        let handled = ledger.finish().unwrap();
        assert_eq!(handled.response.failures(), vec!["m-1", "m-3"]);
        assert_eq!(
            serde_json::to_value(&handled.response).unwrap(),
            serde_json::json!({"batchItemFailures":[{"itemIdentifier":"m-1"},{"itemIdentifier":"m-3"}]})
        );
    }

    #[test]
    fn a_standard_queue_keeps_no_group_order() {
        // Fair standard queues carry MessageGroupId too; it orders nothing there.
        let records = [
            message("1", Some("a"), STANDARD),
            message("2", Some("a"), STANDARD),
        ];
        let mut ledger = Ledger::new(Source::Sqs, &records);
        assert_eq!(ledger.rounds(), vec![vec![0, 1]]);
        ledger.set(0, Outcome::Failed, None);
        assert_eq!(ledger.proceed(vec![1]), vec![1]);
    }

    #[test]
    fn fifo_rounds_take_one_message_per_group_in_order() {
        let records = [
            message("1", Some("a"), FIFO),
            message("2", Some("b"), FIFO),
            message("3", Some("a"), FIFO),
            message("4", None, FIFO),
            message("5", Some("a"), FIFO),
            message("6", Some("b"), FIFO),
        ];
        let ledger = Ledger::new(Source::Sqs, &records);
        assert_eq!(ledger.rounds(), vec![vec![0, 1, 3], vec![2, 5], vec![4]]);
    }

    #[test]
    fn after_a_failure_the_rest_of_its_fifo_group_is_held_back_and_reported() {
        let records = [
            message("1", Some("a"), FIFO),
            message("2", Some("b"), FIFO),
            message("3", Some("a"), FIFO),
            message("4", Some("b"), FIFO),
            message("5", Some("a"), FIFO),
            message("6", Some("b"), FIFO),
        ];
        let mut ledger = Ledger::new(Source::Sqs, &records);
        let mut rounds = ledger.rounds().into_iter();
        // Round 0: group a's first message is written, group b's first one fails.
        assert_eq!(ledger.proceed(rounds.next().unwrap()), vec![0, 1]);
        ledger.set(0, Outcome::Written, None);
        ledger.set(1, Outcome::Failed, None);
        // Round 1: b's second message is held back; a's goes on, and is rejected (a poison
        // message is dead-lettered, which is not a failure: a's order goes on).
        assert_eq!(ledger.proceed(rounds.next().unwrap()), vec![2]);
        ledger.set(2, Outcome::DeadLettered, Some(Reason::NotJson));
        // Round 2: a's third message fails; b's third is held back.
        assert_eq!(ledger.proceed(rounds.next().unwrap()), vec![4]);
        ledger.set(4, Outcome::Failed, None);
        assert!(rounds.next().is_none());
        let handled = ledger.finish().unwrap();
        let outcomes: Vec<Outcome> = handled.entries.iter().map(|e| e.outcome).collect();
        use Outcome::*;
        assert_eq!(
            outcomes,
            [Written, Failed, DeadLettered, Failed, Failed, Failed]
        );
        assert_eq!(handled.response.failures(), vec!["2", "4", "5", "6"]);
        assert_eq!(handled.summary().failed, 4);
    }

    #[test]
    #[should_panic(expected = "already ended as Written")]
    fn a_second_outcome_is_a_bug() {
        let records = [meta(Some("1"))];
        let mut ledger = Ledger::new(Source::Kinesis, &records);
        ledger.set(0, Outcome::Written, None);
        ledger.set(0, Outcome::Failed, None);
    }

    #[test]
    #[should_panic(expected = "was given no outcome")]
    fn a_missing_outcome_is_a_bug() {
        let records = [meta(Some("1"))];
        Ledger::new(Source::Kinesis, &records).finish().ok();
    }

    #[test]
    fn a_failed_record_without_a_sequence_number_cannot_be_reported() {
        let records = [meta(None), meta(None)];
        let mut ledger = Ledger::new(Source::Dynamodb, &records);
        ledger.set(0, Outcome::Failed, None);
        ledger.set(1, Outcome::Written, None);
        assert_eq!(ledger.finish().unwrap_err(), Unreportable { count: 1 });
    }
}
