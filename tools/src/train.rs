//! Training: a CSV in, a validated model artifact out, with metrics on a held-out split.
//!
//! Training is deterministic: the split is every fifth row (rows 5, 10, … held out), the solvers
//! start from fixed points, and the artifact's version hashes only what predicts. Retraining on
//! the same file therefore gives the same coefficients and the same version.

use std::path::{Path, PathBuf};

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_linear::{LinearRegression, TweedieRegressor};
use ndarray::{Array1, Array2, Axis};

use stream_infer::model::{
    Artifact, Estimator, FORMAT_VERSION, Family, Metrics, Model, Preprocessing, Training,
};

/// Every fifth row is held out for evaluation.
const HOLDOUT_EVERY: usize = 5;

/// What to train, as given to `stream-infer train`.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub csv: PathBuf,
    pub target: String,
    /// Feature columns in model order; every column but the target when `None`.
    pub features: Option<Vec<String>>,
    pub standardize: bool,
    /// A GLM family for linfa-linear's `TweedieRegressor`; ordinary least squares when `None`.
    pub family: Option<Family>,
    /// L2 penalty of the GLM.
    pub alpha: f64,
    /// The model's name; the CSV's file stem when `None`.
    pub name: Option<String>,
    /// RFC 3339 time written as `trained_at`.
    pub trained_at: String,
    /// How long a GLM fit may run before it is given up.
    pub fit_timeout: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training data {}: {cause}", path.display())]
    Csv { path: PathBuf, cause: csv::Error },
    #[error("training data {} has no column {column:?} (columns: {available})", path.display())]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    #[error("training data {} line {line}, column {column:?}: {value:?} is not a finite number", path.display())]
    NotNumber {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
    },
    #[error("training data {} has {rows} rows; at least {HOLDOUT_EVERY} are needed for a held-out split", path.display())]
    TooFewRows { path: PathBuf, rows: usize },
    #[error("fitting failed: {detail}")]
    Fit { detail: String },
}

/// Reads the CSV, fits on the training split and returns the artifact with its metrics.
pub fn train(options: &TrainOptions) -> Result<Artifact, TrainError> {
    let Table { features, x, y } = read_csv(options)?;
    let holdout: Vec<usize> = (0..x.nrows())
        .filter(|i| i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1)
        .collect();
    let training: Vec<usize> = (0..x.nrows())
        .filter(|i| i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1)
        .collect();
    let (x_train, y_train) = (x.select(Axis(0), &training), y.select(Axis(0), &training));
    let (x_hold, y_hold) = (x.select(Axis(0), &holdout), y.select(Axis(0), &holdout));

    let preprocessing = if options.standardize {
        standardization(&x_train)
    } else {
        Preprocessing::None
    };
    let mut x_fit = x_train.clone();
    preprocessing.apply(&mut x_fit);
    let estimator = fit(options, x_fit, y_train.clone())?;

    let mut artifact = Artifact {
        format_version: FORMAT_VERSION,
        name: options.name.clone().unwrap_or_else(|| stem(&options.csv)),
        version: String::new(),
        features,
        target: options.target.clone(),
        preprocessing,
        estimator,
        training: Training {
            data_source: options.csv.display().to_string(),
            trained_at: options.trained_at.clone(),
            train_rows: training.len(),
            holdout_rows: holdout.len(),
            train: Metrics {
                r2: None,
                rmse: 0.0,
            },
            holdout: Metrics {
                r2: None,
                rmse: 0.0,
            },
        },
    };
    artifact.version = artifact.content_hash();
    let model = Model::new(artifact, "trained").map_err(|e| TrainError::Fit {
        detail: e.to_string(),
    })?;
    let train_metrics = metrics(&model.predict(x_train), &y_train);
    let holdout_metrics = metrics(&model.predict(x_hold), &y_hold);
    let mut artifact = model
        .artifact()
        .expect("training writes a format_version 1 model")
        .clone();
    artifact.training.train = train_metrics;
    artifact.training.holdout = holdout_metrics;
    Ok(artifact)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned())
}

/// The training table: feature names, their values, and the target.
struct Table {
    features: Vec<String>,
    x: Array2<f64>,
    y: Array1<f64>,
}

fn read_csv(options: &TrainOptions) -> Result<Table, TrainError> {
    let path = &options.csv;
    let csv_error = |cause| TrainError::Csv {
        path: path.clone(),
        cause,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TrainError::MissingColumn {
                path: path.clone(),
                column: name.to_owned(),
                available: header.join(", "),
            })
    };
    let target = column(&options.target)?;
    let features: Vec<String> = match &options.features {
        Some(names) => names.clone(),
        None => header
            .iter()
            .filter(|h| **h != options.target)
            .cloned()
            .collect(),
    };
    let feature_columns = features
        .iter()
        .map(|f| column(f))
        .collect::<Result<Vec<_>, _>>()?;

    let mut values = Vec::new();
    let mut targets = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let number = |index: usize| {
            let text = record.get(index).unwrap_or("").trim();
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| TrainError::NotNumber {
                    path: path.clone(),
                    line,
                    column: header[index].clone(),
                    value: text.to_owned(),
                })
        };
        for &index in &feature_columns {
            values.push(number(index)?);
        }
        targets.push(number(target)?);
    }
    if targets.len() < HOLDOUT_EVERY {
        return Err(TrainError::TooFewRows {
            path: path.clone(),
            rows: targets.len(),
        });
    }
    let x = Array2::from_shape_vec((targets.len(), features.len()), values)
        .expect("every row has one value per feature");
    Ok(Table {
        features,
        x,
        y: Array1::from(targets),
    })
}

/// Per-feature mean and population standard deviation; a constant feature keeps scale 1.
fn standardization(x: &Array2<f64>) -> Preprocessing {
    let mean = x.mean_axis(Axis(0)).expect("training data has rows");
    let scale = x
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > 0.0 { s } else { 1.0 });
    Preprocessing::Standardize {
        mean: mean.to_vec(),
        scale: scale.to_vec(),
    }
}

fn fit(options: &TrainOptions, x: Array2<f64>, y: Array1<f64>) -> Result<Estimator, TrainError> {
    let dataset = Dataset::new(x, y);
    let fit_error = |e: linfa_linear::LinearError<f64>| TrainError::Fit {
        detail: e.to_string(),
    };
    match options.family {
        None => Ok(Estimator::LinearRegression {
            model: LinearRegression::new().fit(&dataset).map_err(fit_error)?,
        }),
        Some(family) => {
            // linfa-linear 0.8's line search can spin forever on badly scaled targets, so the
            // GLM fit runs on its own thread and is abandoned after `fit_timeout`.
            let (alpha, power) = (options.alpha, family.power());
            let (done, result) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let fitted = TweedieRegressor::params()
                    .power(power)
                    .alpha(alpha)
                    .fit(&dataset);
                let _ = done.send(fitted);
            });
            let model = result
                .recv_timeout(options.fit_timeout)
                .map_err(|_| TrainError::Fit {
                    detail: format!(
                        "the {family:?} GLM did not converge within {:?}; try --standardize, a larger --alpha, or rescaling the target",
                        options.fit_timeout
                    ),
                })?
                .map_err(fit_error)?;
            Ok(Estimator::Tweedie {
                family,
                power: family.power(),
                alpha: options.alpha,
                model,
            })
        }
    }
}

/// R² and RMSE of predictions against truth.
pub fn metrics(predicted: &Array1<f64>, truth: &Array1<f64>) -> Metrics {
    let n = truth.len() as f64;
    let mean = truth.sum() / n;
    let ss_res: f64 = predicted
        .iter()
        .zip(truth)
        .map(|(p, t)| (t - p).powi(2))
        .sum();
    let ss_tot: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    Metrics {
        r2: (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot),
        rmse: (ss_res / n).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn options(csv: &Path) -> TrainOptions {
        TrainOptions {
            csv: csv.to_owned(),
            target: "y".into(),
            features: None,
            standardize: false,
            family: None,
            alpha: 0.0,
            name: None,
            trained_at: "2026-01-01T00:00:00Z".into(),
            fit_timeout: std::time::Duration::from_secs(60),
        }
    }

    fn csv(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn recovers_an_exact_linear_relation() {
        // y = 1 + 2a - 3b, exactly, so both splits score R² = 1.
        let mut text = String::from("a,b,y\n");
        for i in 0..20 {
            let (a, b) = (i as f64, ((i * 7) % 5) as f64);
            text.push_str(&format!("{a},{b},{}\n", 1.0 + 2.0 * a - 3.0 * b));
        }
        let file = csv(&text);
        let artifact = train(&options(file.path())).unwrap();
        let Estimator::LinearRegression { model } = &artifact.estimator else {
            panic!("OLS expected")
        };
        assert!((model.intercept() - 1.0).abs() < 1e-9);
        assert!((model.params()[0] - 2.0).abs() < 1e-9);
        assert!((model.params()[1] + 3.0).abs() < 1e-9);
        assert_eq!(
            (artifact.training.train_rows, artifact.training.holdout_rows),
            (16, 4)
        );
        assert!((artifact.training.holdout.r2.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(artifact.features, ["a", "b"]);
    }

    #[test]
    fn bad_training_data_is_named_by_line_and_column() {
        let file = csv("a,y\n1,2\n3,x\n");
        let err = train(&options(file.path())).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("line 3, column \"y\": \"x\" is not a finite number"),
            "{err}"
        );
        let mut opts = options(file.path());
        opts.target = "z".into();
        let err = train(&opts).unwrap_err();
        assert!(
            err.to_string()
                .contains("has no column \"z\" (columns: a, y)"),
            "{err}"
        );
    }
}
