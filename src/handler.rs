//! A Lambda event -> pipeline -> sinks -> the response Lambda expects, every record accounted for.
//!
//! This is the one function the Lambda binary and `stream-infer invoke` share. It returns the
//! ledger of outcomes beside the response, so callers and tests can check that each record ended
//! in exactly one place.

use std::borrow::Cow;

use aws_lambda_events::streams::{
    DynamoDbBatchItemFailure, DynamoDbEventResponse, KinesisEventResponse,
};
use base64::Engine;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::config::{Config, ConfigError, SinkConfig};
use crate::features::FeatureSpec;
use crate::model::Model;
use crate::pipeline::{self, Verdict};
use crate::sink::{
    DeadLetter, Deadline, DynamoDbSink, ModelRef, Prediction, Rejection, Sink, SinkError, SqsQueue,
};
use crate::source::{self, EventError, Meta, Payload, Source};

/// Everything an invocation needs, built once before the runtime loop.
#[derive(Debug)]
pub struct App {
    pub spec: FeatureSpec,
    pub model: Model,
    pub sink: Sink,
    pub dead_letter: DeadLetter,
    /// Time kept back from Lambda's deadline for answering.
    pub deadline_margin: std::time::Duration,
}

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
}

/// The response for either source; both serialize as `{"batchItemFailures":[…]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StreamResponse {
    Kinesis(KinesisEventResponse),
    Dynamodb(DynamoDbEventResponse),
}

impl StreamResponse {
    fn new(source: Source, failed: Vec<String>) -> StreamResponse {
        match source {
            Source::Kinesis => {
                let mut response = KinesisEventResponse::default();
                response.set_failures(failed);
                StreamResponse::Kinesis(response)
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
            StreamResponse::Kinesis(r) => r
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

/// One record's line in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The record's sequence number, or `#index` when its envelope had none.
    pub id: String,
    pub outcome: Outcome,
    /// The reason code of a dead-lettered record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The result of one invocation: the response and the ledger behind it.
#[derive(Debug)]
pub struct Handled {
    pub source: Source,
    /// One entry per input record, in input order.
    pub entries: Vec<Entry>,
    pub response: StreamResponse,
}

/// Counts per outcome, as printed by `stream-infer invoke`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    #[serde(rename = "in")]
    pub records: usize,
    pub predicted: usize,
    pub rejected: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl Handled {
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
            }
        }
        summary
    }
}

/// Why an invocation failed as a whole; Lambda then retries the entire batch.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{count} record(s) could not be written nor dead-lettered, and have no sequence number to report; failing the invocation so Lambda retries the batch")]
    Unreportable { count: usize },
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
pub async fn handle_lambda(
    app: &App,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<StreamResponse, HandlerError> {
    let deadline = Deadline::from_epoch_millis(event.context.deadline, app.deadline_margin);
    let handled = handle(app, event.payload.get(), &deadline).await?;
    let summary = handled.summary();
    tracing::info!(
        source = handled.source.as_str(),
        records = summary.records,
        predicted = summary.predicted,
        rejected = summary.rejected,
        skipped = summary.skipped,
        failed = summary.failed,
        "batch done"
    );
    Ok(handled.response)
}

/// Runs one event through decode, prediction, the sink and the dead-letter path. Retries stop
/// at `deadline`; whatever is not written by then is reported, not dropped.
pub async fn handle(app: &App, event: &str, deadline: &Deadline) -> Result<Handled, HandlerError> {
    let batch = source::decode_event(event)?;
    let scored = pipeline::score(batch, &app.spec, &app.model);
    let source = scored.source;
    let ids: Vec<Cow<'_, str>> = scored
        .records
        .iter()
        .enumerate()
        .map(|(i, meta)| meta.id(i))
        .collect();
    let model = ModelRef {
        name: app.model.name(),
        version: app.model.version(),
    };

    let mut outcomes: Vec<Option<Outcome>> = vec![None; scored.records.len()];
    let mut predicted = Vec::new();
    let mut rejected = Vec::new();
    for (index, verdict) in scored.verdicts.iter().enumerate() {
        let meta = &scored.records[index];
        match verdict {
            Verdict::Skipped(_) => outcomes[index] = Some(Outcome::Skipped),
            Verdict::Rejected(error) => rejected.push((
                index,
                rejection(source, &ids[index], meta, error.code(), error.to_string()),
            )),
            Verdict::Predicted { key, value } => predicted.push((
                index,
                Prediction {
                    id: &ids[index],
                    key: key.as_deref(),
                    prediction: *value,
                    model,
                    source,
                    partition_key: meta.partition_key.as_deref(),
                    source_arn: meta.source_arn.as_deref(),
                    event_time: meta.event_time,
                },
            )),
        }
    }

    let predictions: Vec<Prediction<'_>> = predicted.iter().map(|(_, p)| p.clone()).collect();
    let written = app.sink.write(&predictions, deadline).await;
    for ((index, _), result) in predicted.iter().zip(written) {
        match result {
            Ok(()) => outcomes[*index] = Some(Outcome::Written),
            Err(SinkError::Transient(_)) => outcomes[*index] = Some(Outcome::Failed),
            Err(error @ SinkError::Permanent(_)) => {
                let meta = &scored.records[*index];
                let message = error.to_string();
                rejected.push((
                    *index,
                    rejection(source, &ids[*index], meta, "sink_rejected", message),
                ));
            }
        }
    }

    let rejections: Vec<Rejection<'_>> = rejected.iter().map(|(_, r)| r.clone()).collect();
    let sent = app.dead_letter.send(&rejections, deadline).await;
    for ((index, _), result) in rejected.iter().zip(sent) {
        outcomes[*index] = Some(match result {
            Ok(()) => Outcome::DeadLettered,
            Err(_) => Outcome::Failed,
        });
    }

    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| o.expect("every record is given exactly one outcome"))
        .collect();
    let mut reasons: Vec<Option<&'static str>> = vec![None; outcomes.len()];
    for (index, rejection) in &rejected {
        reasons[*index] = Some(rejection.reason);
    }
    let mut failed = Vec::new();
    let mut unreportable = 0;
    for (meta, outcome) in scored.records.iter().zip(&outcomes) {
        if *outcome == Outcome::Failed {
            match &meta.sequence_number {
                Some(seq) => failed.push(seq.to_string()),
                None => unreportable += 1,
            }
        }
    }
    if unreportable > 0 {
        return Err(HandlerError::Unreportable {
            count: unreportable,
        });
    }
    let entries = ids
        .into_iter()
        .zip(outcomes)
        .zip(reasons)
        .map(|((id, outcome), reason)| Entry {
            id: id.into_owned(),
            outcome,
            reason,
        })
        .collect();
    Ok(Handled {
        source,
        entries,
        response: StreamResponse::new(source, failed),
    })
}

fn rejection<'a>(
    source: Source,
    id: &'a str,
    meta: &'a Meta<'a>,
    reason: &'static str,
    message: String,
) -> Rejection<'a> {
    let (payload, payload_encoding) = match meta.payload {
        Some(Payload::KinesisData(data)) => {
            match base64::engine::general_purpose::STANDARD.decode(data) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => (Some(text), Some("utf8")),
                    Err(_) => (Some(data.to_owned()), Some("base64")),
                },
                Err(_) => (Some(data.to_owned()), Some("raw")),
            }
        }
        Some(Payload::Image(image)) => (Some(image.to_owned()), Some("dynamodb-json")),
        Some(Payload::Record(record)) => (Some(record.to_owned()), Some("record-json")),
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
    }
}

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

impl InitError {
    /// A stable error type for Lambda's init error report.
    pub fn code(&self) -> &'static str {
        match self {
            InitError::Config(_) => "ConfigInvalid",
            InitError::Model(e) => e.code(),
        }
    }
}

impl App {
    /// Loads the model and builds the sinks that `config` names: done once per process. AWS
    /// clients are built only when something needs them, from the standard credential chain and
    /// `AWS_ENDPOINT_URL`.
    pub async fn build(config: &Config) -> Result<App, InitError> {
        let aws = if config.needs_aws() {
            Some(
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await,
            )
        } else {
            None
        };
        let model =
            crate::model::load(&config.model, aws.as_ref(), &config.model_cache_dir).await?;
        Ok(App::with_model(config, model, aws.as_ref()))
    }

    /// Builds the sinks around an already loaded model. `aws` must be given when the config
    /// names an AWS sink or dead-letter queue.
    pub fn with_model(config: &Config, model: Model, aws: Option<&aws_config::SdkConfig>) -> App {
        let spec = FeatureSpec::new(
            model.features().to_vec(),
            config.features_field.clone(),
            config.id_field.clone(),
        );
        let delivery = config.delivery;
        let aws = || aws.expect("AWS configuration is loaded when the config needs it");
        let sink = match &config.sink {
            SinkConfig::Stdout => Sink::Stdout(crate::sink::JsonLinesSink::stdout()),
            SinkConfig::DynamoDb {
                table,
                key_attribute,
                ttl,
            } => Sink::DynamoDb(DynamoDbSink::new(
                aws_sdk_dynamodb::Client::new(aws()),
                table.clone(),
                key_attribute.clone(),
                ttl.clone(),
                delivery,
            )),
            SinkConfig::Sqs { queue_url } => Sink::Sqs(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws()),
                queue_url.clone(),
                delivery,
            )),
        };
        let dead_letter = match &config.dead_letter_queue_url {
            None => DeadLetter::Log,
            Some(url) => DeadLetter::Sqs(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws()),
                url.clone(),
                delivery,
            )),
        };
        App {
            spec,
            model,
            sink,
            dead_letter,
            deadline_margin: config.deadline_margin,
        }
    }
}
