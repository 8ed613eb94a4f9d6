//! One invocation: decode -> score -> write -> dead-letter -> respond, every record accounted for.
//!
//! This is the one function the Lambda binary and `stream-infer invoke` share. It returns the
//! ledger of outcomes beside the response, so callers and tests can check that each record ended
//! in exactly one place.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use tracing::Instrument;
use tracing::field::Empty;

use crate::app::App;
use crate::ledger::{Handled, Ledger, Outcome, StreamResponse, Unreportable};
use crate::metrics::{Invocation, Observed, Stages};
use crate::pipeline::{self, Scored, Verdict};
use crate::reason::Reason;
use crate::sink::retry::tallied;
use crate::sink::{
    Deadline, Kept, ModelRef, PayloadEncoding, Predicted, Prediction, Probabilities, Rejection,
    SinkError,
};
use crate::source::{self, EventError, Meta, Payload, Source};

/// Why an invocation failed as a whole; Lambda then retries the entire batch.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is not a stream event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Records failed that Lambda cannot be told about one by one.
    #[error(
        "{count} record(s) could not be written nor dead-lettered, and have no sequence number to report; failing the invocation so Lambda retries the batch"
    )]
    Unreportable {
        /// How many records.
        count: usize,
    },
}

impl From<Unreportable> for HandlerError {
    fn from(Unreportable { count }: Unreportable) -> HandlerError {
        HandlerError::Unreportable { count }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let error_type = match &error {
            HandlerError::Event(EventError::NotStreamEvent { .. }) => "NotStreamEvent",
            HandlerError::Event(EventError::UnknownSource { .. }) => "UnknownEventSource",
            HandlerError::Unreportable { .. } => "UnreportableRecords",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The Lambda entry point: the event arrives as raw JSON so one bad record cannot fail its parse.
/// Logs the batch's summary and prints its metrics document on stdout (`METRICS`).
pub async fn handle_lambda(
    app: &App,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<StreamResponse, HandlerError> {
    let context = &event.context;
    let deadline = Deadline::from_epoch_millis(context.deadline, app.deadline_margin());
    let invocation = Call {
        request_id: &context.request_id,
        trace: context.xray_trace_id.as_deref(),
        deadline: &deadline,
    };
    let (handled, document) = handle_reported(app, event.payload.get(), invocation).await?;
    if let Some(document) = document {
        crate::metrics::print(&document);
    }
    Ok(handled.response)
}

/// Who is calling and by when: Lambda's context of one invocation.
#[derive(Debug, Clone, Copy)]
pub struct Call<'c> {
    pub request_id: &'c str,
    /// The X-Ray trace header, when tracing is on.
    pub trace: Option<&'c str>,
    pub deadline: &'c Deadline,
}

/// Everything one Lambda invocation does with its event: [`handle_observed`] inside a span
/// carrying `cold_start`, `model` and `model_version`, the `batch done` log line, and the
/// invocation's metrics document (when `METRICS` is on), returned for the caller to print.
pub async fn handle_reported(
    app: &App,
    event: &str,
    call: Call<'_>,
) -> Result<(Handled, Option<String>), HandlerError> {
    let started = Instant::now();
    let (cold_start, model_load) = app.take_cold_start();
    let (model, model_version) = (app.model().name(), app.model().version());
    let span = tracing::info_span!("invocation", cold_start, model, model_version);
    let (handled, observed) = handle_observed(app, event, call.deadline, call.trace)
        .instrument(span.clone())
        .await?;
    let summary = handled.summary();
    span.in_scope(|| {
        tracing::info!(
            source = handled.source.as_str(),
            records = summary.records,
            predicted = summary.predicted,
            rejected = summary.rejected,
            skipped = summary.skipped,
            failed = summary.failed,
            dropped = summary.dropped,
            "batch done"
        )
    });
    let document = app.metrics().map(|metrics| {
        let invocation = Invocation {
            request_id: call.request_id,
            trace_id: call.trace,
            model,
            model_version,
            observed,
            handler: started.elapsed(),
            cold_start,
            model_load,
        };
        metrics.document(&handled, &invocation, crate::metrics::now_ms())
    });
    Ok((handled, document))
}

/// Runs one event through decode, prediction, the sink and the dead-letter path. Retries stop
/// at `deadline`; whatever is not written by then is reported, not dropped.
pub async fn handle(app: &App, event: &str, deadline: &Deadline) -> Result<Handled, HandlerError> {
    Ok(handle_observed(app, event, deadline, None).await?.0)
}

/// [`handle`], and what it observed on the way: each stage's time, the oldest record's age and
/// the sinks' retries, for the metrics document. `trace` is the invocation's X-Ray trace header,
/// carried on every message and item written.
pub async fn handle_observed(
    app: &App,
    event: &str,
    deadline: &Deadline,
    trace: Option<&str>,
) -> Result<(Handled, Observed), HandlerError> {
    let now = SystemTime::now();
    let mut clock = Instant::now();
    let mut lap = || {
        let elapsed = clock.elapsed();
        clock = Instant::now();
        elapsed
    };
    let span = tracing::debug_span!("decode", bytes = event.len(), records = Empty).entered();
    let batch = source::decode_event_with(event, app.decode_limits())?;
    span.record("records", batch.records.len());
    drop(span);
    let decode = lap();
    let record_age = oldest(batch.records.iter().map(|r| &r.meta), now);
    let scored = pipeline::score(batch, app.spec(), app.model());
    let predict = lap();
    let mut ledger = Ledger::new(scored.source, scored.records.iter().map(|r| &r.meta));
    let shared = Shared {
        source: scored.source,
        deadline,
        trace,
    };
    let (mut sink, mut dead_letter) = (Duration::ZERO, Duration::ZERO);
    let (mut sink_retries, mut sink_throttles) = (0, 0);
    // One round, except for a FIFO queue: one per position in a message group, so a group's
    // message is written only after its earlier ones ended (see `Ledger::rounds`).
    for round in ledger.rounds() {
        let round = ledger.proceed(round);
        if round.is_empty() {
            continue;
        }
        let (rejected, sink_tally) = tallied(
            write(app, shared, &scored.records, &round, &mut ledger)
                .instrument(tracing::debug_span!("sink", records = round.len())),
        )
        .await;
        sink += lap();
        let span = tracing::debug_span!("dead_letter", records = rejected.len());
        let ((), dead_letter_tally) = tallied(
            self::dead_letter(app, shared, &scored.records, rejected, &mut ledger).instrument(span),
        )
        .await;
        dead_letter += lap();
        sink_retries += sink_tally.retries + dead_letter_tally.retries;
        sink_throttles += sink_tally.throttles + dead_letter_tally.throttles;
    }
    let observed = Observed {
        stages: Stages {
            decode,
            predict,
            sink,
            dead_letter,
        },
        record_age,
        sink_retries,
        sink_throttles,
    };
    Ok((ledger.finish()?, observed))
}

/// Logs a sink's or the dead-letter queue's failures once per kind (transient or permanent, and
/// the service's error code) with how many records each affected: WARN for what Lambda will
/// retry, ERROR for refusals no retry can fix. Never one line per record.
fn log_failures<'r, T: 'r>(
    what: &str,
    target: &str,
    results: impl Iterator<Item = &'r Result<T, SinkError>>,
) {
    let mut kinds: BTreeMap<(bool, Option<&str>), (usize, &str)> = BTreeMap::new();
    for error in results.filter_map(|r| r.as_ref().err()) {
        let kind = (error.is_transient(), error.code.as_deref());
        kinds.entry(kind).or_insert((0, &error.message)).0 += 1;
    }
    for ((transient, code), (records, message)) in kinds {
        let code = code.unwrap_or("none");
        if transient {
            tracing::warn!(
                destination = target,
                error_code = code,
                records,
                "{what} failed transiently; the records are reported for Lambda to retry: {message}"
            );
        } else {
            tracing::error!(
                destination = target,
                error_code = code,
                records,
                "{what} refused records for good: {message}"
            );
        }
    }
}

/// How old the oldest record was at `now`, from its arrival or creation time.
fn oldest<'m>(metas: impl Iterator<Item = &'m Meta<'m>>, now: SystemTime) -> Option<Duration> {
    let oldest = metas
        .filter_map(|meta| meta.event_time)
        .filter(|t| t.is_finite() && *t >= 0.0)
        .min_by(f64::total_cmp)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64((now - oldest).max(0.0)))
}

/// What every write of one invocation shares.
#[derive(Clone, Copy)]
struct Shared<'i> {
    source: Source,
    deadline: &'i Deadline,
    /// The invocation's X-Ray trace header, put on every message and item.
    trace: Option<&'i str>,
}

/// Writes the predicted records among `only` (indices into `records`) and settles the skipped
/// ones. Returns the records to dead-letter: those rejected by the pipeline, and those the sink
/// refused for good.
async fn write(
    app: &App,
    shared: Shared<'_>,
    records: &[Scored<'_>],
    only: &[usize],
    ledger: &mut Ledger,
) -> Vec<(usize, Reason, String)> {
    let Shared {
        source,
        deadline,
        trace,
    } = shared;
    let model = ModelRef {
        name: app.model().name(),
        version: app.model().version(),
    };
    let classes = app
        .model()
        .typed_model()
        .map_or(&[][..], |typed| typed.scorer().classes());
    let mut rejected = Vec::new();
    let mut skipped = Vec::new();
    let mut written = Vec::with_capacity(only.len());
    let mut predictions = Vec::with_capacity(only.len());
    for &index in only {
        let record = &records[index];
        let (key, prediction, probabilities, imputed) = match &record.verdict {
            Verdict::Skipped(_) => {
                skipped.push(index);
                continue;
            }
            Verdict::Rejected(error) => {
                rejected.push((index, error.reason(), error.to_string()));
                continue;
            }
            Verdict::Predicted { key, value } => (key, Predicted::Value(*value), None, &[][..]),
            Verdict::Imputed {
                key,
                value,
                imputed,
            } => (key, Predicted::Value(*value), None, &imputed[..]),
            Verdict::Classified {
                key,
                class,
                probabilities,
                imputed,
            } => (
                key,
                Predicted::Label(&classes[*class]),
                probabilities
                    .as_deref()
                    .map(|values| Probabilities { classes, values }),
                &imputed[..],
            ),
        };
        written.push(index);
        predictions.push(Prediction {
            id: ledger.id(index),
            sequenced: record.meta.sequence_number.is_some(),
            key: key.as_deref(),
            prediction,
            probabilities,
            imputed,
            model,
            source,
            partition_key: record.meta.partition_key.as_deref(),
            source_arn: record.meta.source_arn.as_deref(),
            event_time: record.meta.event_time,
            trace_header: trace,
        });
    }
    let results = app.sink().write(&predictions, deadline).await;
    drop(predictions);
    log_failures("sink", &app.sink().describe(), results.iter());
    for index in skipped {
        ledger.set(index, Outcome::Skipped, None);
    }
    for (index, result) in written.into_iter().zip(results) {
        match result {
            Ok(()) => ledger.set(index, Outcome::Written, None),
            Err(error) if error.is_transient() => ledger.set(index, Outcome::Failed, None),
            Err(error) => rejected.push((index, Reason::SinkRejected, error.to_string())),
        }
    }
    rejected
}

/// Dead-letters the rejected records; one that cannot be dead-lettered is reported as failed,
/// unless it is too large for any dead-letter message: then it is dropped (logged, not retried).
async fn dead_letter(
    app: &App,
    shared: Shared<'_>,
    records: &[Scored<'_>],
    rejected: Vec<(usize, Reason, String)>,
    ledger: &mut Ledger,
) {
    let rejections: Vec<Rejection<'_>> = rejected
        .iter()
        .map(|(index, reason, message)| Rejection {
            trace_header: shared.trace,
            ..rejection(
                shared.source,
                ledger.id(*index),
                &records[*index].meta,
                *reason,
                message.clone(),
            )
        })
        .collect();
    let sent = app.dead_letter().send(&rejections, shared.deadline).await;
    drop(rejections);
    log_failures("dead-letter", &app.dead_letter().describe(), sent.iter());
    for ((index, reason, _), result) in rejected.into_iter().zip(sent) {
        let outcome = match result {
            Ok(Kept::DeadLettered) => Outcome::DeadLettered,
            Ok(Kept::Dropped) => Outcome::Dropped,
            Err(_) => Outcome::Failed,
        };
        ledger.set(index, outcome, Some(reason));
    }
}

fn rejection<'a>(
    source: Source,
    id: &'a str,
    meta: &'a Meta<'a>,
    reason: Reason,
    message: String,
) -> Rejection<'a> {
    let (payload, payload_encoding) = match &meta.payload {
        Some(Payload::KinesisData(data)) => {
            let data: &str = data;
            match base64::engine::general_purpose::STANDARD.decode(data) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (Some(text), Some(PayloadEncoding::Utf8)),
                    Err(_) => (Some(data.to_owned()), Some(PayloadEncoding::Base64)),
                },
                Err(_) => (Some(data.to_owned()), Some(PayloadEncoding::Raw)),
            }
        }
        Some(Payload::Image(image)) => (
            Some((*image).to_owned()),
            Some(PayloadEncoding::DynamodbJson),
        ),
        Some(Payload::Record(record)) => (
            Some((*record).to_owned()),
            Some(PayloadEncoding::RecordJson),
        ),
        Some(Payload::SqsBody {
            body,
            base64: false,
        }) => (Some(body.to_string()), Some(PayloadEncoding::Utf8)),
        Some(Payload::SqsBody { body, base64: true }) => {
            match base64::engine::general_purpose::STANDARD.decode(body.trim()) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (Some(text), Some(PayloadEncoding::Utf8)),
                    Err(_) => (Some(body.to_string()), Some(PayloadEncoding::Base64)),
                },
                Err(_) => (Some(body.to_string()), Some(PayloadEncoding::Raw)),
            }
        }
        Some(Payload::UserRecord(bytes)) => match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_owned()), Some(PayloadEncoding::Utf8)),
            Err(_) => (
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                Some(PayloadEncoding::Base64),
            ),
        },
        None => (None, None),
    };
    Rejection {
        id,
        reason,
        message,
        source,
        source_arn: meta.source_arn.as_deref(),
        sequence_number: meta.sequence_number.as_deref(),
        partition_key: meta.partition_key.as_deref(),
        event_time: meta.event_time,
        payload,
        payload_encoding,
        payload_truncated: false,
        trace_header: None,
    }
}
