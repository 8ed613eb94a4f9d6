//! Configuration, parsed once from the environment into typed values.

use crate::model::{ModelError, ModelSource};

/// Where predictions are written (`SINK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Stdout,
}

impl SinkKind {
    const ALLOWED: &'static str = "stdout";

    fn parse(value: &str) -> Option<SinkKind> {
        match value {
            "stdout" => Some(SinkKind::Stdout),
            _ => None,
        }
    }
}

/// Every setting the function reads, with its default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `MODEL_URI`: unset for the embedded model, a path, `file://…` or `s3://…`.
    pub model: ModelSource,
    /// `FEATURES_FIELD`: the object or map attribute holding the features; top level when unset.
    pub features_field: Option<String>,
    /// `ID_FIELD`: the field holding each record's key (default `id`).
    pub id_field: String,
    /// `SINK`: where predictions go (default `stdout`).
    pub sink: SinkKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is not allowed; use one of: {allowed}")]
    NotAllowed {
        var: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("{var} must not be empty when set")]
    Empty { var: &'static str },
    #[error(transparent)]
    ModelUri(#[from] ModelError),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let sink = match lookup("SINK").as_deref().map(str::trim) {
            None | Some("") => SinkKind::Stdout,
            Some(value) => SinkKind::parse(value).ok_or_else(|| ConfigError::NotAllowed {
                var: "SINK",
                value: value.to_owned(),
                allowed: SinkKind::ALLOWED,
            })?,
        };
        let id_field = match lookup("ID_FIELD") {
            None => "id".to_owned(),
            Some(v) if v.trim().is_empty() => return Err(ConfigError::Empty { var: "ID_FIELD" }),
            Some(v) => v.trim().to_owned(),
        };
        Ok(Config {
            model: ModelSource::parse(lookup("MODEL_URI").as_deref())?,
            features_field: lookup("FEATURES_FIELD")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            id_field,
            sink,
        })
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
        assert_eq!(c.sink, SinkKind::Stdout);
    }

    #[test]
    fn an_unknown_sink_names_the_variable_and_the_allowed_values() {
        let err = config(&[("SINK", "kafka")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "SINK=\"kafka\" is not allowed; use one of: {}",
                SinkKind::ALLOWED
            )
        );
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
