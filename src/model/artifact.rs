//! The on-disk model artifact: its JSON schema, content hash and consistency checks.

use linfa_linear::{FittedLinearRegression, TweedieRegressor};
use ndarray::{Array2, ArrayView1, Axis};
use serde::{Deserialize, Serialize};

use super::ModelError;

/// The artifact layout this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

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
    /// The name the artifact uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Normal => "normal",
            Family::Poisson => "poisson",
            Family::Gamma => "gamma",
            Family::InverseGaussian => "inverse-gaussian",
        }
    }

    /// The links (as linfa-linear serializes them) a GLM of this family may use. A Poisson,
    /// Gamma or inverse Gaussian mean must be positive, so those need the log link, as
    /// scikit-learn's `PoissonRegressor` and `GammaRegressor` and linfa-linear's automatic link
    /// have it; the identity link could predict a negative mean. A normal GLM may use either.
    /// No Tweedie family uses the logit link, which linfa-linear also offers: scikit-learn's
    /// `TweedieRegressor` refuses it.
    pub fn links(self) -> &'static [&'static str] {
        match self {
            Family::Normal => &["Identity", "Log"],
            Family::Poisson | Family::Gamma | Family::InverseGaussian => &["Log"],
        }
    }

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
        format!("sha256:{}", crate::digest::sha256_hex(&bytes, 8))
    }

    /// Pretty JSON, as written by `stream-infer train`.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("a model artifact always serializes");
        text.push('\n');
        text
    }

    /// Refuses an artifact that could not serve: parts that disagree on the feature count, and
    /// degenerate models that would predict a constant, nothing finite, or reject every record.
    /// The checksum is checked last, so a hand-edited degenerate file names its real problem.
    pub(crate) fn validate(&self, origin: &str) -> Result<(), ModelError> {
        let features = self.features.len();
        if features == 0 {
            return Err(ModelError::ZeroFeatures {
                origin: origin.to_owned(),
            });
        }
        let mut seen = std::collections::HashMap::with_capacity(features);
        for (second, name) in self.features.iter().enumerate() {
            if let Some(first) = seen.insert(name.as_str(), second) {
                return Err(ModelError::DuplicateFeature {
                    origin: origin.to_owned(),
                    name: name.clone(),
                    first,
                    second,
                });
            }
        }
        let coefficients = self.estimator.coefficients();
        if coefficients != features {
            return Err(ModelError::FeatureCount {
                origin: origin.to_owned(),
                features,
                coefficients,
            });
        }
        if let Preprocessing::Standardize { mean, scale } = &self.preprocessing
            && let Some(found) = [mean.len(), scale.len()]
                .into_iter()
                .find(|&n| n != features)
        {
            return Err(ModelError::PreprocessingWidth {
                origin: origin.to_owned(),
                features,
                found,
            });
        }
        if let Some((at, value)) = self.first_non_finite() {
            return Err(ModelError::NonFinite {
                origin: origin.to_owned(),
                at,
                value,
            });
        }
        if let Preprocessing::Standardize { scale, .. } = &self.preprocessing
            && let Some(index) = scale.iter().position(|&s| s == 0.0)
        {
            return Err(ModelError::ScaleZero {
                origin: origin.to_owned(),
                at: self.at("preprocessing.scale", index),
            });
        }
        if let Estimator::Tweedie {
            family,
            power,
            model,
            ..
        } = &self.estimator
        {
            if *power != family.power() {
                return Err(ModelError::GlmPower {
                    origin: origin.to_owned(),
                    family: family.as_str(),
                    power: *power,
                    expected: family.power(),
                });
            }
            let link = tweedie_link(model);
            if !family.links().contains(&link.as_str()) {
                return Err(ModelError::GlmLink {
                    origin: origin.to_owned(),
                    family: family.as_str(),
                    link,
                    allowed: family.links(),
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

    /// `field[index] (feature `name`)`: where a per-feature number sits in the artifact.
    fn at(&self, field: &str, index: usize) -> String {
        format!("{field}[{index}] (feature `{}`)", self.features[index])
    }

    /// The first NaN or infinity anywhere in the artifact, with where it is. JSON cannot spell
    /// one, but an artifact built in memory (a diverged fit) can hold one.
    fn first_non_finite(&self) -> Option<(String, f64)> {
        let mut vectors: Vec<(&str, ArrayView1<f64>)> = Vec::new();
        let mut scalars: Vec<(&str, f64)> = Vec::new();
        if let Preprocessing::Standardize { mean, scale } = &self.preprocessing {
            vectors.push(("preprocessing.mean", ArrayView1::from(mean)));
            vectors.push(("preprocessing.scale", ArrayView1::from(scale)));
        }
        match &self.estimator {
            Estimator::LinearRegression { model } => {
                vectors.push(("estimator.model.params", model.params().view()));
                scalars.push(("estimator.model.intercept", model.intercept()));
            }
            Estimator::Tweedie {
                power,
                alpha,
                model,
                ..
            } => {
                vectors.push(("estimator.model.coef", model.coef.view()));
                scalars.push(("estimator.model.intercept", model.intercept));
                scalars.push(("estimator.power", *power));
                scalars.push(("estimator.alpha", *alpha));
            }
        }
        let training = &self.training;
        scalars.extend([
            ("training.train.rmse", training.train.rmse),
            ("training.holdout.rmse", training.holdout.rmse),
        ]);
        scalars.extend(training.train.r2.map(|r2| ("training.train.r2", r2)));
        scalars.extend(training.holdout.r2.map(|r2| ("training.holdout.r2", r2)));
        let vector = vectors.into_iter().find_map(|(field, v)| {
            let index = v.iter().position(|x| !x.is_finite())?;
            Some((self.at(field, index), v[index]))
        });
        vector.or_else(|| {
            scalars
                .into_iter()
                .find(|(_, x)| !x.is_finite())
                .map(|(field, x)| (field.to_owned(), x))
        })
    }
}

/// The link of a fitted linfa-linear GLM (`Identity`, `Log` or `Logit`). linfa keeps the field
/// private, but serializes it, and the artifact stores it that way.
fn tweedie_link(model: &TweedieRegressor<f64>) -> String {
    serde_json::to_value(model)
        .ok()
        .and_then(|v| v.get("link")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    fn linear(intercept: f64, params: &[f64]) -> Estimator {
        let model = serde_json::from_value(serde_json::json!({
            "intercept": intercept,
            "params": {"v": 1, "dim": [params.len()], "data": params},
        }))
        .unwrap();
        Estimator::LinearRegression { model }
    }

    /// An ordinary least squares fit on data holding a NaN: linfa-linear returns non-finite
    /// coefficients rather than an error. (Its fields are private and JSON cannot spell NaN, so
    /// fitting is the way to build one.)
    fn diverged_ols() -> Estimator {
        use linfa::traits::Fit;
        let x = ndarray::array![[1.0, 2.0], [f64::NAN, 1.0], [3.0, 5.0], [4.0, 1.0]];
        let y = ndarray::array![1.0, 2.0, 3.0, 4.0];
        let model = linfa_linear::LinearRegression::new()
            .fit(&linfa::Dataset::new(x, y))
            .unwrap();
        Estimator::LinearRegression { model }
    }

    fn tweedie(family: Family, link: &str, coef: &[f64]) -> Estimator {
        let model = serde_json::from_value(serde_json::json!({
            "coef": {"v": 1, "dim": [coef.len()], "data": coef},
            "intercept": 0.5,
            "link": link,
        }))
        .unwrap();
        Estimator::Tweedie {
            family,
            power: family.power(),
            alpha: 0.0,
            model,
        }
    }

    fn standardize(mean: &[f64], scale: &[f64]) -> Preprocessing {
        Preprocessing::Standardize {
            mean: mean.to_vec(),
            scale: scale.to_vec(),
        }
    }

    /// An artifact with a correct checksum, so only what is under test can refuse it.
    fn artifact(features: &[&str], preprocessing: Preprocessing, estimator: Estimator) -> Artifact {
        let metrics = Metrics {
            r2: Some(0.5),
            rmse: 1.0,
        };
        let mut artifact = Artifact {
            format_version: FORMAT_VERSION,
            name: "m".into(),
            version: String::new(),
            features: features.iter().map(|f| f.to_string()).collect(),
            target: "y".into(),
            preprocessing,
            estimator,
            training: Training {
                data_source: "test".into(),
                trained_at: "2026-01-01T00:00:00Z".into(),
                train_rows: 10,
                holdout_rows: 0,
                train: metrics,
                holdout: metrics,
            },
        };
        artifact.version = artifact.content_hash();
        artifact
    }

    /// Loads the artifact the way a model file is loaded: through its JSON.
    fn load(artifact: &Artifact) -> Result<Model, ModelError> {
        Model::from_json(&artifact.to_json(), "m.json")
    }

    fn assert_refused(result: Result<Model, ModelError>, code: &str, mentions: &[&str]) {
        let err = result.expect_err("a degenerate model must not load");
        assert_eq!(err.code(), code, "{err}");
        let message = err.to_string();
        for m in mentions {
            assert!(message.contains(m), "`{message}` should mention `{m}`");
        }
    }

    #[test]
    fn a_sound_artifact_of_each_kind_loads() {
        let ab = ["a", "b"];
        let ols = artifact(
            &ab,
            standardize(&[1.0, 2.0], &[2.0, 4.0]),
            linear(1.0, &[2.0, 3.0]),
        );
        let model = load(&ols).unwrap();
        // (3-1)/2*2 + (6-2)/4*3 + 1
        assert_eq!(model.predict(ndarray::array![[3.0, 6.0]])[0], 6.0);
        for (family, link) in [
            (Family::Normal, "Identity"),
            (Family::Normal, "Log"),
            (Family::Poisson, "Log"),
            (Family::Gamma, "Log"),
            (Family::InverseGaussian, "Log"),
        ] {
            let glm = artifact(&ab, Preprocessing::None, tweedie(family, link, &[0.1, 0.2]));
            load(&glm).unwrap_or_else(|e| panic!("{family:?} with {link}: {e}"));
        }
    }

    #[test]
    fn a_model_without_features_is_refused() {
        let empty = artifact(&[], Preprocessing::None, linear(42.0, &[]));
        assert_refused(
            load(&empty),
            "ModelZeroFeatures",
            &["m.json", "no features"],
        );
        let empty_glm = artifact(
            &[],
            Preprocessing::None,
            tweedie(Family::Poisson, "Log", &[]),
        );
        assert_refused(load(&empty_glm), "ModelZeroFeatures", &["no features"]);
    }

    #[test]
    fn duplicate_feature_names_are_refused() {
        let twice = artifact(
            &["a", "b", "a"],
            Preprocessing::None,
            linear(0.0, &[1.0, 2.0, 3.0]),
        );
        assert_refused(
            load(&twice),
            "ModelDuplicateFeature",
            &["`a`", "features[0] and features[2]"],
        );
    }

    #[test]
    fn a_zero_scale_is_refused() {
        for zero in [0.0, -0.0] {
            let flat = artifact(
                &["a", "b"],
                standardize(&[1.0, 2.0], &[2.0, zero]),
                linear(1.0, &[2.0, 3.0]),
            );
            assert_refused(
                load(&flat),
                "ModelScaleZero",
                &["preprocessing.scale[1] (feature `b`)", "zero"],
            );
        }
    }

    #[test]
    fn non_finite_numbers_are_refused_wherever_they_are() {
        // JSON cannot spell NaN or infinity, so these are artifacts built in memory, as a fit that
        // diverged would build them; `Model::new` is what `stream-infer train` calls.
        let ab = ["a", "b"];
        let ok_scaler = || standardize(&[1.0, 2.0], &[2.0, 4.0]);
        let cases = [
            (
                artifact(
                    &ab,
                    standardize(&[f64::NAN, 2.0], &[2.0, 4.0]),
                    linear(1.0, &[2.0, 3.0]),
                ),
                "preprocessing.mean[0] (feature `a`) is NaN",
            ),
            (
                artifact(
                    &ab,
                    standardize(&[1.0, 2.0], &[2.0, f64::INFINITY]),
                    linear(1.0, &[2.0, 3.0]),
                ),
                "preprocessing.scale[1] (feature `b`) is inf",
            ),
            (
                artifact(&ab, ok_scaler(), diverged_ols()),
                "estimator.model.params[0] (feature `a`) is NaN",
            ),
        ];
        for (bad, mentions) in cases {
            assert_refused(Model::new(bad, "trained"), "ModelNonFinite", &[mentions]);
        }
        type Poke = fn(&mut TweedieRegressor<f64>, &mut f64);
        let glm_cases: [(Poke, &str); 3] = [
            (
                |model, _| model.coef[1] = f64::NAN,
                "estimator.model.coef[1] (feature `b`) is NaN",
            ),
            (
                |model, _| model.intercept = f64::INFINITY,
                "estimator.model.intercept is inf",
            ),
            (|_, alpha| *alpha = f64::NAN, "estimator.alpha is NaN"),
        ];
        for (poke, mentions) in glm_cases {
            let mut glm = artifact(
                &ab,
                Preprocessing::None,
                tweedie(Family::Gamma, "Log", &[1.0, 1.0]),
            );
            if let Estimator::Tweedie { model, alpha, .. } = &mut glm.estimator {
                poke(model, alpha);
            }
            assert_refused(Model::new(glm, "trained"), "ModelNonFinite", &[mentions]);
        }
        let mut metrics = artifact(&ab, ok_scaler(), linear(1.0, &[2.0, 3.0]));
        metrics.training.holdout.rmse = f64::INFINITY;
        assert_refused(
            Model::new(metrics, "trained"),
            "ModelNonFinite",
            &["training.holdout.rmse is inf"],
        );
    }

    #[test]
    fn a_number_too_large_for_f64_in_the_file_is_refused_as_non_finite() {
        let text = artifact(&["a"], Preprocessing::None, linear(7.0, &[2.0])).to_json();
        let line = text
            .lines()
            .position(|l| l.contains("\"intercept\": 7.0"))
            .unwrap()
            + 1;
        let text = text.replace("\"intercept\": 7.0", "\"intercept\": 1e999");
        assert_refused(
            Model::from_json(&text, "m.json"),
            "ModelNonFinite",
            &["m.json", &format!("line {line} column"), "infinite"],
        );
        // Other syntax errors stay ModelCorrupt.
        let broken = text.replace("1e999", "1e");
        assert_refused(
            Model::from_json(&broken, "m.json"),
            "ModelCorrupt",
            &["line"],
        );
    }

    #[test]
    fn a_glm_link_its_family_cannot_use_is_refused() {
        for (family, link, needs) in [
            (Family::Poisson, "Identity", "[\"Log\"]"),
            (Family::Gamma, "Identity", "[\"Log\"]"),
            (Family::InverseGaussian, "Identity", "[\"Log\"]"),
            (Family::Poisson, "Logit", "[\"Log\"]"),
            (Family::Normal, "Logit", "[\"Identity\", \"Log\"]"),
        ] {
            let glm = artifact(&["a"], Preprocessing::None, tweedie(family, link, &[0.3]));
            assert_refused(
                load(&glm),
                "ModelGlmLink",
                &[
                    &format!("estimator.model.link is \"{link}\""),
                    &format!("a {} GLM", family.as_str()),
                    needs,
                ],
            );
        }
    }

    #[test]
    fn a_glm_power_that_is_not_its_familys_is_refused() {
        let mut glm = artifact(
            &["a"],
            Preprocessing::None,
            tweedie(Family::Poisson, "Log", &[0.3]),
        );
        if let Estimator::Tweedie { power, .. } = &mut glm.estimator {
            *power = 2.0;
        }
        glm.version = glm.content_hash();
        assert_refused(
            load(&glm),
            "ModelInconsistent",
            &["estimator.power is 2", "poisson family's power is 1"],
        );
    }
}
