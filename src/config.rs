//! Configuration, parsed once from the environment into typed values.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::model::{BadModelUri, ModelSource};
use crate::sink::dynamodb::ITEM_ATTRIBUTES;
use crate::sink::{Delivery, RetryPolicy};

/// Where predictions are written (`SINK` and its settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    Stdout,
    DynamoDb {
        /// `OUTPUT_TABLE`
        table: String,
        /// `OUTPUT_KEY_ATTRIBUTE`
        key_attribute: String,
        /// `OUTPUT_TTL_ATTRIBUTE` and `OUTPUT_TTL_DAYS` (whole days), when a TTL is wanted.
        ttl_days: Option<(String, u32)>,
    },
    Sqs {
        /// `OUTPUT_QUEUE_URL`
        queue_url: String,
    },
}

const SINKS: &str = "stdout, dynamodb, sqs";

/// Which events the function answers (`DOOR`): stream batches, or HTTP requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Kinesis and DynamoDB Streams batches from an event source mapping (the default).
    Stream,
    /// Lambda Function URL and API Gateway HTTP API (payload 2.0) requests: `POST /predict`,
    /// `GET /model`, `GET /health`.
    Http {
        /// `HTTP_MAX_INSTANCES`: the most instances one `POST /predict` may carry.
        max_instances: usize,
    },
}

/// `HTTP_MAX_INSTANCES` when unset.
pub const DEFAULT_HTTP_MAX_INSTANCES: usize = 1000;

/// Every setting the function reads, with its default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `MODEL_URI`: unset for the embedded model, a path, `file://…` or `s3://…`.
    pub model: ModelSource,
    /// `MODEL_CACHE_DIR`: where a model from S3 is cached, keyed by its ETag.
    pub model_cache_dir: PathBuf,
    /// `FEATURES_FIELD`: the object or map attribute holding the features; top level when unset.
    pub features_field: Option<String>,
    /// `ID_FIELD`: the field holding each record's key (default `id`).
    pub id_field: String,
    /// `SINK` and its settings.
    pub sink: SinkConfig,
    /// `DEAD_LETTER_QUEUE_URL`: where rejected records go; logged at WARN when unset.
    pub dead_letter_queue_url: Option<String>,
    /// `SINK_CONCURRENCY`, `SINK_MAX_ATTEMPTS`, `SINK_BASE_DELAY_MS`, `SINK_MAX_DELAY_MS`.
    pub delivery: Delivery,
    /// `DEADLINE_MARGIN_MS`: retries stop this long before Lambda's deadline.
    pub deadline_margin: Duration,
    /// `MAX_DECOMPRESSED_BYTES`: the most a gzip or zlib payload may expand to, per record.
    pub max_decompressed_bytes: usize,
    /// `METRICS` (`on` or `off`, default on) and `METRICS_NAMESPACE` (default `StreamInfer`):
    /// the EMF document printed per invocation, for the function `AWS_LAMBDA_FUNCTION_NAME`.
    pub metrics: Option<Metrics>,
    /// `DOOR` (`stream` or `http`, default stream) and, for `http`, `HTTP_MAX_INSTANCES`.
    pub door: Door,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not allowed; use one of: {allowed}")]
    NotAllowed {
        var: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{var} must be set when {because}")]
    Missing {
        var: &'static str,
        because: &'static str,
    },
    #[error("{var} must not be empty when set")]
    Empty { var: &'static str },
    #[error(
        "{var}={value:?} collides with {other}, which every output item also writes; choose another name"
    )]
    Collision {
        var: &'static str,
        value: String,
        /// What else writes the attribute: an item attribute, or another variable.
        other: String,
    },
    #[error(transparent)]
    ModelUri(#[from] BadModelUri),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(&lookup);
        let sink = match env.text("SINK").as_deref() {
            None | Some("stdout") => SinkConfig::Stdout,
            Some("dynamodb") => SinkConfig::DynamoDb {
                table: env.required("OUTPUT_TABLE", "SINK=dynamodb")?,
                key_attribute: env
                    .non_empty("OUTPUT_KEY_ATTRIBUTE")?
                    .unwrap_or_else(|| "pk".into()),
                ttl_days: match env.number::<u32>(
                    "OUTPUT_TTL_DAYS",
                    1,
                    36_500,
                    "whole days from 1 to 36500",
                )? {
                    None => None,
                    Some(days) => Some((
                        env.non_empty("OUTPUT_TTL_ATTRIBUTE")?
                            .unwrap_or_else(|| "expires_at".into()),
                        days,
                    )),
                },
            },
            Some("sqs") => SinkConfig::Sqs {
                queue_url: env.required("OUTPUT_QUEUE_URL", "SINK=sqs")?,
            },
            Some(other) => {
                return Err(ConfigError::NotAllowed {
                    var: "SINK",
                    value: other.to_owned(),
                    allowed: SINKS,
                });
            }
        };
        if let SinkConfig::DynamoDb {
            key_attribute,
            ttl_days,
            ..
        } = &sink
        {
            check_item_attributes(key_attribute, ttl_days.as_ref().map(|(a, _)| a.as_str()))?;
        }
        let defaults = RetryPolicy::default();
        let millis = |var, default: Duration, max| {
            env.number::<u64>(var, 0, max, "milliseconds")
                .map(|v| v.map_or(default, Duration::from_millis))
        };
        let retry = RetryPolicy {
            max_attempts: env
                .number("SINK_MAX_ATTEMPTS", 1, 100, "a whole number from 1 to 100")?
                .unwrap_or(defaults.max_attempts),
            base_delay: millis("SINK_BASE_DELAY_MS", defaults.base_delay, 60_000)?,
            max_delay: millis("SINK_MAX_DELAY_MS", defaults.max_delay, 600_000)?,
        };
        let max_instances = env
            .number(
                "HTTP_MAX_INSTANCES",
                1,
                1_000_000,
                "a whole number from 1 to 1000000",
            )?
            .unwrap_or(DEFAULT_HTTP_MAX_INSTANCES);
        let door = match env.text("DOOR").as_deref() {
            None | Some("stream") => Door::Stream,
            Some("http") => Door::Http { max_instances },
            Some(other) => {
                return Err(ConfigError::NotAllowed {
                    var: "DOOR",
                    value: other.to_owned(),
                    allowed: "stream, http",
                });
            }
        };
        Ok(Config {
            door,
            model: ModelSource::parse(lookup("MODEL_URI").as_deref())?,
            model_cache_dir: env
                .non_empty("MODEL_CACHE_DIR")?
                .map_or_else(|| PathBuf::from("/tmp/stream-infer"), PathBuf::from),
            features_field: env.text("FEATURES_FIELD"),
            id_field: env.non_empty("ID_FIELD")?.unwrap_or_else(|| "id".into()),
            sink,
            dead_letter_queue_url: env.text("DEAD_LETTER_QUEUE_URL"),
            delivery: Delivery {
                concurrency: env
                    .number("SINK_CONCURRENCY", 1, 64, "a whole number from 1 to 64")?
                    .unwrap_or(8),
                retry,
            },
            deadline_margin: millis("DEADLINE_MARGIN_MS", Duration::from_millis(1000), 60_000)?,
            max_decompressed_bytes: env
                .number(
                    "MAX_DECOMPRESSED_BYTES",
                    1,
                    1 << 30,
                    "a number of bytes from 1 to 1073741824",
                )?
                .unwrap_or(crate::source::DEFAULT_MAX_DECOMPRESSED_BYTES),
            metrics: match env.text("METRICS").as_deref() {
                None | Some("on") => Some(Metrics::new(
                    env.non_empty("METRICS_NAMESPACE")?
                        .unwrap_or_else(|| "StreamInfer".into()),
                    env.text("AWS_LAMBDA_FUNCTION_NAME")
                        .unwrap_or_else(|| "stream-infer".into()),
                )),
                Some("off") => None,
                Some(other) => {
                    return Err(ConfigError::NotAllowed {
                        var: "METRICS",
                        value: other.to_owned(),
                        allowed: "on, off",
                    });
                }
            },
        })
    }

    /// Whether an AWS client is needed: an AWS sink, a dead-letter queue or a model in S3.
    pub fn needs_aws(&self) -> bool {
        !matches!(self.sink, SinkConfig::Stdout)
            || self.dead_letter_queue_url.is_some()
            || matches!(self.model, ModelSource::S3 { .. })
    }
}

/// Refuses a key or TTL attribute that an output item also writes: the later field would
/// silently overwrite the earlier one.
fn check_item_attributes(key: &str, ttl: Option<&str>) -> Result<(), ConfigError> {
    let taken = |var: &'static str, name: &str| match ITEM_ATTRIBUTES.contains(&name) {
        true => Err(ConfigError::Collision {
            var,
            value: name.to_owned(),
            other: format!("the item attribute {name:?}"),
        }),
        false => Ok(()),
    };
    taken("OUTPUT_KEY_ATTRIBUTE", key)?;
    if let Some(ttl) = ttl {
        taken("OUTPUT_TTL_ATTRIBUTE", ttl)?;
        if ttl == key {
            return Err(ConfigError::Collision {
                var: "OUTPUT_TTL_ATTRIBUTE",
                value: ttl.to_owned(),
                other: format!("OUTPUT_KEY_ATTRIBUTE={key:?}"),
            });
        }
    }
    Ok(())
}

struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    /// A trimmed value; unset and empty are the same.
    fn text(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A value that may be unset but not set to blank.
    fn non_empty(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        match (self.0)(var) {
            Some(v) if v.trim().is_empty() => Err(ConfigError::Empty { var }),
            v => Ok(v.map(|v| v.trim().to_owned())),
        }
    }

    fn required(&self, var: &'static str, because: &'static str) -> Result<String, ConfigError> {
        self.text(var).ok_or(ConfigError::Missing { var, because })
    }

    fn number<T: FromStr + PartialOrd + From<u8> + Copy>(
        &self,
        var: &'static str,
        min: T,
        max: T,
        expected: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.text(var) else {
            return Ok(None);
        };
        match value.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                var,
                value,
                expected,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_environment() {
        let c = config(&[]).unwrap();
        assert_eq!(c.model, ModelSource::Embedded);
        assert_eq!(c.features_field, None);
        assert_eq!(c.id_field, "id");
        assert_eq!(c.sink, SinkConfig::Stdout);
        assert_eq!(c.dead_letter_queue_url, None);
        assert_eq!(c.delivery.concurrency, 8);
        assert_eq!(c.delivery.retry, RetryPolicy::default());
        assert_eq!(c.deadline_margin, Duration::from_secs(1));
        assert_eq!(c.max_decompressed_bytes, 1 << 20);
        assert_eq!(c.metrics, Some(Metrics::new("StreamInfer", "stream-infer")));
        assert!(!c.needs_aws());
    }

    #[test]
    fn metrics_are_named_or_turned_off() {
        let c = config(&[
            ("METRICS_NAMESPACE", "Fraud"),
            ("AWS_LAMBDA_FUNCTION_NAME", "scorer"),
        ])
        .unwrap();
        assert_eq!(c.metrics, Some(Metrics::new("Fraud", "scorer")));
        assert_eq!(config(&[("METRICS", "off")]).unwrap().metrics, None);
        let e = config(&[("METRICS", "yes")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"METRICS="yes" is not allowed; use one of: on, off"#
        );
    }

    #[test]
    fn the_door_is_stream_by_default_or_http_with_its_instance_limit() {
        assert_eq!(config(&[]).unwrap().door, Door::Stream);
        assert_eq!(config(&[("DOOR", "stream")]).unwrap().door, Door::Stream);
        assert_eq!(
            config(&[("DOOR", "http")]).unwrap().door,
            Door::Http {
                max_instances: 1000
            }
        );
        assert_eq!(
            config(&[("DOOR", " http "), ("HTTP_MAX_INSTANCES", "25")])
                .unwrap()
                .door,
            Door::Http { max_instances: 25 }
        );
        let e = config(&[("DOOR", "https")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"DOOR="https" is not allowed; use one of: stream, http"#
        );
        for bad in ["0", "-1", "1e3", "many", "1000001"] {
            let e = config(&[("DOOR", "http"), ("HTTP_MAX_INSTANCES", bad)]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "HTTP_MAX_INSTANCES={bad:?} is not valid: expected a whole number from 1 to 1000000"
                )
            );
        }
        // Checked even on the stream door, so a typo is caught before the door is switched.
        assert!(config(&[("HTTP_MAX_INSTANCES", "0")]).is_err());
    }

    #[test]
    fn max_decompressed_bytes_is_a_positive_byte_count() {
        let c = config(&[("MAX_DECOMPRESSED_BYTES", "4096")]).unwrap();
        assert_eq!(c.max_decompressed_bytes, 4096);
        let err = config(&[("MAX_DECOMPRESSED_BYTES", "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MAX_DECOMPRESSED_BYTES=\"0\" is not valid: expected a number of bytes from 1 to 1073741824"
        );
        assert!(config(&[("MAX_DECOMPRESSED_BYTES", "1MiB")]).is_err());
    }

    #[test]
    fn an_unknown_sink_names_the_variable_and_the_allowed_values() {
        let err = config(&[("SINK", "kafka")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SINK=\"kafka\" is not allowed; use one of: stdout, dynamodb, sqs"
        );
    }

    #[test]
    fn aws_sinks_need_their_target() {
        let err = config(&[("SINK", "dynamodb")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OUTPUT_TABLE must be set when SINK=dynamodb"
        );
        let err = config(&[("SINK", "sqs")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OUTPUT_QUEUE_URL must be set when SINK=sqs"
        );

        let c = config(&[
            ("SINK", "dynamodb"),
            ("OUTPUT_TABLE", "t"),
            ("OUTPUT_TTL_DAYS", "7"),
        ])
        .unwrap();
        assert_eq!(
            c.sink,
            SinkConfig::DynamoDb {
                table: "t".into(),
                key_attribute: "pk".into(),
                ttl_days: Some(("expires_at".into(), 7)),
            }
        );
        assert!(c.needs_aws());
        let c = config(&[("DEAD_LETTER_QUEUE_URL", "http://q")]).unwrap();
        assert!(c.needs_aws());
    }

    #[test]
    fn numbers_are_checked_with_the_variable_named() {
        let err = config(&[("SINK_CONCURRENCY", "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SINK_CONCURRENCY=\"0\" is not valid: expected a whole number from 1 to 64"
        );
        let err = config(&[
            ("SINK", "dynamodb"),
            ("OUTPUT_TABLE", "t"),
            ("OUTPUT_TTL_DAYS", "soon"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().starts_with("OUTPUT_TTL_DAYS=\"soon\""),
            "{err}"
        );
        let c = config(&[
            ("SINK_MAX_ATTEMPTS", "3"),
            ("SINK_BASE_DELAY_MS", "5"),
            ("DEADLINE_MARGIN_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.delivery.retry.max_attempts, 3);
        assert_eq!(c.delivery.retry.base_delay, Duration::from_millis(5));
        assert_eq!(c.deadline_margin, Duration::from_millis(250));
    }

    #[test]
    fn a_key_or_ttl_attribute_that_the_item_also_writes_is_refused() {
        let dynamodb = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![("SINK", "dynamodb"), ("OUTPUT_TABLE", "t")];
            vars.extend_from_slice(extra);
            config(&vars)
        };
        for name in ITEM_ATTRIBUTES {
            let err = dynamodb(&[("OUTPUT_KEY_ATTRIBUTE", name)]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "OUTPUT_KEY_ATTRIBUTE={name:?} collides with the item attribute {name:?}, which every output item also writes; choose another name"
                )
            );
            let err =
                dynamodb(&[("OUTPUT_TTL_DAYS", "1"), ("OUTPUT_TTL_ATTRIBUTE", name)]).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "OUTPUT_TTL_ATTRIBUTE={name:?} collides with the item attribute {name:?}"
                )),
                "{err}"
            );
        }
        let err =
            dynamodb(&[("OUTPUT_TTL_DAYS", "1"), ("OUTPUT_TTL_ATTRIBUTE", "pk")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OUTPUT_TTL_ATTRIBUTE=\"pk\" collides with OUTPUT_KEY_ATTRIBUTE=\"pk\", which every output item also writes; choose another name"
        );
        // The TTL attribute only counts when a TTL is wanted; other names are fine.
        assert!(dynamodb(&[("OUTPUT_TTL_ATTRIBUTE", "pk")]).is_ok());
        assert!(dynamodb(&[("OUTPUT_KEY_ATTRIBUTE", "prediction_id")]).is_ok());
    }

    #[test]
    fn fields_and_model_are_read() {
        let c = config(&[
            ("FEATURES_FIELD", "features"),
            ("ID_FIELD", "patient"),
            ("MODEL_URI", "/opt/model.json"),
        ])
        .unwrap();
        assert_eq!(c.features_field.as_deref(), Some("features"));
        assert_eq!(c.id_field, "patient");
        assert_eq!(c.model, ModelSource::File("/opt/model.json".into()));
        assert!(config(&[("ID_FIELD", " ")]).is_err());
        assert!(config(&[("MODEL_URI", "ftp://x/y")]).is_err());
    }
}
