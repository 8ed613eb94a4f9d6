//! The function's state, built once per process before the runtime loop: config, model, sinks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError, Door, SinkConfig};
use crate::features::FeatureSpec;
use crate::metrics::Metrics;
use crate::model::{Model, ModelError};
use crate::sink::{DeadLetter, DynamoDbSink, JsonLinesSink, Sink, SqsQueue};
use crate::source::DecodeLimits;

/// Everything an invocation needs. Built by [`App::build`] (or [`App::new`] around a model
/// already loaded); the parts are read-only afterwards.
#[derive(Debug)]
pub struct App {
    spec: FeatureSpec,
    model: Model,
    sink: Sink,
    dead_letter: DeadLetter,
    deadline_margin: Duration,
    decode_limits: DecodeLimits,
    metrics: Option<Metrics>,
    /// Which events the function answers (`DOOR`).
    door: Door,
    /// How long the model took to load, reported once, with the first invocation.
    model_load: Option<Duration>,
    /// Set until the first invocation of the process takes it.
    cold: AtomicBool,
}

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A setting is missing or not allowed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The model could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The config names an AWS sink or queue, but no AWS configuration was given.
    #[error("{needs} needs an AWS configuration, and none was given")]
    AwsMissing {
        /// What needs AWS.
        needs: &'static str,
    },
}

impl InitError {
    /// A stable error type for Lambda's init error report.
    pub fn code(&self) -> &'static str {
        match self {
            InitError::Config(_) => "ConfigInvalid",
            InitError::Model(e) => e.code(),
            InitError::AwsMissing { .. } => "AwsConfigMissing",
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
        let started = Instant::now();
        let model =
            crate::model::load(&config.model, aws.as_ref(), &config.model_cache_dir).await?;
        let model_load = started.elapsed();
        Ok(App::new(config, model, aws.as_ref())?
            .with_model_load(model_load)
            .read_queue_limits()
            .await)
    }

    /// Reads each SQS queue's `MaximumMessageSize` (GetQueueAttributes), so that every message
    /// is cut to fit it. A queue whose limit cannot be read (no `sqs:GetQueueAttributes`
    /// permission, say) keeps the assumed default, and a WARN line says so.
    pub async fn read_queue_limits(mut self) -> App {
        let queues = [
            match &mut self.sink {
                Sink::Sqs(queue) => Some(queue),
                _ => None,
            },
            match &mut self.dead_letter {
                DeadLetter::Sqs(queue) => Some(queue),
                DeadLetter::Log => None,
            },
        ];
        for queue in queues.into_iter().flatten() {
            if let Err(error) = queue.read_max_message().await {
                tracing::warn!(
                    queue = queue.url(),
                    assumed_bytes = queue.max_message(),
                    "cannot read the queue's MaximumMessageSize, so messages are cut to the assumed limit: {error}"
                );
            }
        }
        self
    }

    /// Builds the sinks around an already loaded model. `aws` is needed when the config names an
    /// AWS sink or dead-letter queue.
    pub fn new(
        config: &Config,
        model: Model,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<App, InitError> {
        let (names, features_field, id_field) = (
            model.features().to_vec(),
            config.features_field.clone(),
            config.id_field.clone(),
        );
        let spec = match model.typed_model() {
            Some(_) => FeatureSpec::typed(names, features_field, id_field),
            None => FeatureSpec::new(names, features_field, id_field),
        };
        let delivery = config.delivery;
        let aws = |needs| aws.ok_or(InitError::AwsMissing { needs });
        let sink = match &config.sink {
            SinkConfig::Stdout => Sink::Stdout(JsonLinesSink::stdout()),
            SinkConfig::DynamoDb {
                table,
                key_attribute,
                ttl_days,
            } => Sink::DynamoDb(DynamoDbSink::new(
                aws_sdk_dynamodb::Client::new(aws("SINK=dynamodb")?),
                table.clone(),
                key_attribute.clone(),
                ttl_days.clone(),
                delivery,
            )),
            SinkConfig::Sqs { queue_url } => Sink::Sqs(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws("SINK=sqs")?),
                queue_url.clone(),
                delivery,
            )),
        };
        let dead_letter = match &config.dead_letter_queue_url {
            None => DeadLetter::Log,
            Some(url) => DeadLetter::Sqs(SqsQueue::new(
                aws_sdk_sqs::Client::new(aws("DEAD_LETTER_QUEUE_URL")?),
                url.clone(),
                delivery,
            )),
        };
        Ok(App {
            spec,
            model,
            sink,
            dead_letter,
            deadline_margin: config.deadline_margin,
            decode_limits: DecodeLimits {
                max_decompressed_bytes: config.max_decompressed_bytes,
            },
            metrics: config.metrics.clone(),
            door: config.door,
            model_load: None,
            cold: AtomicBool::new(true),
        })
    }

    fn with_model_load(self, model_load: Duration) -> App {
        App {
            model_load: Some(model_load),
            ..self
        }
    }

    /// Where each invocation's metrics document goes (`METRICS`), if anywhere.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// True for the first invocation of the process only, which also gets the model's load
    /// time (when this app loaded it).
    pub fn take_cold_start(&self) -> (bool, Option<Duration>) {
        let cold = self.cold.swap(false, Ordering::Relaxed);
        (cold, self.model_load.filter(|_| cold))
    }

    /// The same app writing predictions to `sink` instead: for tests and the bench.
    pub fn with_sink(self, sink: Sink) -> App {
        App { sink, ..self }
    }

    /// The same app dead-lettering to `dead_letter` instead: for tests.
    pub fn with_dead_letter(self, dead_letter: DeadLetter) -> App {
        App {
            dead_letter,
            ..self
        }
    }

    /// Which events the function answers: stream batches or HTTP requests (`DOOR`).
    pub fn door(&self) -> Door {
        self.door
    }

    /// The same app answering through `door` instead: for tests and the bench.
    pub fn with_door(self, door: Door) -> App {
        App { door, ..self }
    }

    /// The limits that apply while records are decoded (`MAX_DECOMPRESSED_BYTES`).
    pub fn decode_limits(&self) -> DecodeLimits {
        self.decode_limits
    }

    /// Where a record's features and key are found.
    pub fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// The loaded model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Where predictions go.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// Where rejected records go.
    pub fn dead_letter(&self) -> &DeadLetter {
        &self.dead_letter
    }

    /// Time kept back from Lambda's deadline for answering.
    pub fn deadline_margin(&self) -> Duration {
        self.deadline_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_sink_without_aws_configuration_is_an_init_error() {
        let config = Config::from_lookup(|name| match name {
            "SINK" => Some("dynamodb".into()),
            "OUTPUT_TABLE" => Some("predictions".into()),
            _ => None,
        })
        .unwrap();
        let error = App::new(&config, Model::embedded(), None).unwrap_err();
        assert_eq!(error.code(), "AwsConfigMissing");
        assert_eq!(
            error.to_string(),
            "SINK=dynamodb needs an AWS configuration, and none was given"
        );
    }
}
