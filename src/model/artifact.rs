//! The on-disk model artifact: its JSON schema, content hash and consistency checks.

use linfa_linear::{FittedLinearRegression, TweedieRegressor};
use ndarray::{Array2, Axis};
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

    pub(crate) fn validate(&self, origin: &str) -> Result<(), ModelError> {
        let features = self.features.len();
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
