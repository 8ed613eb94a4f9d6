//! The model: the artifact schema ([`artifact`]), where it comes from (`source`), how it is
//! fetched and cached (`load`), and [`Model`], which predicts a batch in one evaluation.
//!
//! An artifact is loaded once per process and checked before it serves: its format version, that
//! its coefficients and preprocessing match its feature list, and that its `version` (a content
//! hash) matches what it holds, so a hand-edited or truncated file is caught at init. A model
//! that would load but could not serve is refused too, with a code per class of problem (see
//! [`ModelError::code`]): no features (a constant for every record), a zero divisor (nothing
//! finite), a name or label listed twice, a non-finite number anywhere, a GLM link its family
//! cannot use, a classifier with fewer than two classes, an index that points nowhere.

pub mod artifact;
mod estimator;
mod load;
pub mod schema;
mod source;
mod text;
mod transform;

use std::path::{Path, PathBuf};

use linfa::traits::Predict;
use ndarray::{Array1, Array2};
use serde::Deserialize;

pub use artifact::{Artifact, Estimator, FORMAT_VERSION, Family, Metrics, Preprocessing, Training};
pub use estimator::{Output, Scorer};
pub use load::{load, load_s3};
pub use schema::Label;
pub use source::{BadModelUri, ModelSource};
pub use transform::{Features, Program, RecordError, Value};

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
        "model {origin} has format_version {found}; this build reads format_versions 1 to {supported}"
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
    #[error("model {origin} lists no features: it would predict the same value for every record")]
    ZeroFeatures { origin: String },
    #[error(
        "model {origin}: feature `{name}` is listed twice, at features[{first}] and features[{second}]; a record cannot give it two values"
    )]
    DuplicateFeature {
        origin: String,
        name: String,
        first: usize,
        second: usize,
    },
    #[error("model {origin}: {at} is {value}, not a finite number")]
    NonFinite {
        origin: String,
        at: String,
        value: f64,
    },
    #[error(
        "model {origin}: the number at line {line} column {column} is too large for a 64-bit float (it would be infinite)"
    )]
    NumberOutOfRange {
        origin: String,
        line: usize,
        column: usize,
    },
    #[error(
        "model {origin}: {at} is zero; standardizing divides by it, so every prediction would be non-finite"
    )]
    ScaleZero { origin: String, at: String },
    #[error(
        "model {origin}: estimator.model.link is {link:?}, which a {family} GLM cannot use; it needs {allowed:?}"
    )]
    GlmLink {
        origin: String,
        family: &'static str,
        link: String,
        allowed: &'static [&'static str],
    },
    #[error(
        "model {origin}: estimator.power is {power}, but the {family} family's power is {expected}"
    )]
    GlmPower {
        origin: String,
        family: &'static str,
        power: f64,
        expected: f64,
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
    #[error("model {origin}: {cause}")]
    Transform {
        origin: String,
        cause: Box<transform::TransformError>,
    },
    #[error("model {origin}: estimator: {cause}")]
    Estimator {
        origin: String,
        cause: Box<estimator::EstimatorError>,
    },
    #[error("model {origin} could not be fetched: {detail}")]
    Fetch { origin: String, detail: String },
    #[error("model {uri} does not exist (no such S3 object)")]
    ObjectMissing { uri: String },
}

impl ModelError {
    /// A stable error type for Lambda's init error report. Degenerate models get a code per
    /// class of problem, the same for format_version 1 and 2: `ModelZeroFeatures`,
    /// `ModelScaleZero`, `ModelDuplicateFeature`, `ModelNonFinite`, `ModelGlmLink`,
    /// `ModelTooFewClasses`, `ModelDuplicateLabel`, `ModelIndexInvalid`; parts that disagree on
    /// a size are `ModelInconsistent`.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::NotFound { .. } | ModelError::ObjectMissing { .. } => "ModelNotFound",
            ModelError::Read { .. } | ModelError::Fetch { .. } => "ModelUnreadable",
            ModelError::Json { .. } => "ModelCorrupt",
            ModelError::FormatVersion { .. } => "ModelFormatUnsupported",
            ModelError::FeatureCount { .. }
            | ModelError::PreprocessingWidth { .. }
            | ModelError::GlmPower { .. } => "ModelInconsistent",
            ModelError::ZeroFeatures { .. } => "ModelZeroFeatures",
            ModelError::DuplicateFeature { .. } => "ModelDuplicateFeature",
            ModelError::NonFinite { .. } | ModelError::NumberOutOfRange { .. } => "ModelNonFinite",
            ModelError::ScaleZero { .. } => "ModelScaleZero",
            ModelError::GlmLink { .. } => "ModelGlmLink",
            ModelError::Checksum { .. } => "ModelChecksumMismatch",
            ModelError::Transform { cause, .. } => transform_code(cause),
            ModelError::Estimator { cause, .. } => estimator_code(cause),
        }
    }
}

fn transform_code(cause: &transform::TransformError) -> &'static str {
    use text::TextSpecError as Text;
    use transform::TransformError as E;
    match cause {
        E::ZeroFeatures | E::CategoryListEmpty { .. } => "ModelZeroFeatures",
        E::ScaleZero { .. } => "ModelScaleZero",
        E::DuplicateFeature { .. } | E::DuplicateInput { .. } => "ModelDuplicateFeature",
        E::DuplicateCategory { .. } => "ModelDuplicateLabel",
        E::DropOutOfRange { .. } => "ModelIndexInvalid",
        E::NonFinite { .. } => "ModelNonFinite",
        E::StepLength { .. } | E::WidthMismatch { .. } => "ModelInconsistent",
        E::TransformUnknownInput { .. } | E::InputUnused { .. } => "ModelTransformInput",
        E::TextSpec { source, .. } => match source {
            Text::EmptyVocabulary => "ModelZeroFeatures",
            Text::IdfValue { value, .. } if !value.is_finite() => "ModelNonFinite",
            Text::IdfLength { .. } => "ModelInconsistent",
            Text::VocabularyIndexOutOfRange { .. } | Text::VocabularyDuplicateIndex { .. } => {
                "ModelIndexInvalid"
            }
            _ => "ModelTransformInvalid",
        },
        _ => "ModelTransformInvalid",
    }
}

fn estimator_code(cause: &estimator::EstimatorError) -> &'static str {
    use estimator::EstimatorError as E;
    match cause {
        E::NonFinite { .. } | E::GlmPower { .. } => "ModelNonFinite",
        E::Width { .. }
        | E::CoefRows { .. }
        | E::InterceptLength { .. }
        | E::BinaryClasses { .. } => "ModelInconsistent",
        E::TooFewClasses { .. } => "ModelTooFewClasses",
        E::DuplicateClass { .. } => "ModelDuplicateLabel",
        E::MixedClassTypes { .. } => "ModelEstimatorInvalid",
    }
}

/// A loaded, validated model, ready to predict batches.
#[derive(Debug)]
pub struct Model {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// format_version 1: numeric features, optional standardization, a linfa-linear regressor.
    Linear(Box<Artifact>),
    /// format_version 2: typed inputs, declared transforms, any linear estimator.
    Typed(Box<Typed>),
}

/// A format_version 2 model, compiled: the transforms and the estimator ready for a batch.
#[derive(Debug)]
pub struct Typed {
    artifact: schema::Artifact,
    version: String,
    inputs: Vec<String>,
    program: Program,
    scorer: Scorer,
}

impl Typed {
    /// The artifact as loaded.
    pub fn artifact(&self) -> &schema::Artifact {
        &self.artifact
    }

    /// The compiled transforms.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The compiled estimator: one evaluation per batch.
    pub fn scorer(&self) -> &Scorer {
        &self.scorer
    }
}

/// The content hash of a format_version 2 artifact: what predicts, not where it came from.
pub fn typed_content_hash(artifact: &schema::Artifact) -> String {
    #[derive(serde::Serialize)]
    struct Predictive<'a> {
        target: &'a str,
        inputs: &'a [schema::Input],
        transforms: &'a schema::Transforms,
        feature_names: &'a [String],
        estimator: &'a schema::Estimator,
    }
    // Every map in the artifact is a BTreeMap, so the bytes are the same in every process.
    let bytes = serde_json::to_vec(&Predictive {
        target: &artifact.target,
        inputs: &artifact.inputs,
        transforms: &artifact.transforms,
        feature_names: &artifact.feature_names,
        estimator: &artifact.estimator,
    })
    .expect("a model artifact always serializes");
    format!("sha256:{}", crate::digest::sha256_hex(&bytes, 8))
}

impl Model {
    /// Parses and validates an artifact; `origin` names it in errors (a path or URI).
    pub fn from_json(text: &str, origin: &str) -> Result<Model, ModelError> {
        #[derive(Deserialize)]
        struct Header {
            format_version: Option<u64>,
        }
        let json_error = |cause: serde_json::Error| {
            // serde_json refuses a literal beyond f64's range (`1e999`) rather than reading an
            // infinity; that is a non-finite number in the artifact, not a syntax error. Its
            // message is the only place serde_json says which error it is.
            if cause.to_string().starts_with("number out of range") {
                return ModelError::NumberOutOfRange {
                    origin: origin.to_owned(),
                    line: cause.line(),
                    column: cause.column(),
                };
            }
            ModelError::Json {
                origin: origin.to_owned(),
                cause,
            }
        };
        // The version is read first so a future layout is reported as such, not as bad JSON.
        let header: Header = serde_json::from_str(text).map_err(json_error)?;
        match header.format_version {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) if v == u64::from(schema::FORMAT_VERSION) => {
                let artifact: schema::Artifact = serde_json::from_str(text).map_err(json_error)?;
                return Model::typed(artifact, origin);
            }
            Some(found) => {
                return Err(ModelError::FormatVersion {
                    origin: origin.to_owned(),
                    found,
                    supported: schema::FORMAT_VERSION,
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
        Ok(Model {
            kind: Kind::Linear(Box::new(artifact)),
        })
    }

    /// Validates and compiles a format_version 2 artifact: its transforms, its estimator, and
    /// that its version is the hash of what it holds.
    pub fn typed(artifact: schema::Artifact, origin: &str) -> Result<Model, ModelError> {
        let program = Program::new(
            &artifact.inputs,
            &artifact.transforms,
            &artifact.feature_names,
        )
        .map_err(|cause| ModelError::Transform {
            origin: origin.to_owned(),
            cause: Box::new(cause),
        })?;
        let scorer = artifact
            .estimator
            .compile(program.width())
            .map_err(|cause| ModelError::Estimator {
                origin: origin.to_owned(),
                cause: Box::new(cause),
            })?;
        let computed = typed_content_hash(&artifact);
        let declared = artifact.version.clone().unwrap_or_default();
        if computed != declared {
            return Err(ModelError::Checksum {
                origin: origin.to_owned(),
                declared,
                computed,
            });
        }
        let inputs = artifact.inputs.iter().map(|i| i.name.clone()).collect();
        Ok(Model {
            kind: Kind::Typed(Box::new(Typed {
                artifact,
                version: computed,
                inputs,
                program,
                scorer,
            })),
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

    /// The format_version 1 artifact, for a numeric linear model.
    pub fn artifact(&self) -> Option<&Artifact> {
        match &self.kind {
            Kind::Linear(artifact) => Some(artifact),
            Kind::Typed(_) => None,
        }
    }

    /// The compiled format_version 2 model, when it is one.
    pub fn typed_model(&self) -> Option<&Typed> {
        match &self.kind {
            Kind::Linear(_) => None,
            Kind::Typed(typed) => Some(typed),
        }
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Linear(a) => &a.name,
            Kind::Typed(t) => &t.artifact.name,
        }
    }

    /// The content hash that identifies what the model predicts.
    pub fn version(&self) -> &str {
        match &self.kind {
            Kind::Linear(a) => &a.version,
            Kind::Typed(t) => &t.version,
        }
    }

    /// What a user of a model service asks about a model: its kind, inputs, transforms, classes,
    /// where it came from, its metrics and its version. No coefficients or vocabularies.
    pub fn describe(&self) -> serde_json::Value {
        use serde_json::json;
        match &self.kind {
            Kind::Linear(a) => json!({
                "name": a.name,
                "version": a.version,
                "format_version": a.format_version,
                "kind": match &a.estimator {
                    Estimator::LinearRegression { .. } => "linear_regression".to_owned(),
                    Estimator::Tweedie { family, .. } => format!("glm ({})", serde_json::to_value(family).ok().and_then(|f| f.as_str().map(str::to_owned)).unwrap_or_default()),
                },
                "target": a.target,
                "inputs": a.features.iter().map(|f| json!({"name": f, "kind": "number"})).collect::<Vec<_>>(),
                "transforms": match &a.preprocessing {
                    Preprocessing::None => json!([]),
                    Preprocessing::Standardize { .. } => json!([{"inputs": a.features, "steps": ["standard_scaler"]}]),
                },
                "features": a.features.len(),
                "provenance": {
                    "kind": "trained",
                    "data_source": a.training.data_source,
                    "trained_at": a.training.trained_at,
                    "train_rows": a.training.train_rows,
                    "holdout_rows": a.training.holdout_rows,
                },
                "metrics": {"train": a.training.train, "holdout": a.training.holdout},
            }),
            Kind::Typed(t) => {
                let a = &t.artifact;
                let classes = match &a.estimator {
                    schema::Estimator::Logistic { classes, .. }
                    | schema::Estimator::LinearClassifier { classes, .. } => Some(classes),
                    _ => None,
                };
                let probabilities = matches!(a.estimator, schema::Estimator::Logistic { .. });
                let blocks: Vec<_> = a
                    .transforms
                    .blocks
                    .iter()
                    .map(|b| json!({"inputs": b.inputs, "steps": b.steps.iter().map(|s| s.kind()).collect::<Vec<_>>()}))
                    .collect();
                json!({
                    "name": a.name,
                    "version": t.version,
                    "format_version": a.format_version,
                    "kind": a.estimator.kind(),
                    "target": a.target,
                    "inputs": a.inputs,
                    "transforms": blocks,
                    "then": a.transforms.then.iter().map(|s| s.kind()).collect::<Vec<_>>(),
                    "features": a.feature_names.len(),
                    "classes": classes,
                    "probabilities": probabilities,
                    "provenance": a.provenance,
                    "metrics": a.metrics,
                })
            }
        }
    }

    /// The record fields the model reads, in order.
    pub fn features(&self) -> &[String] {
        match &self.kind {
            Kind::Linear(a) => &a.features,
            Kind::Typed(t) => &t.inputs,
        }
    }

    /// Predicts every row of `x` (raw features, model order) in one vectorized call.
    /// For a typed model, `x` is the transformed feature matrix, and a classifier answers the
    /// index of each row's class.
    pub fn predict(&self, mut x: Array2<f64>) -> Array1<f64> {
        match &self.kind {
            Kind::Linear(artifact) => {
                artifact.preprocessing.apply(&mut x);
                match &artifact.estimator {
                    Estimator::LinearRegression { model } => model.predict(&x),
                    Estimator::Tweedie { model, .. } => model.predict(&x),
                }
            }
            Kind::Typed(typed) => match typed.scorer.evaluate(&Features::Dense(x)) {
                Ok(Output::Values(values)) => values,
                Ok(Output::Classes { label_index, .. }) => {
                    label_index.into_iter().map(|i| i as f64).collect()
                }
                Err(_) => Array1::from_elem(0, f64::NAN),
            },
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
        let a = model.artifact().unwrap();
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
            "model m.json has format_version 9; this build reads format_versions 1 to 2"
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

    /// A format_version 2 artifact with a number, a category and a text input, and a binary
    /// logistic head: every part that a degenerate case below breaks.
    fn typed_doc() -> serde_json::Value {
        serde_json::json!({
            "format_version": 2, "name": "t", "version": null, "target": "y",
            "inputs": [
                {"name": "a", "kind": "number"},
                {"name": "c", "kind": "category"},
                {"name": "t", "kind": "text"}
            ],
            "transforms": {"blocks": [
                {"inputs": ["a"], "steps": [
                    {"kind": "standard_scaler", "mean": [1.0], "scale": [2.0]}]},
                {"inputs": ["c"], "steps": [
                    {"kind": "one_hot", "categories": [["x", "y"]], "drop": null, "handle_unknown": "ignore"}]},
                {"inputs": ["t"], "steps": [
                    {"kind": "count_vectorizer", "vocabulary": {"hi": 0, "yo": 1}, "lowercase": true,
                     "ngram_range": [1, 1], "stop_words": null, "binary": false},
                    {"kind": "tfidf", "idf": [1.0, 2.0], "sublinear_tf": false, "norm": null}]}
            ], "then": []},
            "feature_names": ["a", "c_x", "c_y", "t_hi", "t_yo"],
            "estimator": {"kind": "logistic", "classes": ["n", "p"],
                          "coef": [[1.0, 2.0, 3.0, 4.0, 5.0]], "intercept": [0.5], "multi_class": "binary"},
            "provenance": {"kind": "trained", "data_source": "x", "trained_at": "t", "train_rows": 1, "holdout_rows": 0}
        })
    }

    /// The document as an artifact whose version is the hash of what it holds.
    fn typed_artifact(doc: serde_json::Value) -> schema::Artifact {
        let mut artifact: schema::Artifact = serde_json::from_value(doc).unwrap();
        artifact.version = Some(typed_content_hash(&artifact));
        artifact
    }

    /// Loads the document as a model file is loaded: through its JSON, with a correct checksum.
    fn load_typed(doc: serde_json::Value) -> Result<Model, ModelError> {
        let text = serde_json::to_string(&typed_artifact(doc)).unwrap();
        Model::from_json(&text, "t.json")
    }

    fn assert_refused(result: Result<Model, ModelError>, code: &str, mentions: &[&str]) {
        let err = result.expect_err("a degenerate model must not load");
        assert_eq!(err.code(), code, "{err}");
        let message = err.to_string();
        for m in mentions {
            assert!(message.contains(m), "`{message}` should mention `{m}`");
        }
    }

    fn with(changes: &[(&str, serde_json::Value)]) -> serde_json::Value {
        let mut doc = typed_doc();
        for (pointer, value) in changes {
            *doc.pointer_mut(pointer)
                .unwrap_or_else(|| panic!("{pointer}")) = value.clone();
        }
        doc
    }

    #[test]
    fn the_typed_test_artifact_loads() {
        let model = load_typed(typed_doc()).unwrap();
        assert_eq!(model.features(), ["a", "c", "t"]);
    }

    #[test]
    fn degenerate_typed_models_are_refused_with_their_own_codes() {
        use serde_json::json;
        // (JSON pointer edits, init error code, what the message must name)
        type Case = (
            Vec<(&'static str, serde_json::Value)>,
            &'static str,
            &'static [&'static str],
        );
        let cases: Vec<Case> = vec![
            // Nothing to read: a constant for every record.
            (
                vec![
                    ("/inputs", json!([])),
                    ("/transforms/blocks", json!([])),
                    ("/feature_names", json!([])),
                    ("/estimator/coef", json!([[]])),
                ],
                "ModelZeroFeatures",
                &["zero features"],
            ),
            (
                vec![("/transforms/blocks/1/steps/0/categories", json!([[]]))],
                "ModelZeroFeatures",
                &["blocks[1]", "input `c` has no categories"],
            ),
            (
                vec![("/transforms/blocks/2/steps/0/vocabulary", json!({}))],
                "ModelZeroFeatures",
                &["blocks[2]", "vocabulary is empty"],
            ),
            // A divisor of zero.
            (
                vec![("/transforms/blocks/0/steps/0/scale/0", json!(0.0))],
                "ModelScaleZero",
                &["blocks[0].steps[0] (standard_scaler)", "`scale[0]` is zero"],
            ),
            // One name, two places.
            (
                vec![("/inputs/1/name", json!("a"))],
                "ModelDuplicateFeature",
                &["`a`", "inputs[0] and inputs[1]"],
            ),
            (
                vec![("/feature_names/2", json!("c_x"))],
                "ModelDuplicateFeature",
                &["`c_x`", "at 1 and 2"],
            ),
            (
                vec![("/estimator/classes", json!(["p", "p"]))],
                "ModelDuplicateLabel",
                &["class p is listed twice"],
            ),
            (
                vec![(
                    "/transforms/blocks/1/steps/0/categories",
                    json!([["x", "x"]]),
                )],
                "ModelDuplicateLabel",
                &["blocks[1]", "category x twice"],
            ),
            // A classifier that can answer only one class, or none.
            (
                vec![("/estimator/classes", json!([]))],
                "ModelTooFewClasses",
                &["0 classes"],
            ),
            (
                vec![("/estimator/classes", json!(["p"]))],
                "ModelTooFewClasses",
                &["1 classes"],
            ),
            // Indices that point nowhere, or twice to one column.
            (
                vec![(
                    "/transforms/blocks/2/steps/0/vocabulary",
                    json!({"hi": 0, "yo": 2}),
                )],
                "ModelIndexInvalid",
                &["blocks[2]", "\"yo\" has index 2, outside 0..2"],
            ),
            (
                vec![(
                    "/transforms/blocks/2/steps/0/vocabulary",
                    json!({"hi": 1, "yo": 1}),
                )],
                "ModelIndexInvalid",
                &["\"hi\" and \"yo\" share index 1"],
            ),
            (
                vec![("/transforms/blocks/1/steps/0/drop", json!([2]))],
                "ModelIndexInvalid",
                &["drop index 2 of input `c`"],
            ),
            // Shapes that disagree: coefficients, probabilities, idf.
            (
                vec![("/estimator/multi_class", json!("multinomial"))],
                "ModelInconsistent",
                &["2 classes need 2 coef rows, found 1"],
            ),
            (
                vec![("/estimator/intercept", json!([0.5, 0.5]))],
                "ModelInconsistent",
                &["intercept has 2 entries, expected 1"],
            ),
            (
                vec![("/estimator/coef", json!([[1.0, 2.0, 3.0, 4.0]]))],
                "ModelInconsistent",
                &["coef[0] has 4 coefficients, the features have 5"],
            ),
            (
                vec![("/transforms/blocks/2/steps/1/idf", json!([1.0]))],
                "ModelInconsistent",
                &["idf has 1 values but the vectorizer has 2 columns"],
            ),
        ];
        for (changes, code, mentions) in cases {
            assert_refused(load_typed(with(&changes)), code, mentions);
        }
    }

    #[test]
    fn non_finite_numbers_in_a_typed_model_are_refused() {
        use schema::{Estimator as E, Step};
        // JSON cannot spell NaN or infinity: poke them into parsed artifacts, as a trainer could.
        let mut cases: Vec<(schema::Artifact, &str)> = Vec::new();
        let mut a = typed_artifact(typed_doc());
        if let E::Logistic { coef, .. } = &mut a.estimator {
            coef[0][3] = f64::NAN;
        }
        cases.push((a, "coef[0][3] is not finite"));
        let mut a = typed_artifact(typed_doc());
        if let E::Logistic { intercept, .. } = &mut a.estimator {
            intercept[0] = f64::INFINITY;
        }
        cases.push((a, "intercept[0] is not finite"));
        let mut a = typed_artifact(typed_doc());
        if let Step::StandardScaler(s) = &mut a.transforms.blocks[0].steps[0] {
            s.mean = Some(vec![f64::NEG_INFINITY]);
        }
        cases.push((
            a,
            "blocks[0].steps[0] (standard_scaler): `mean[0]` is not finite",
        ));
        let mut a = typed_artifact(typed_doc());
        if let Step::Tfidf(t) = &mut a.transforms.blocks[2].steps[1] {
            t.idf = Some(vec![1.0, f64::NAN]);
        }
        cases.push((a, "idf[1] = NaN"));
        let mut a = typed_artifact(typed_doc());
        a.estimator = E::Glm {
            power: f64::NAN,
            link: schema::GlmLink::Log,
            coef: vec![1.0; 5],
            intercept: 0.0,
        };
        cases.push((a, "power NaN is not finite"));
        for (mut artifact, mentions) in cases {
            artifact.version = Some(typed_content_hash(&artifact));
            assert_refused(Model::typed(artifact, "t"), "ModelNonFinite", &[mentions]);
        }
        // In a file, a number beyond f64 is where an infinity would be.
        let text = serde_json::to_string(&typed_artifact(typed_doc()))
            .unwrap()
            .replace("\"intercept\":[0.5]", "\"intercept\":[-1e400]");
        assert_refused(
            Model::from_json(&text, "t.json"),
            "ModelNonFinite",
            &["t.json", "line 1 column"],
        );
    }

    #[test]
    fn the_shipped_models_load() {
        for (name, text) in [
            ("model.json", EMBEDDED),
            (
                "classifier.json",
                include_str!("../../model/classifier.json"),
            ),
            (
                "categorical.json",
                include_str!("../../model/categorical.json"),
            ),
            ("text.json", include_str!("../../model/text.json")),
        ] {
            Model::from_json(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
