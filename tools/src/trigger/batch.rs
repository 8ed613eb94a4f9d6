//! How one polled batch is retried, split and given up on: the event source mapping's rules,
//! without IO.
//!
//! The driver asks [`BatchRun::next`] which records to invoke, invokes them, and hands the result
//! to [`BatchRun::settle`]. Records leave the run in order, either processed or discarded to the
//! on-failure destination, so the shard's checkpoint only ever moves forward.

use std::ops::Range;

/// The retry settings of an event source mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// `MaximumRetryAttempts`; `None` is -1, retry until the records expire.
    pub maximum: Option<u32>,
    /// `BisectBatchOnFunctionError`.
    pub bisect: bool,
}

/// What an invocation of a part of the batch returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// No `batchItemFailures`: every record of the part is processed.
    Processed,
    /// `batchItemFailures` whose lowest sequence number is the record at this batch index; the
    /// records before it are processed.
    FailedFrom(usize),
    /// A function error, or a response Lambda treats as a complete failure.
    Failed,
}

/// Why records were given up on, as Lambda names it in the on-failure record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Records given up on: they go to the on-failure destination, and the shard moves past them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    /// Batch indices.
    pub range: Range<usize>,
    /// Invocations these records took part in.
    pub invocations: u32,
    pub condition: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    range: Range<usize>,
    retries: u32,
}

/// The parts of one batch still to deliver; the last part is delivered first.
#[derive(Debug, Clone)]
pub struct BatchRun {
    parts: Vec<Part>,
    retries: Retries,
}

impl BatchRun {
    pub fn new(len: usize, retries: Retries) -> BatchRun {
        let parts = if len == 0 {
            Vec::new()
        } else {
            vec![Part {
                range: 0..len,
                retries: 0,
            }]
        };
        BatchRun { parts, retries }
    }

    /// The batch indices to invoke next, and how many retries they have had; `None` when the
    /// whole batch is processed or discarded.
    pub fn next(&self) -> Option<(Range<usize>, u32)> {
        self.parts.last().map(|p| (p.range.clone(), p.retries))
    }

    /// Applies the result of invoking [`BatchRun::next`]'s records.
    pub fn settle(&mut self, settled: Settled) -> Option<Discarded> {
        let part = self.parts.pop()?;
        let (range, complete_failure) = match settled {
            Settled::Processed => return None,
            // Lambda resumes from the lowest reported sequence number; the records before it
            // are checkpointed. An index outside the part is a complete failure.
            Settled::FailedFrom(first) if part.range.contains(&first) => {
                (first..part.range.end, false)
            }
            Settled::FailedFrom(_) | Settled::Failed => (part.range.clone(), true),
        };
        let retries = part.retries + 1;
        if self
            .retries
            .maximum
            .is_some_and(|maximum| retries > maximum)
        {
            return Some(Discarded {
                range,
                invocations: retries,
                condition: Condition::RetryAttemptsExhausted,
            });
        }
        if complete_failure && self.retries.bisect && range.len() > 1 {
            let middle = range.start + range.len() / 2;
            self.parts.push(Part {
                range: middle..range.end,
                retries,
            });
            self.parts.push(Part {
                range: range.start..middle,
                retries,
            });
        } else {
            self.parts.push(Part { range, retries });
        }
        None
    }

    /// Gives up on the next part because its oldest record is past `MaximumRecordAgeInSeconds`.
    pub fn expire(&mut self) -> Option<Discarded> {
        self.parts.pop().map(|part| Discarded {
            range: part.range,
            invocations: part.retries,
            condition: Condition::RecordAgeExceeded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: Retries = Retries {
        maximum: Some(5),
        bisect: true,
    };

    /// Runs a batch of `len` records through `invoke` until it is done; returns the invoked
    /// ranges in order and what was discarded.
    fn drive(
        len: usize,
        retries: Retries,
        mut invoke: impl FnMut(Range<usize>) -> Settled,
    ) -> (Vec<Range<usize>>, Vec<Discarded>) {
        let mut run = BatchRun::new(len, retries);
        let (mut invoked, mut discarded) = (Vec::new(), Vec::new());
        while let Some((range, _)) = run.next() {
            invoked.push(range.clone());
            discarded.extend(run.settle(invoke(range)));
            assert!(invoked.len() < 1000, "the run must end");
        }
        (invoked, discarded)
    }

    #[test]
    fn a_processed_batch_is_invoked_once() {
        let (invoked, discarded) = drive(10, FIVE, |_| Settled::Processed);
        assert_eq!(invoked, vec![0..10]);
        assert!(discarded.is_empty());
    }

    #[test]
    fn an_empty_batch_is_never_invoked() {
        let (invoked, _) = drive(0, FIVE, |_| Settled::Processed);
        assert!(invoked.is_empty());
    }

    #[test]
    fn a_partial_failure_resumes_from_the_reported_record() {
        let mut first = true;
        let (invoked, discarded) = drive(10, FIVE, |_| {
            if std::mem::take(&mut first) {
                Settled::FailedFrom(4)
            } else {
                Settled::Processed
            }
        });
        assert_eq!(invoked, vec![0..10, 4..10]);
        assert!(discarded.is_empty());
    }

    #[test]
    fn a_failure_that_never_clears_is_discarded_after_the_maximum_retries() {
        let retries = Retries {
            maximum: Some(2),
            bisect: false,
        };
        let (invoked, discarded) =
            drive(10, retries, |range| Settled::FailedFrom(range.start.max(3)));
        assert_eq!(invoked, vec![0..10, 3..10, 3..10]);
        assert_eq!(
            discarded,
            vec![Discarded {
                range: 3..10,
                invocations: 3,
                condition: Condition::RetryAttemptsExhausted
            }]
        );
    }

    #[test]
    fn bisecting_isolates_a_poison_record_and_processes_every_other_one() {
        let poison = 5;
        let mut processed = Vec::new();
        let (_, discarded) = drive(8, FIVE, |range| {
            if range.contains(&poison) {
                Settled::Failed
            } else {
                processed.extend(range);
                Settled::Processed
            }
        });
        assert_eq!(
            processed,
            vec![0, 1, 2, 3, 4, 6, 7],
            "in order, poison excluded"
        );
        assert_eq!(discarded.len(), 1);
        assert_eq!(discarded[0].range, 5..6);
        assert_eq!(discarded[0].condition, Condition::RetryAttemptsExhausted);
    }

    #[test]
    fn without_bisect_a_function_error_retries_the_whole_batch() {
        let retries = Retries {
            maximum: Some(1),
            bisect: false,
        };
        let (invoked, discarded) = drive(4, retries, |_| Settled::Failed);
        assert_eq!(invoked, vec![0..4, 0..4]);
        assert_eq!(discarded[0].range, 0..4);
        assert_eq!(discarded[0].invocations, 2);
    }

    #[test]
    fn a_reported_record_outside_the_part_fails_the_whole_part() {
        let mut calls = 0;
        let (invoked, _) = drive(4, FIVE, |range| {
            calls += 1;
            if calls == 1 {
                Settled::FailedFrom(99)
            } else {
                assert!(range.len() < 4, "bisected after a complete failure");
                Settled::Processed
            }
        });
        assert_eq!(invoked, vec![0..4, 0..2, 2..4]);
    }

    #[test]
    fn unlimited_retries_keep_retrying_until_expired() {
        let retries = Retries {
            maximum: None,
            bisect: false,
        };
        let mut run = BatchRun::new(3, retries);
        for _ in 0..50 {
            assert_eq!(run.settle(Settled::Failed), None);
        }
        assert_eq!(run.next(), Some((0..3, 50)));
        let expired = run.expire().unwrap();
        assert_eq!(expired.condition, Condition::RecordAgeExceeded);
        assert_eq!(expired.range, 0..3);
        assert_eq!(run.next(), None);
    }
}
