//! Serde types of the model artifact, format_version 2 (the contract in SCHEMA.md).
//!
//! These types only describe the JSON; all cross-field checks (widths, shapes, finiteness) live in
//! `transform::Program::new` and `Estimator::validate`, which return coded errors. Structs deny
//! unknown fields so that a misspelt field in an artifact fails loudly instead of being ignored.
//! Serialization round-trips: `from_str(to_string(x)) == x` (floats need serde_json's
//! `float_roundtrip` feature, which this crate enables, to read back bit-exactly).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

// The text steps' types live with their encoder; they are part of the artifact schema, so they
// are re-exported here for tools that build artifacts. `TOKEN_PATTERN` lets a trainer find the
// same tokens the encoder counts when it fits a vocabulary.
pub use crate::model::text::{Norm, TOKEN_PATTERN, Tfidf, Vectorizer};

/// The only `format_version` this runtime reads.
pub const FORMAT_VERSION: u32 = 2;

/// The whole artifact file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub format_version: u32,
    pub name: String,
    /// `null` from the importer; the Rust tool fills in `"sha256:<16 hex>"`.
    pub version: Option<String>,
    pub target: String,
    pub inputs: Vec<Input>,
    pub transforms: Transforms,
    pub feature_names: Vec<String>,
    pub estimator: Estimator,
    pub provenance: Provenance,
    #[serde(default)]
    pub metrics: Metrics,
}

/// Split name (`train`, `holdout`, ...) -> metric name -> value (`null` allowed).
/// BTreeMap: serialization sorts keys, so a re-serialized artifact is canonical in this part.
pub type Metrics = BTreeMap<String, BTreeMap<String, Option<f64>>>;

/// One record field the model reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub name: String,
    pub kind: InputKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Number,
    Category,
    Text,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Number => "number",
            InputKind::Category => "category",
            InputKind::Text => "text",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transforms {
    /// Like a ColumnTransformer: block outputs are concatenated in this order.
    pub blocks: Vec<Block>,
    /// Scalers applied to the concatenated vector.
    pub then: Vec<Step>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Block {
    /// Names from `Artifact::inputs`.
    pub inputs: Vec<String>,
    pub steps: Vec<Step>,
}

/// One transform step, tagged by `kind`.
///
/// Serde is hand-written because the text vectorizers are a separate enum (`text::Vectorizer`,
/// itself tagged by `kind`) that serde's derive cannot splice into this one without an
/// `untagged` fallback, and that fallback would turn every typo into the useless "data did not
/// match any variant".
#[derive(Debug, Clone)]
pub enum Step {
    Impute(Impute),
    StandardScaler(StandardScaler),
    MinMaxScaler(MinMaxScaler),
    MaxAbsScaler(MaxAbsScaler),
    OneHot(OneHot),
    /// `count_vectorizer` or `hashing_vectorizer`.
    Vectorizer(Vectorizer),
    Tfidf(Tfidf),
}

impl Step {
    /// The `kind` tag, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Impute(_) => "impute",
            Step::StandardScaler(_) => "standard_scaler",
            Step::MinMaxScaler(_) => "min_max_scaler",
            Step::MaxAbsScaler(_) => "max_abs_scaler",
            Step::OneHot(_) => "one_hot",
            Step::Vectorizer(Vectorizer::CountVectorizer { .. }) => "count_vectorizer",
            Step::Vectorizer(Vectorizer::HashingVectorizer { .. }) => "hashing_vectorizer",
            Step::Tfidf(_) => "tfidf",
        }
    }
}

const STEP_KINDS: &[&str] = &[
    "impute",
    "standard_scaler",
    "min_max_scaler",
    "max_abs_scaler",
    "one_hot",
    "count_vectorizer",
    "hashing_vectorizer",
    "tfidf",
];

/// The steps whose types live in this module, derived the usual way.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum OwnedTagged {
    Impute(Impute),
    StandardScaler(StandardScaler),
    MinMaxScaler(MinMaxScaler),
    MaxAbsScaler(MaxAbsScaler),
    OneHot(OneHot),
    Tfidf(Tfidf),
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BorrowedTagged<'a> {
    Impute(&'a Impute),
    StandardScaler(&'a StandardScaler),
    MinMaxScaler(&'a MinMaxScaler),
    MaxAbsScaler(&'a MaxAbsScaler),
    OneHot(&'a OneHot),
    Tfidf(&'a Tfidf),
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Step::Impute(s) => BorrowedTagged::Impute(s).serialize(serializer),
            Step::StandardScaler(s) => BorrowedTagged::StandardScaler(s).serialize(serializer),
            Step::MinMaxScaler(s) => BorrowedTagged::MinMaxScaler(s).serialize(serializer),
            Step::MaxAbsScaler(s) => BorrowedTagged::MaxAbsScaler(s).serialize(serializer),
            Step::OneHot(s) => BorrowedTagged::OneHot(s).serialize(serializer),
            Step::Tfidf(s) => BorrowedTagged::Tfidf(s).serialize(serializer),
            // Vectorizer carries its own `kind` tag.
            Step::Vectorizer(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Buffer once (serde's own internally tagged enums buffer too), read the tag, dispatch.
        let value = serde_json::Value::deserialize(deserializer)?;
        let kind = match value.get("kind") {
            Some(serde_json::Value::String(k)) => k.clone(),
            Some(_) => return Err(de::Error::custom("step `kind` must be a string")),
            None => return Err(de::Error::missing_field("kind")),
        };
        match kind.as_str() {
            "count_vectorizer" | "hashing_vectorizer" => Vectorizer::deserialize(value)
                .map(Step::Vectorizer)
                .map_err(|e| de::Error::custom(format!("{kind} step: {e}"))),
            k if STEP_KINDS.contains(&k) => {
                let tagged = OwnedTagged::deserialize(value)
                    .map_err(|e| de::Error::custom(format!("{kind} step: {e}")))?;
                Ok(match tagged {
                    OwnedTagged::Impute(s) => Step::Impute(s),
                    OwnedTagged::StandardScaler(s) => Step::StandardScaler(s),
                    OwnedTagged::MinMaxScaler(s) => Step::MinMaxScaler(s),
                    OwnedTagged::MaxAbsScaler(s) => Step::MaxAbsScaler(s),
                    OwnedTagged::OneHot(s) => Step::OneHot(s),
                    OwnedTagged::Tfidf(s) => Step::Tfidf(s),
                })
            }
            other => Err(de::Error::unknown_variant(other, STEP_KINDS)),
        }
    }
}

/// `{"kind": "impute", "strategy": ..., "fill": [...]}`: one fill per block input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impute {
    /// Informational; the runtime only uses `fill`.
    pub strategy: ImputeStrategy,
    pub fill: Vec<Fill>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImputeStrategy {
    Mean,
    Median,
    MostFrequent,
    Constant,
}

/// `(x - mean) / scale`; `None` = that part not applied (`with_mean` / `with_std` false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardScaler {
    pub mean: Option<Vec<f64>>,
    pub scale: Option<Vec<f64>>,
}

/// `x * scale + min` (sklearn `scale_`, `min_`; `clip=False` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinMaxScaler {
    pub min: Vec<f64>,
    pub scale: Vec<f64>,
}

/// `x / scale` (sklearn `scale_`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxAbsScaler {
    pub scale: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneHot {
    /// Per block input, in sklearn's `categories_` order.
    pub categories: Vec<Vec<Label>>,
    /// Per block input, sklearn's `drop_idx_` (index into that input's categories), or null.
    pub drop: Option<Vec<Option<usize>>>,
    pub handle_unknown: HandleUnknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleUnknown {
    Ignore,
    Error,
}

/// The final estimator, tagged by `kind`. Coefficient matrices are row-major, `coef[k][j]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Estimator {
    /// prediction = x·coef + intercept
    LinearRegression { coef: Vec<f64>, intercept: f64 },
    /// prediction = link⁻¹(x·coef + intercept)
    Glm {
        power: f64,
        link: GlmLink,
        coef: Vec<f64>,
        intercept: f64,
    },
    Logistic {
        classes: Vec<Label>,
        coef: Vec<Vec<f64>>,
        intercept: Vec<f64>,
        multi_class: MultiClass,
    },
    /// No probabilities (LinearSVC, SGDClassifier, RidgeClassifier, ...).
    LinearClassifier {
        classes: Vec<Label>,
        coef: Vec<Vec<f64>>,
        intercept: Vec<f64>,
    },
}

impl Estimator {
    pub fn kind(&self) -> &'static str {
        match self {
            Estimator::LinearRegression { .. } => "linear_regression",
            Estimator::Glm { .. } => "glm",
            Estimator::Logistic { .. } => "logistic",
            Estimator::LinearClassifier { .. } => "linear_classifier",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlmLink {
    Identity,
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiClass {
    /// 2 classes, 1 coef row, sigmoid.
    Binary,
    /// K rows, softmax.
    Multinomial,
    /// K rows, sigmoid per row then normalized to sum 1.
    Ovr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Provenance {
    Imported {
        source_file: String,
        file_sha256: String,
        sklearn_version: String,
        imported_at: String,
        object: String,
    },
    Trained {
        data_source: String,
        trained_at: String,
        train_rows: u64,
        holdout_rows: u64,
    },
}

/// A class label or category: a JSON string or a JSON integer, kept exactly.
///
/// Integers are normalized so that equal numbers compare equal: `Int` for everything that fits
/// an i64, `UInt` only above `i64::MAX`. A JSON float (even `1.0`) is refused: sklearn labels that
/// are floats must be written as integers by the importer, or refused there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Label {
    Str(String),
    Int(i64),
    UInt(u64),
}

impl Label {
    pub fn from_u64(v: u64) -> Label {
        i64::try_from(v).map_or(Label::UInt(v), Label::Int)
    }

    /// The integer value, widened so i64 and u64 labels compare in one domain.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Label::Str(_) => None,
            Label::Int(v) => Some(i128::from(*v)),
            Label::UInt(v) => Some(i128::from(*v)),
        }
    }

    pub fn is_str(&self) -> bool {
        matches!(self, Label::Str(_))
    }
}

impl From<&str> for Label {
    fn from(s: &str) -> Label {
        Label::Str(s.to_string())
    }
}

impl From<i64> for Label {
    fn from(v: i64) -> Label {
        Label::Int(v)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Str(s) => f.write_str(s),
            Label::Int(v) => write!(f, "{v}"),
            Label::UInt(v) => write!(f, "{v}"),
        }
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Label::Str(s) => serializer.serialize_str(s),
            Label::Int(v) => serializer.serialize_i64(*v),
            Label::UInt(v) => serializer.serialize_u64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = ScalarVisitor { floats: false };
        match deserializer.deserialize_any(ScalarVisitor { floats: false })? {
            Fill::Str(v) => Ok(Label::Str(v)),
            Fill::Int(v) => Ok(Label::Int(v)),
            Fill::UInt(v) => Ok(Label::UInt(v)),
            // The visitor already refuses floats; kept as an error rather than a panic.
            Fill::Float(v) => Err(de::Error::invalid_type(de::Unexpected::Float(v), &visitor)),
        }
    }
}

/// One impute fill value: a number for a number input, a label for a category input.
/// Same normalization as `Label`; JSON floats stay floats (`12.0` reads back as `Float`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fill {
    Str(String),
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Fill {
    /// The value for a number input (integers convert as Python's `float(int)` would).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Fill::Str(_) => None,
            Fill::Int(v) => Some(*v as f64),
            Fill::UInt(v) => Some(*v as f64),
            Fill::Float(v) => Some(*v),
        }
    }

    /// The value for a category input; floats are not labels.
    pub fn as_label(&self) -> Option<Label> {
        match self {
            Fill::Str(v) => Some(Label::Str(v.clone())),
            Fill::Int(v) => Some(Label::Int(*v)),
            Fill::UInt(v) => Some(Label::UInt(*v)),
            Fill::Float(_) => None,
        }
    }
}

impl Serialize for Fill {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Fill::Str(s) => serializer.serialize_str(s),
            Fill::Int(v) => serializer.serialize_i64(*v),
            Fill::UInt(v) => serializer.serialize_u64(*v),
            Fill::Float(v) => serializer.serialize_f64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for Fill {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor { floats: true })
    }
}

struct ScalarVisitor {
    floats: bool,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Fill;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.floats {
            f.write_str("a string or a number")
        } else {
            f.write_str("a string or an integer (labels are never floats)")
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Fill, E> {
        Ok(Fill::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Fill, E> {
        Ok(Fill::Str(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fill, E> {
        Ok(Fill::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fill, E> {
        Ok(i64::try_from(v).map_or(Fill::UInt(v), Fill::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fill, E> {
        if self.floats {
            Ok(Fill::Float(v))
        } else {
            Err(de::Error::invalid_type(de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(json: &str) -> serde_json::Value {
        let parsed: T = serde_json::from_str(json).unwrap();
        let again = serde_json::to_value(&parsed).unwrap();
        let twice: T = serde_json::from_value(again.clone()).unwrap();
        assert_eq!(serde_json::to_value(&twice).unwrap(), again);
        again
    }

    #[test]
    fn labels_keep_exact_integers_and_strings() {
        let v = round_trip::<Vec<Label>>(
            r#"["spam", -3, 0, 9223372036854775807, 18446744073709551615]"#,
        );
        assert_eq!(
            v.to_string(),
            r#"["spam",-3,0,9223372036854775807,18446744073709551615]"#
        );
        let labels: Vec<Label> = serde_json::from_value(v).unwrap();
        assert_eq!(labels[1], Label::Int(-3));
        assert_eq!(labels[3], Label::Int(i64::MAX));
        assert_eq!(labels[4], Label::UInt(u64::MAX));
        // A positive number is Int whichever way it was read, so equality is by value.
        assert_eq!(Label::from_u64(5), Label::Int(5));
        assert_eq!(Label::UInt(u64::MAX).as_i128(), Some(i128::from(u64::MAX)));
    }

    #[test]
    fn labels_refuse_floats_and_other_types() {
        for bad in ["1.0", "2.5", "true", "null", "[1]"] {
            let e = serde_json::from_str::<Label>(bad).unwrap_err().to_string();
            assert!(e.contains("string or an integer"), "{bad}: {e}");
        }
    }

    #[test]
    fn fill_keeps_floats_and_integers_apart() {
        let v = round_trip::<Vec<Fill>>(r#"[12.5, 3, "DE", 12.0]"#);
        let fills: Vec<Fill> = serde_json::from_value(v).unwrap();
        assert_eq!(
            fills,
            vec![
                Fill::Float(12.5),
                Fill::Int(3),
                Fill::Str("DE".into()),
                Fill::Float(12.0)
            ]
        );
        assert_eq!(fills[1].as_f64(), Some(3.0));
        assert_eq!(fills[3].as_label(), None);
    }

    #[test]
    fn steps_round_trip_every_kind() {
        let steps = r#"[
            {"kind": "impute", "strategy": "mean", "fill": [1.5, "x"]},
            {"kind": "standard_scaler", "mean": [1.0], "scale": null},
            {"kind": "min_max_scaler", "min": [0.5], "scale": [2.0]},
            {"kind": "max_abs_scaler", "scale": [3.0]},
            {"kind": "one_hot", "categories": [["a", "b"], [1, 2]], "drop": [null, 0], "handle_unknown": "ignore"},
            {"kind": "count_vectorizer", "vocabulary": {"a": 0, "b c": 1}, "lowercase": true,
             "ngram_range": [1, 2], "stop_words": ["the"], "binary": false},
            {"kind": "hashing_vectorizer", "n_features": 16, "alternate_sign": true, "lowercase": true,
             "ngram_range": [1, 1], "stop_words": null, "binary": false, "norm": "l2"},
            {"kind": "tfidf", "idf": [1.0, 2.0], "sublinear_tf": false, "norm": null}
        ]"#;
        let v = round_trip::<Vec<Step>>(steps);
        let original: serde_json::Value = serde_json::from_str(steps).unwrap();
        assert_eq!(v, original);
        let parsed: Vec<Step> = serde_json::from_value(v).unwrap();
        let kinds: Vec<_> = parsed.iter().map(Step::kind).collect();
        assert_eq!(kinds, STEP_KINDS);
    }

    #[test]
    fn step_typos_are_caught_with_a_useful_message() {
        let cases = [
            (
                r#"{"kind": "standard_scaler", "mean": null, "scal": [1.0]}"#,
                "unknown field `scal`",
            ),
            (
                r#"{"kind": "standrd_scaler", "scale": [1.0]}"#,
                "unknown variant `standrd_scaler`",
            ),
            (r#"{"scale": [1.0]}"#, "missing field `kind`"),
            (r#"{"kind": 3}"#, "must be a string"),
            (
                r#"{"kind": "tfidf", "idf": null, "sublinear": false, "norm": null}"#,
                "unknown field `sublinear`",
            ),
            (
                r#"{"kind": "count_vectorizer", "vocab": {}}"#,
                "count_vectorizer step",
            ),
            (
                r#"{"kind": "one_hot", "categories": [[1.5]], "drop": null, "handle_unknown": "ignore"}"#,
                "integer",
            ),
            (
                r#"{"kind": "one_hot", "categories": [["a"]], "drop": null, "handle_unknown": "warn"}"#,
                "unknown variant `warn`",
            ),
        ];
        for (json, want) in cases {
            let e = serde_json::from_str::<Step>(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn estimators_and_provenance_round_trip() {
        for json in [
            r#"{"kind": "linear_regression", "coef": [1.0, -2.5], "intercept": 1.5}"#,
            r#"{"kind": "glm", "power": 1.5, "link": "log", "coef": [0.1], "intercept": 0.3}"#,
            r#"{"kind": "logistic", "classes": ["ham", "spam"], "coef": [[1.0, 2.0]], "intercept": [0.5], "multi_class": "binary"}"#,
            r#"{"kind": "linear_classifier", "classes": [0, 1, 2], "coef": [[1.0], [2.0], [3.0]], "intercept": [0.0, 0.0, 0.0]}"#,
        ] {
            let v = round_trip::<Estimator>(json);
            assert_eq!(v, serde_json::from_str::<serde_json::Value>(json).unwrap());
        }
        let e = serde_json::from_str::<Estimator>(
            r#"{"kind": "linear_regression", "coef": [1.0], "intercep": 1.5}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `intercep`"));
        for json in [
            r#"{"kind": "imported", "source_file": "m.joblib", "file_sha256": "ab", "sklearn_version": "1.9.1", "imported_at": "2026-11-25T17:00:00Z", "object": "Pipeline()"}"#,
            r#"{"kind": "trained", "data_source": "d.csv", "trained_at": "t", "train_rows": 353, "holdout_rows": 89}"#,
        ] {
            let v = round_trip::<Provenance>(json);
            assert_eq!(v, serde_json::from_str::<serde_json::Value>(json).unwrap());
        }
    }

    #[test]
    fn fixture_artifacts_round_trip_to_the_same_json() {
        for (name, text) in crate::model::transform::fixtures::ALL {
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let original = &doc["artifact"];
            let parsed: Artifact = serde_json::from_value(original.clone()).unwrap();
            assert_eq!(parsed.format_version, FORMAT_VERSION);
            assert_eq!(&serde_json::to_value(&parsed).unwrap(), original, "{name}");
            // And through text, where float_roundtrip keeps every coefficient bit.
            let again: Artifact =
                serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
            assert_eq!(again.estimator, parsed.estimator, "{name}");
        }
    }

    #[test]
    fn artifact_round_trips() {
        let json = r#"{
          "format_version": 2, "name": "m", "version": null, "target": "y",
          "inputs": [{"name": "age", "kind": "number"}, {"name": "country", "kind": "category"}],
          "transforms": {
            "blocks": [
              {"inputs": ["age"], "steps": [{"kind": "impute", "strategy": "median", "fill": [40.0]}]},
              {"inputs": ["country"], "steps": [{"kind": "one_hot", "categories": [["DE", "FR"]], "drop": null, "handle_unknown": "error"}]}
            ],
            "then": [{"kind": "max_abs_scaler", "scale": [2.0, 1.0, 1.0]}]
          },
          "feature_names": ["age", "country_DE", "country_FR"],
          "estimator": {"kind": "linear_regression", "coef": [1.0, 2.0, 3.0], "intercept": 0.0},
          "provenance": {"kind": "trained", "data_source": "x", "trained_at": "t", "train_rows": 1, "holdout_rows": 0},
          "metrics": {"train": {"r2": 0.5, "rmse": null}, "holdout": {}}
        }"#;
        let v = round_trip::<Artifact>(json);
        assert_eq!(v, serde_json::from_str::<serde_json::Value>(json).unwrap());
        let bad = json.replace("\"target\"", "\"targt\"");
        assert!(serde_json::from_str::<Artifact>(&bad).is_err());
    }
}
