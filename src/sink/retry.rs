//! Retries with exponential backoff and full jitter, bounded by attempts and the Lambda deadline.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::SinkError;

/// How often and how patiently a sink retries transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per write, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles after each attempt.
    pub base_delay: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform wait in `[0, min(max_delay, base_delay · 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// When retrying must stop: the invocation's deadline minus a safety margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: retries are bounded by attempts only (the CLI, and tests).
    pub fn none() -> Deadline {
        Deadline(None)
    }

    pub fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    /// From Lambda's `Context::deadline` (milliseconds since the epoch; 0 means unknown), less
    /// `margin` kept for answering.
    pub fn from_epoch_millis(deadline_ms: u64, margin: Duration) -> Deadline {
        if deadline_ms == 0 {
            return Deadline::none();
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(margin);
        Deadline::at(Instant::now() + left)
    }

    /// Whether waiting `wait` and trying again still ends before the deadline.
    pub fn allows(&self, wait: Duration) -> bool {
        self.0
            .is_none_or(|deadline| Instant::now() + wait < deadline)
    }
}

/// What one attempt at writing a set of items concluded, by item index.
#[derive(Debug, Default)]
pub struct Attempt {
    pub done: Vec<usize>,
    /// Items that may succeed if tried again, with why they failed.
    pub retry: Vec<(usize, SinkError)>,
    /// Items that never will.
    pub permanent: Vec<(usize, SinkError)>,
}

impl Attempt {
    /// Every item failed the same way, as when a whole request fails.
    pub fn all(items: &[usize], error: SinkError) -> Attempt {
        let mut attempt = Attempt::default();
        let failed = if error.is_transient() {
            &mut attempt.retry
        } else {
            &mut attempt.permanent
        };
        failed.extend(items.iter().map(|&item| (item, error.clone())));
        attempt
    }
}

/// Calls `send` with the items still pending until every item is done or permanently failed, the
/// attempts run out, or the next backoff would cross the deadline. Returns one result per item.
pub async fn with_retries<F, Fut>(
    policy: &RetryPolicy,
    deadline: &Deadline,
    items: Vec<usize>,
    mut send: F,
) -> Vec<(usize, Result<(), SinkError>)>
where
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut results = Vec::with_capacity(items.len());
    let mut pending = items;
    let mut attempt = 1;
    while !pending.is_empty() {
        let outcome = send(pending).await;
        results.extend(outcome.done.into_iter().map(|i| (i, Ok(()))));
        results.extend(outcome.permanent.into_iter().map(|(i, e)| (i, Err(e))));
        if outcome.retry.is_empty() {
            break;
        }
        let wait = policy.backoff(attempt);
        if attempt >= policy.max_attempts || !deadline.allows(wait) {
            let exhausted = if attempt >= policy.max_attempts {
                format!("after {attempt} attempts")
            } else {
                format!("after {attempt} attempts, stopped before the Lambda deadline")
            };
            results.extend(outcome.retry.into_iter().map(|(i, mut e)| {
                e.message = format!("{} ({exhausted})", e.message);
                (i, Err(e))
            }));
            break;
        }
        tally(&outcome.retry);
        tokio::time::sleep(wait).await;
        pending = outcome.retry.into_iter().map(|(i, _)| i).collect();
        attempt += 1;
    }
    results
}

/// Items re-sent after a transient failure, and how many of those failures were throttles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryTally {
    pub retries: u64,
    pub throttles: u64,
}

tokio::task_local! {
    static TALLY: std::cell::Cell<RetryTally>;
}

/// Runs `work` (one invocation's writes) and counts the retries made inside it. The count is
/// per task, so concurrent invocations in tests never mix their tallies.
pub async fn tallied<T>(work: impl Future<Output = T>) -> (T, RetryTally) {
    TALLY
        .scope(std::cell::Cell::new(RetryTally::default()), async {
            let out = work.await;
            (out, TALLY.with(std::cell::Cell::get))
        })
        .await
}

fn tally(retry: &[(usize, SinkError)]) {
    let throttles = retry
        .iter()
        .filter(|(_, e)| e.code.as_deref().is_some_and(is_throttle))
        .count() as u64;
    // Outside `tallied` (the CLI's own writes, unit tests) nothing counts.
    let _ = TALLY.try_with(|cell| {
        let mut now = cell.get();
        now.retries += retry.len() as u64;
        now.throttles += throttles;
        cell.set(now);
    });
}

/// The services' throttling error codes (DynamoDB, SQS and the SDK's own).
fn is_throttle(code: &str) -> bool {
    code.contains("Throttl")
        || code == "ProvisionedThroughputExceededException"
        || code == "RequestLimitExceeded"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        for _ in 0..200 {
            assert!(policy.backoff(1) <= Duration::from_millis(10));
            assert!(policy.backoff(3) <= Duration::from_millis(40));
            assert!(policy.backoff(30) <= Duration::from_millis(50));
        }
        let spread: std::collections::HashSet<Duration> =
            (0..50).map(|_| policy.backoff(3)).collect();
        assert!(spread.len() > 10, "full jitter spreads waits");
    }

    #[test]
    fn an_unknown_lambda_deadline_never_stops_retries() {
        assert!(
            Deadline::from_epoch_millis(0, Duration::from_secs(1))
                .allows(Duration::from_secs(3600))
        );
        let past = Deadline::from_epoch_millis(1, Duration::ZERO);
        assert!(!past.allows(Duration::ZERO));
    }

    #[tokio::test]
    async fn items_are_retried_until_done_or_out_of_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        };
        let mut calls = Vec::new();
        let tries_of_one = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let results = with_retries(&policy, &Deadline::none(), vec![0, 1, 2], |items| {
            calls.push(items.clone());
            let tries_of_one = tries_of_one.clone();
            async move {
                // Item 0 succeeds at once, item 1 on its second try, item 2 never.
                let mut attempt = Attempt::default();
                for i in items {
                    let second_try_of_one = i == 1
                        && tries_of_one.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1;
                    match i {
                        0 => attempt.done.push(i),
                        1 if second_try_of_one => attempt.done.push(i),
                        _ => attempt
                            .retry
                            .push((i, SinkError::transient(None, "throttled"))),
                    }
                }
                attempt
            }
        })
        .await;
        assert_eq!(calls, [vec![0, 1, 2], vec![1, 2], vec![2]]);
        assert_eq!(results.len(), 3);
        let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, 2);
        assert_eq!(
            failed[0].1,
            Err(SinkError::transient(None, "throttled (after 3 attempts)"))
        );
    }

    #[tokio::test]
    async fn the_deadline_stops_retries_early() {
        let policy = RetryPolicy {
            max_attempts: 100,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
        };
        let deadline = Deadline::at(Instant::now() + Duration::from_millis(5));
        let mut calls = 0;
        let results = with_retries(&policy, &deadline, vec![7], |items| {
            calls += 1;
            async move { Attempt::all(&items, SinkError::transient(None, "throttled")) }
        })
        .await;
        assert!(calls < 100);
        let (index, result) = &results[0];
        assert_eq!(*index, 7);
        assert!(
            matches!(result, Err(e) if e.is_transient() && e.message.contains("Lambda deadline"))
        );
    }

    #[tokio::test]
    async fn retries_and_throttles_are_tallied_per_invocation() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        };
        let mut round = 0;
        let (results, tally) = tallied(with_retries(
            &policy,
            &Deadline::none(),
            vec![0, 1],
            |items| {
                round += 1;
                let first = round == 1;
                async move {
                    if first {
                        let throttled = SinkError::transient(
                            Some("ProvisionedThroughputExceededException"),
                            "slow down",
                        );
                        let timeout = SinkError::transient(None, "timed out");
                        Attempt {
                            retry: vec![(items[0], throttled), (items[1], timeout)],
                            ..Attempt::default()
                        }
                    } else {
                        Attempt {
                            done: items,
                            ..Attempt::default()
                        }
                    }
                }
            },
        ))
        .await;
        assert!(results.iter().all(|(_, r)| r.is_ok()));
        assert_eq!(
            tally,
            RetryTally {
                retries: 2,
                throttles: 1
            }
        );
    }
}
