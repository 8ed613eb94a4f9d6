//! The model: the artifact schema ([`artifact`]), where it comes from (`source`), how it is
//! fetched and cached (`load`), and [`Model`], which predicts a batch in one evaluation.
//!
//! An artifact is loaded once per process and checked before it serves: its format version, that
//! its coefficients and preprocessing match its feature list, and that its `version` (a content
//! hash) matches what it holds, so a hand-edited or truncated file is caught at init.

pub mod artifact;
mod load;
mod source;

use std::path::{Path, PathBuf};

use linfa::traits::Predict;
use ndarray::{Array1, Array2};
use serde::Deserialize;

pub use artifact::{Artifact, Estimator, FORMAT_VERSION, Family, Metrics, Preprocessing, Training};
pub use load::{load, load_s3};
pub use source::{BadModelUri, ModelSource};

/// The diabetes model shipped inside the binary, used when `MODEL_URI` is unset.
pub const EMBEDDED: &str = include_str!("../../model/model.json");

/// Why a model could not be loaded. Each names the model's origin.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {} does not exist", path.display())]
    NotFound { path: PathBuf },
    // The causes are part of the message, not error sources, so `{:#}` does not repeat them.
    #[error("model file {} could not be read: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("model {origin} is not valid model JSON: {cause}")]
    Json {
        origin: String,
        cause: serde_json::Error,
    },
    #[error(
        "model {origin} has format_version {found}; this build reads format_version {supported}"
    )]
    FormatVersion {
        origin: String,
        found: u64,
        supported: u32,
    },
    #[error(
        "model {origin} lists {features} features but its estimator has {coefficients} coefficients"
    )]
    FeatureCount {
        origin: String,
        features: usize,
        coefficients: usize,
    },
    #[error("model {origin} lists {features} features but its standardization has {found} values")]
    PreprocessingWidth {
        origin: String,
        features: usize,
        found: usize,
    },
    #[error(
        "model {origin} declares version {declared} but its contents hash to {computed}: the file was changed after training"
    )]
    Checksum {
        origin: String,
        declared: String,
        computed: String,
    },
    #[error("model {origin} could not be fetched: {detail}")]
    Fetch { origin: String, detail: String },
    #[error("model {uri} does not exist (no such S3 object)")]
    ObjectMissing { uri: String },
}

impl ModelError {
    /// A stable error type for Lambda's init error report.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::NotFound { .. } | ModelError::ObjectMissing { .. } => "ModelNotFound",
            ModelError::Read { .. } | ModelError::Fetch { .. } => "ModelUnreadable",
            ModelError::Json { .. } => "ModelCorrupt",
            ModelError::FormatVersion { .. } => "ModelFormatUnsupported",
            ModelError::FeatureCount { .. } | ModelError::PreprocessingWidth { .. } => {
                "ModelInconsistent"
            }
            ModelError::Checksum { .. } => "ModelChecksumMismatch",
        }
    }
}

/// A loaded, validated model, ready to predict batches.
#[derive(Debug)]
pub struct Model {
    artifact: Artifact,
}

impl Model {
    /// Parses and validates an artifact; `origin` names it in errors (a path or URI).
    pub fn from_json(text: &str, origin: &str) -> Result<Model, ModelError> {
        #[derive(Deserialize)]
        struct Header {
            format_version: Option<u64>,
        }
        let json_error = |cause| ModelError::Json {
            origin: origin.to_owned(),
            cause,
        };
        // The version is read first so a future layout is reported as such, not as bad JSON.
        let header: Header = serde_json::from_str(text).map_err(json_error)?;
        match header.format_version {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(ModelError::FormatVersion {
                    origin: origin.to_owned(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            None => {
                return Err(json_error(serde::de::Error::missing_field(
                    "format_version",
                )));
            }
        }
        let artifact: Artifact = serde_json::from_str(text).map_err(json_error)?;
        Model::new(artifact, origin)
    }

    /// Validates an artifact built in memory, such as one just trained.
    pub fn new(artifact: Artifact, origin: &str) -> Result<Model, ModelError> {
        artifact.validate(origin)?;
        Ok(Model { artifact })
    }

    /// Reads a model file.
    pub fn from_path(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::NotFound {
                ModelError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                ModelError::Read {
                    path: path.to_owned(),
                    cause,
                }
            }
        })?;
        Model::from_json(&text, &path.display().to_string())
    }

    /// The model compiled into the binary.
    pub fn embedded() -> Model {
        Model::from_json(EMBEDDED, "embedded").expect("the embedded model is valid")
    }

    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    pub fn name(&self) -> &str {
        &self.artifact.name
    }

    pub fn version(&self) -> &str {
        &self.artifact.version
    }

    pub fn features(&self) -> &[String] {
        &self.artifact.features
    }

    /// Predicts every row of `x` (raw features, model order) in one vectorized call.
    pub fn predict(&self, mut x: Array2<f64>) -> Array1<f64> {
        self.artifact.preprocessing.apply(&mut x);
        match &self.artifact.estimator {
            Estimator::LinearRegression { model } => model.predict(&x),
            Estimator::Tweedie { model, .. } => model.predict(&x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa_linear::FittedLinearRegression;
    use ndarray::array;

    #[test]
    fn the_embedded_model_loads_and_names_itself() {
        let model = Model::embedded();
        assert_eq!(model.name(), "diabetes");
        assert_eq!(model.features().len(), 10);
        assert!(model.version().starts_with("sha256:"));
    }

    #[test]
    fn predict_standardizes_then_applies_the_linear_formula() {
        let model = Model::embedded();
        let a = model.artifact();
        let Preprocessing::Standardize { mean, scale } = &a.preprocessing else {
            panic!("the embedded model standardizes");
        };
        let Estimator::LinearRegression { model: ols } = &a.estimator else {
            panic!("the embedded model is OLS");
        };
        let row = [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0];
        let expected = ols.intercept()
            + (0..10)
                .map(|i| (row[i] - mean[i]) / scale[i] * ols.params()[i])
                .sum::<f64>();
        let x = Array2::from_shape_vec((1, 10), row.to_vec()).unwrap();
        let got = model.predict(x);
        assert!((got[0] - expected).abs() < 1e-9, "{} vs {expected}", got[0]);
    }

    fn tiny(version: Option<&str>) -> Artifact {
        let model: FittedLinearRegression<f64> = serde_json::from_value(
            serde_json::json!({"intercept": 1.0, "params": {"v":1,"dim":[2],"data":[2.0,3.0]}}),
        )
        .unwrap();
        let mut artifact = Artifact {
            format_version: FORMAT_VERSION,
            name: "tiny".into(),
            version: String::new(),
            features: vec!["a".into(), "b".into()],
            target: "y".into(),
            preprocessing: Preprocessing::None,
            estimator: Estimator::LinearRegression { model },
            training: Training {
                data_source: "test".into(),
                trained_at: "2026-01-01T00:00:00Z".into(),
                train_rows: 0,
                holdout_rows: 0,
                train: Metrics {
                    r2: Some(1.0),
                    rmse: 0.0,
                },
                holdout: Metrics {
                    r2: Some(1.0),
                    rmse: 0.0,
                },
            },
        };
        artifact.version = version.map_or_else(|| artifact.content_hash(), str::to_owned);
        artifact
    }

    #[test]
    fn an_artifact_round_trips_through_json() {
        let text = tiny(None).to_json();
        let model = Model::from_json(&text, "tiny.json").unwrap();
        assert_eq!(
            model.predict(array![[1.0, 1.0], [0.0, 2.0]]),
            array![6.0, 7.0]
        );
    }

    #[test]
    fn load_errors_are_specific() {
        let missing = Model::from_path(Path::new("/nonexistent/model.json")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "model file /nonexistent/model.json does not exist"
        );
        assert_eq!(missing.code(), "ModelNotFound");

        let bad = Model::from_json("{\"format_version\": 1, ", "m.json").unwrap_err();
        assert_eq!(bad.code(), "ModelCorrupt");
        assert!(
            bad.to_string()
                .starts_with("model m.json is not valid model JSON"),
            "{bad}"
        );

        let future = tiny(None)
            .to_json()
            .replace("\"format_version\": 1", "\"format_version\": 9");
        let err = Model::from_json(&future, "m.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "model m.json has format_version 9; this build reads format_version 1"
        );

        let mut wide = tiny(None);
        wide.features.push("c".into());
        wide.version = wide.content_hash();
        let err = Model::from_json(&wide.to_json(), "m.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "model m.json lists 3 features but its estimator has 2 coefficients"
        );

        let edited = tiny(Some("sha256:0000000000000000"));
        let err = Model::from_json(&edited.to_json(), "m.json").unwrap_err();
        assert_eq!(err.code(), "ModelChecksumMismatch");
    }

    #[test]
    fn model_uris_parse_or_say_why_not() {
        assert_eq!(ModelSource::parse(None).unwrap(), ModelSource::Embedded);
        assert_eq!(
            ModelSource::parse(Some(" ")).unwrap(),
            ModelSource::Embedded
        );
        assert_eq!(
            ModelSource::parse(Some("/opt/model.json")).unwrap(),
            ModelSource::File("/opt/model.json".into())
        );
        assert_eq!(
            ModelSource::parse(Some("file:///opt/model.json")).unwrap(),
            ModelSource::File("/opt/model.json".into())
        );
        assert_eq!(
            ModelSource::parse(Some("s3://bucket/models/m.json")).unwrap(),
            ModelSource::S3 {
                bucket: "bucket".into(),
                key: "models/m.json".into()
            }
        );
        let err = ModelSource::parse(Some("https://example/m.json")).unwrap_err();
        assert!(
            err.to_string().contains("scheme https:// is not supported"),
            "{err}"
        );
        assert!(ModelSource::parse(Some("s3://bucket")).is_err());
    }
}
