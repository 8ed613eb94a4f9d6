//! The model artifact: metadata, preprocessing and a fitted linfa-linear model in one JSON file.
//!
//! An artifact is loaded once per process and checked before it serves: its format version, that
//! its coefficients and preprocessing match its feature list, and that its `version` (a content
//! hash) matches what it holds, so a hand-edited or truncated file is caught at init.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use linfa::traits::Predict;
use linfa_linear::{FittedLinearRegression, TweedieRegressor};
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The artifact layout this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The diabetes model shipped inside the binary, used when `MODEL_URI` is unset.
pub const EMBEDDED: &str = include_str!("../model/model.json");

/// The on-disk model file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub format_version: u32,
    pub name: String,
    /// `sha256:` and the first 16 hex digits of the hash of what predicts: features, target,
    /// preprocessing and estimator. Retraining on the same data gives the same version.
    pub version: String,
    pub features: Vec<String>,
    pub target: String,
    pub preprocessing: Preprocessing,
    pub estimator: Estimator,
    pub training: Training,
}

/// What is done to a row before the estimator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preprocessing {
    None,
    /// `(x - mean) / scale`, per feature.
    Standardize {
        mean: Vec<f64>,
        scale: Vec<f64>,
    },
}

impl Preprocessing {
    /// Transforms raw rows (model feature order) in place, as training did.
    pub fn apply(&self, x: &mut Array2<f64>) {
        if let Preprocessing::Standardize { mean, scale } = self {
            for (mut column, (m, s)) in x.axis_iter_mut(Axis(1)).zip(mean.iter().zip(scale)) {
                column.mapv_inplace(|v| (v - m) / s);
            }
        }
    }
}

/// The fitted linfa-linear model, persisted through linfa-linear's serde support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    LinearRegression {
        model: FittedLinearRegression<f64>,
    },
    Tweedie {
        family: Family,
        power: f64,
        alpha: f64,
        model: TweedieRegressor<f64>,
    },
}

/// A generalized linear model's distribution family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Normal,
    Poisson,
    Gamma,
    InverseGaussian,
}

impl Family {
    /// The Tweedie power of the family.
    pub fn power(self) -> f64 {
        match self {
            Family::Normal => 0.0,
            Family::Poisson => 1.0,
            Family::Gamma => 2.0,
            Family::InverseGaussian => 3.0,
        }
    }
}

impl Estimator {
    fn coefficients(&self) -> usize {
        match self {
            Estimator::LinearRegression { model } => model.params().len(),
            Estimator::Tweedie { model, .. } => model.coef.len(),
        }
    }
}

/// How and on what the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub data_source: String,
    pub trained_at: String,
    pub train_rows: usize,
    pub holdout_rows: usize,
    pub train: Metrics,
    pub holdout: Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// `None` when the target is constant over the rows, where R² is undefined.
    pub r2: Option<f64>,
    pub rmse: f64,
}

/// Where to load the model from (`MODEL_URI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The diabetes model compiled into the binary.
    Embedded,
    /// A local path, given plainly or as a `file://` URI.
    File(PathBuf),
    /// An S3 object, downloaded once at init.
    S3 { bucket: String, key: String },
}

impl ModelSource {
    /// Parses `MODEL_URI`: unset or empty is the embedded model.
    pub fn parse(uri: Option<&str>) -> Result<ModelSource, ModelError> {
        let Some(uri) = uri.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(ModelSource::Embedded);
        };
        if let Some(path) = uri.strip_prefix("file://") {
            return Ok(ModelSource::File(PathBuf::from(path)));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(ModelSource::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                _ => Err(ModelError::BadUri {
                    uri: uri.to_owned(),
                    detail: "an S3 URI is s3://BUCKET/KEY".to_owned(),
                }),
            };
        }
        match uri.split_once("://") {
            Some((scheme, _)) => Err(ModelError::BadUri {
                uri: uri.to_owned(),
                detail: format!(
                    "scheme {scheme}:// is not supported; use a path, file:// or s3://"
                ),
            }),
            None => Ok(ModelSource::File(PathBuf::from(uri))),
        }
    }
}

/// Why a model could not be loaded. Each names the model's origin.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("MODEL_URI {uri:?} is not usable: {detail}")]
    BadUri { uri: String, detail: String },
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
    #[error("model {origin} lists {features} features but its estimator has {coefficients} coefficients")]
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
    #[error("model {origin} declares version {declared} but its contents hash to {computed}: the file was changed after training")]
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
            ModelError::BadUri { .. } => "ModelUriInvalid",
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

impl Artifact {
    /// The content hash that becomes [`Artifact::version`].
    pub fn content_hash(&self) -> String {
        #[derive(Serialize)]
        struct Predictive<'a> {
            features: &'a [String],
            target: &'a str,
            preprocessing: &'a Preprocessing,
            estimator: &'a Estimator,
        }
        let bytes = serde_json::to_vec(&Predictive {
            features: &self.features,
            target: &self.target,
            preprocessing: &self.preprocessing,
            estimator: &self.estimator,
        })
        .expect("a model artifact always serializes");
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Pretty JSON, as written by `stream-infer train`.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("a model artifact always serializes");
        text.push('\n');
        text
    }

    fn validate(&self, origin: &str) -> Result<(), ModelError> {
        let features = self.features.len();
        let coefficients = self.estimator.coefficients();
        if coefficients != features {
            return Err(ModelError::FeatureCount {
                origin: origin.to_owned(),
                features,
                coefficients,
            });
        }
        if let Preprocessing::Standardize { mean, scale } = &self.preprocessing {
            if let Some(found) = [mean.len(), scale.len()]
                .into_iter()
                .find(|&n| n != features)
            {
                return Err(ModelError::PreprocessingWidth {
                    origin: origin.to_owned(),
                    features,
                    found,
                });
            }
        }
        let computed = self.content_hash();
        if computed != self.version {
            return Err(ModelError::Checksum {
                origin: origin.to_owned(),
                declared: self.version.clone(),
                computed,
            });
        }
        Ok(())
    }
}

/// A loaded, validated model, ready to predict batches.
#[derive(Debug)]
pub struct Model {
    artifact: Artifact,
    predict_calls: AtomicU64,
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
                })
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
        Ok(Model {
            artifact,
            predict_calls: AtomicU64::new(0),
        })
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

    /// How many times [`predict`](Self::predict) has run in this process.
    pub fn predict_calls(&self) -> u64 {
        self.predict_calls.load(Ordering::Relaxed)
    }

    /// Predicts every row of `x` (raw features, model order) in one vectorized call.
    pub fn predict(&self, mut x: Array2<f64>) -> Array1<f64> {
        self.predict_calls.fetch_add(1, Ordering::Relaxed);
        self.artifact.preprocessing.apply(&mut x);
        match &self.artifact.estimator {
            Estimator::LinearRegression { model } => model.predict(&x),
            Estimator::Tweedie { model, .. } => model.predict(&x),
        }
    }
}

/// Loads the model `MODEL_URI` names: once per process, before the first invocation. A model in
/// S3 needs `aws`, and is cached in `cache_dir` under its ETag, so a restarted process in a warm
/// container reads it from disk after one HeadObject.
pub async fn load(
    source: &ModelSource,
    aws: Option<&aws_config::SdkConfig>,
    cache_dir: &Path,
) -> Result<Model, ModelError> {
    match source {
        ModelSource::Embedded => Ok(Model::embedded()),
        ModelSource::File(path) => Model::from_path(path),
        ModelSource::S3 { bucket, key } => {
            let aws = aws.expect("AWS configuration is loaded for an S3 model");
            let mut s3 = aws_sdk_s3::config::Builder::from(aws);
            // Local endpoints (moto, MinIO) serve buckets by path, not by host name.
            if aws.endpoint_url().is_some() {
                s3 = s3.force_path_style(true);
            }
            let client = aws_sdk_s3::Client::from_conf(s3.build());
            load_s3(&client, bucket, key, cache_dir).await
        }
    }
}

/// Fetches `s3://bucket/key` through `client`, or reads the copy cached under its ETag.
pub async fn load_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    cache_dir: &Path,
) -> Result<Model, ModelError> {
    let origin = format!("s3://{bucket}/{key}");
    let fetch = |detail: String| ModelError::Fetch {
        origin: origin.clone(),
        detail,
    };
    let head = client.head_object().bucket(bucket).key(key).send().await;
    let head = match head {
        Ok(head) => head,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            return Err(ModelError::ObjectMissing { uri: origin });
        }
        Err(e) => {
            return Err(fetch(
                aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            ))
        }
    };
    let etag = head
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    let cached = cache_path(cache_dir, &origin, &etag);
    if let Some(path) = &cached {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(model) = Model::from_json(&text, &origin) {
                tracing::info!(model = %origin, cache = %path.display(), "model read from cache");
                return Ok(model);
            }
        }
    }
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| fetch(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| fetch(e.to_string()))?
        .into_bytes();
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ModelError::Json {
        origin: origin.clone(),
        cause: serde::de::Error::custom("the object is not UTF-8 text"),
    })?;
    let model = Model::from_json(&text, &origin)?;
    if let Some(path) = cached {
        // Only a model that validated is cached; a failed write only costs a download next time.
        if let Err(e) = write_atomically(&path, &text) {
            tracing::warn!(cache = %path.display(), error = %e, "model cache not written");
        }
    }
    Ok(model)
}

/// `<dir>/<hash of the URI>-<etag>.json`; no cache for an object without an ETag.
fn cache_path(dir: &Path, origin: &str, etag: &str) -> Option<PathBuf> {
    let etag: String = etag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if etag.is_empty() {
        return None;
    }
    let digest = Sha256::digest(origin.as_bytes());
    let uri: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Some(dir.join(format!("{uri}-{etag}.json")))
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(model.predict_calls(), 1);
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
