//! Training: a CSV in, a validated model artifact out, with metrics on a held-out split.
//!
//! Two layouts come out of here. A numeric regression asked for nothing new writes
//! format_version 1 exactly as it always has ([`train`]). A classifier, categorical or text
//! columns, imputation or an explicit `--holdout` write format_version 2 ([`train_typed`]): typed
//! inputs, transforms fitted on the training rows and declared in the artifact, and a linear
//! estimator, compiled by the same code the Lambda loads it with before it is written.
//!
//! Options arrive raw ([`TrainRequest`]) and are checked once ([`TrainRequest::check`]) into a
//! [`Plan`] that holds only what means something for the chosen layout and estimator, the way
//! linfa's parameter guards turn unchecked params into ones that can fit.
//!
//! Training is deterministic: the split is a fixed pattern of rows (every fifth row unless
//! `--holdout` says otherwise), the solvers start from fixed points, and the artifact's version
//! hashes only what predicts. Retraining on the same file therefore gives the same coefficients
//! and the same version.

mod estimator;
mod scores;
mod table;
mod transforms;

use std::path::{Path, PathBuf};
use std::time::Duration;

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_linear::{LinearRegression, TweedieRegressor};
use ndarray::{Array1, Array2, Axis};

use stream_infer::model::schema::{self, ImputeStrategy};
use stream_infer::model::{
    Artifact, Estimator, FORMAT_VERSION, Family, Features, Metrics, Model, Preprocessing, Program,
    RecordError, Training, typed_content_hash,
};

pub use estimator::Unconverged;
pub use transforms::Imputed;

/// Every fifth row is held out for evaluation.
const HOLDOUT_EVERY: usize = 5;

/// The most dense feature values a format_version 2 fit holds in memory (8 bytes each): linfa's
/// solvers take a dense matrix, and a wide text vocabulary times many rows would otherwise end
/// in an out-of-memory kill rather than an error.
const MAX_DENSE_VALUES: usize = 200_000_000;

/// Everything `stream-infer train` was asked, before any of it is checked.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub csv: PathBuf,
    pub target: String,
    /// Input columns in model order; every column but the target when `None`.
    pub features: Option<Vec<String>>,
    /// Standardize the numeric columns.
    pub standardize: bool,
    pub estimator: EstimatorKind,
    /// L2 penalty: the GLM's (default 0) or the logistic regression's (default 1, which is
    /// scikit-learn's `C = 1`).
    pub alpha: Option<f64>,
    /// The logistic regression's L-BFGS iteration limit (default 100).
    pub max_iterations: Option<u64>,
    /// Columns one-hot encoded with the categories seen in training.
    pub categorical: Vec<String>,
    /// A column of free text, vectorized as scikit-learn's `TfidfVectorizer()` would.
    pub text: Option<String>,
    /// How missing (empty) cells are filled; without it an empty input cell is an error.
    pub impute: Option<Impute>,
    /// The share of rows held out; every fifth row when `None`.
    pub holdout: Option<f64>,
    /// The model's name; the CSV's file stem when `None`.
    pub name: Option<String>,
    /// RFC 3339 time written as `trained_at`.
    pub trained_at: String,
    /// How long an iterative fit (GLM, logistic) may run before it is given up.
    pub fit_timeout: Duration,
}

/// Which estimator to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstimatorKind {
    /// Ordinary least squares (linfa-linear `LinearRegression`).
    Ols,
    /// A Tweedie GLM (linfa-linear `TweedieRegressor`).
    Glm(Family),
    /// Binary or multinomial logistic regression (linfa-logistic), chosen from the labels.
    Logistic,
}

/// Imputation strategies for missing cells, as scikit-learn's `SimpleImputer` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impute {
    Mean,
    Median,
    MostFrequent,
}

impl Impute {
    /// The strategy a number column gets. Category columns always take the most frequent value:
    /// a category has no mean.
    fn for_numbers(self) -> ImputeStrategy {
        match self {
            Impute::Mean => ImputeStrategy::Mean,
            Impute::Median => ImputeStrategy::Median,
            Impute::MostFrequent => ImputeStrategy::MostFrequent,
        }
    }
}

/// The share of rows held out for evaluation, in `[0, 1)`.
///
/// Row `i` (0-based) is held out when `⌊(i+1)·f⌋ > ⌊i·f⌋`: the held-out rows are spread evenly
/// through the file, and for `f = 1/k` they are exactly every k-th row, so `0.2` is the split
/// format_version 1 training has always used. `0` holds out nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holdout(f64);

impl Holdout {
    /// Every fifth row: the default.
    pub const EVERY_FIFTH: Holdout = Holdout(0.2);

    /// A fraction in `[0, 1)`, or `None`.
    pub fn new(fraction: f64) -> Option<Holdout> {
        (0.0..1.0).contains(&fraction).then_some(Holdout(fraction))
    }

    pub fn fraction(self) -> f64 {
        self.0
    }

    /// Whether row `i` (0-based, in file order) is held out.
    pub fn holds_out(self, i: usize) -> bool {
        ((i + 1) as f64 * self.0).floor() > (i as f64 * self.0).floor()
    }
}

/// What a checked request trains: the format_version 1 regression, or a typed model.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Nothing beyond a numeric regression was asked for: format_version 1, as before.
    Linear(TrainOptions),
    /// format_version 2.
    Typed(TypedOptions),
}

/// The checked options of a format_version 1 regression: numeric columns, optional
/// standardization, OLS or a GLM.
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

/// The checked options of a format_version 2 model. Only [`TrainRequest::check`] makes one, so
/// every value in it has been validated against the others.
#[derive(Debug, Clone)]
pub struct TypedOptions {
    csv: PathBuf,
    target: String,
    features: Option<Vec<String>>,
    categorical: Vec<String>,
    text: Option<String>,
    standardize: bool,
    impute: Option<Impute>,
    holdout: Holdout,
    estimator: EstimatorParams,
    name: Option<String>,
    trained_at: String,
}

impl TypedOptions {
    /// The held-out share.
    pub fn holdout(&self) -> Holdout {
        self.holdout
    }

    /// Whether `--holdout` was left at its default (every fifth row).
    pub fn holdout_is_default(&self) -> bool {
        self.holdout == Holdout::EVERY_FIFTH
    }
}

/// An estimator with exactly the parameters that mean something for it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum EstimatorParams {
    Ols,
    Glm {
        family: Family,
        alpha: f64,
        timeout: Duration,
    },
    Logistic {
        alpha: f64,
        max_iterations: u64,
        timeout: Duration,
    },
}

impl EstimatorParams {
    /// Whether the fit has an L2 penalty, which makes its solution unique even when features
    /// are collinear with each other or with the intercept.
    fn penalized(self) -> bool {
        match self {
            EstimatorParams::Ols => false,
            EstimatorParams::Glm { alpha, .. } | EstimatorParams::Logistic { alpha, .. } => {
                alpha > 0.0
            }
        }
    }
}

/// linfa-logistic's default iteration limit, which is also scikit-learn's `max_iter`.
pub const DEFAULT_MAX_ITERATIONS: u64 = 100;

impl TrainRequest {
    /// Checks the options against each other and picks the artifact layout.
    pub fn check(self) -> Result<Plan, TrainError> {
        if let Some(alpha) = self.alpha
            && !(alpha.is_finite() && alpha >= 0.0)
        {
            return Err(TrainError::Alpha { alpha });
        }
        if self.alpha.is_some() && self.estimator == EstimatorKind::Ols {
            return Err(TrainError::AlphaWithoutPenalty);
        }
        match self.max_iterations {
            Some(_) if self.estimator != EstimatorKind::Logistic => {
                return Err(TrainError::MaxIterationsNotLogistic);
            }
            Some(0) => return Err(TrainError::MaxIterationsZero),
            _ => {}
        }
        let holdout = match self.holdout {
            None => None,
            Some(f) => Some(Holdout::new(f).ok_or(TrainError::HoldoutRange { fraction: f })?),
        };
        // A column is listed at most once in --features, and is at most one of categorical and
        // text; the target is none of them.
        if let Some(features) = &self.features {
            if let Some((i, _)) = features
                .iter()
                .enumerate()
                .find(|(i, f)| features[..*i].contains(f))
            {
                return Err(TrainError::ColumnTwice {
                    column: features[i].clone(),
                    first: "--features",
                    second: "--features",
                });
            }
            if features.contains(&self.target) {
                return Err(TrainError::TargetAsInput {
                    column: self.target.clone(),
                    flag: "--features",
                });
            }
        }
        let kinds = (self.categorical.iter().map(|c| (c, "--categorical")))
            .chain(self.text.iter().map(|t| (t, "--text")));
        let mut seen: Vec<(&String, &'static str)> = Vec::new();
        for (column, flag) in kinds {
            if *column == self.target {
                return Err(TrainError::TargetAsInput {
                    column: column.clone(),
                    flag,
                });
            }
            if let Some(&(_, first)) = seen.iter().find(|(c, _)| *c == column) {
                return Err(TrainError::ColumnTwice {
                    column: column.clone(),
                    first,
                    second: flag,
                });
            }
            if let Some(features) = &self.features
                && !features.contains(column)
            {
                return Err(TrainError::NotAFeature {
                    column: column.clone(),
                    flag,
                    features: features.join(","),
                });
            }
            seen.push((column, flag));
        }

        let typed = self.estimator == EstimatorKind::Logistic
            || !self.categorical.is_empty()
            || self.text.is_some()
            || self.impute.is_some()
            || holdout.is_some();
        if !typed {
            let family = match self.estimator {
                EstimatorKind::Glm(family) => Some(family),
                _ => None,
            };
            return Ok(Plan::Linear(TrainOptions {
                csv: self.csv,
                target: self.target,
                features: self.features,
                standardize: self.standardize,
                family,
                alpha: self.alpha.unwrap_or(0.0),
                name: self.name,
                trained_at: self.trained_at,
                fit_timeout: self.fit_timeout,
            }));
        }
        let estimator = match self.estimator {
            EstimatorKind::Ols => EstimatorParams::Ols,
            EstimatorKind::Glm(family) => EstimatorParams::Glm {
                family,
                alpha: self.alpha.unwrap_or(0.0),
                timeout: self.fit_timeout,
            },
            EstimatorKind::Logistic => EstimatorParams::Logistic {
                alpha: self.alpha.unwrap_or(1.0),
                max_iterations: self.max_iterations.unwrap_or(DEFAULT_MAX_ITERATIONS),
                timeout: self.fit_timeout,
            },
        };
        Ok(Plan::Typed(TypedOptions {
            csv: self.csv,
            target: self.target,
            features: self.features,
            categorical: self.categorical,
            text: self.text,
            standardize: self.standardize,
            impute: self.impute,
            holdout: holdout.unwrap_or(Holdout::EVERY_FIFTH),
            estimator,
            name: self.name,
            trained_at: self.trained_at,
        }))
    }
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

    #[error("--alpha {alpha} is not a finite number >= 0")]
    Alpha { alpha: f64 },
    #[error("--alpha is the L2 penalty of the GLM families and logistic; ols has none")]
    AlphaWithoutPenalty,
    #[error("--max-iterations applies to --family logistic only")]
    MaxIterationsNotLogistic,
    #[error("--max-iterations must be at least 1")]
    MaxIterationsZero,
    #[error("--holdout {fraction} is outside [0, 1)")]
    HoldoutRange { fraction: f64 },
    #[error("column {column:?} is given twice ({first} and {second})")]
    ColumnTwice {
        column: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("column {column:?} is the target, so it cannot also be in {flag}")]
    TargetAsInput { column: String, flag: &'static str },
    #[error("{flag} column {column:?} is not one of --features ({features})")]
    NotAFeature {
        column: String,
        flag: &'static str,
        features: String,
    },

    #[error("training data {} line {line}, column {column:?} is empty; pass --impute mean|median|most_frequent to fill missing cells (a category column takes its most frequent value)", path.display())]
    EmptyCell {
        path: PathBuf,
        line: u64,
        column: String,
    },
    #[error("training data {} line {line}: the target column {column:?} is empty (targets are never imputed)", path.display())]
    EmptyTarget {
        path: PathBuf,
        line: u64,
        column: String,
    },
    #[error("training data {}: column {column:?} has no values in its {rows} training rows", path.display())]
    NoValues {
        path: PathBuf,
        column: String,
        rows: usize,
    },
    #[error("training data {}: text column {column:?} has no words in its {rows} training rows (a word is two or more letters, digits or underscores)", path.display())]
    EmptyText {
        path: PathBuf,
        column: String,
        rows: usize,
    },
    #[error("training data {}: label column {column:?} has one class ({class}) in its {rows} training rows; a classifier needs at least two", path.display())]
    OneClass {
        path: PathBuf,
        column: String,
        class: String,
        rows: usize,
    },
    #[error("training data {} line {line}: label {label} of column {column:?} is only in held-out rows, so no model can learn it; use more data or a different --holdout", path.display())]
    UnseenLabel {
        path: PathBuf,
        line: u64,
        column: String,
        label: String,
    },
    #[error("training data {} has {rows} rows; --holdout {fraction} leaves {training} to train on and {held_out} to evaluate (at least 2 and 1 are needed; --holdout 0 trains on every row)", path.display())]
    Split {
        path: PathBuf,
        rows: usize,
        fraction: f64,
        training: usize,
        held_out: usize,
    },
    #[error("training data {} line {line}: {cause}", path.display())]
    Encode {
        path: PathBuf,
        line: u64,
        cause: RecordError,
    },
    #[error("{rows} training rows of {width} features are {} dense values, more than the {MAX_DENSE_VALUES} this trainer holds in memory; train on fewer rows or fewer columns", rows * width)]
    TooLarge { rows: usize, width: usize },
    #[error(
        "{width} features and an intercept cannot be fitted without a penalty from {rows} training rows: the solution is not unique; pass --alpha (with --family normal it is ridge regression) or use fewer columns"
    )]
    Underdetermined { rows: usize, width: usize },
    #[error("the {what} fit did not finish within {timeout:?}; {hint}")]
    Timeout {
        what: &'static str,
        timeout: Duration,
        hint: &'static str,
    },
    #[error("logistic regression failed: {0}")]
    Logistic(#[from] linfa_logistic::error::Error),
    /// A trained artifact the runtime would refuse, such as one with two features of one name.
    #[error("the trained model is not valid: {0}")]
    Invalid(Box<dyn std::error::Error + Send + Sync>),
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

/// A format_version 2 model, trained, with what the user should hear about how it went.
#[derive(Debug, Clone)]
pub struct Trained {
    /// Compiled by the runtime's own loader, versioned, with its metrics.
    pub artifact: schema::Artifact,
    /// The columns whose empty cells were filled, and with what.
    pub imputed: Vec<Imputed>,
    /// Set when the logistic regression stopped short of scikit-learn's convergence criterion.
    pub unconverged: Option<Unconverged>,
}

/// Reads the CSV, fits the transforms and the estimator on the training rows, compiles the
/// artifact exactly as the Lambda will load it, and scores both splits with that compiled model.
pub fn train_typed(options: &TypedOptions) -> Result<Trained, TrainError> {
    let path = &options.csv;
    let table = table::read(options)?;
    let rows = table.rows();
    let (holdout, training): (Vec<usize>, Vec<usize>) =
        (0..rows).partition(|&i| options.holdout.holds_out(i));
    if training.len() < 2 || (options.holdout.fraction() > 0.0 && holdout.is_empty()) {
        return Err(TrainError::Split {
            path: path.clone(),
            rows,
            fraction: options.holdout.fraction(),
            training: training.len(),
            held_out: holdout.len(),
        });
    }
    let response = estimator::response(path, &options.target, &table, &training, &holdout)?;
    let fitted = transforms::fit(options, &table, &training)?;
    let program = Program::new(&fitted.inputs, &fitted.transforms, &fitted.feature_names)
        .map_err(|e| TrainError::Invalid(Box::new(e)))?;
    if !options.estimator.penalized() && training.len() <= program.width() {
        return Err(TrainError::Underdetermined {
            rows: training.len(),
            width: program.width(),
        });
    }
    if training.len().saturating_mul(program.width()) > MAX_DENSE_VALUES {
        return Err(TrainError::TooLarge {
            rows: training.len(),
            width: program.width(),
        });
    }
    // The estimator learns from the features the runtime will compute, because the runtime's
    // own transforms compute them.
    let x_train = encode(path, &program, &table, &training)?;
    let x_holdout = encode(path, &program, &table, &holdout)?;
    let (estimator, unconverged) =
        estimator::fit(options.estimator, x_train.to_dense(), &response)?;

    let mut artifact = schema::Artifact {
        format_version: schema::FORMAT_VERSION,
        name: options.name.clone().unwrap_or_else(|| stem(path)),
        version: None,
        target: options.target.clone(),
        inputs: fitted.inputs,
        transforms: fitted.transforms,
        feature_names: fitted.feature_names,
        estimator,
        provenance: schema::Provenance::Trained {
            data_source: path.display().to_string(),
            trained_at: options.trained_at.clone(),
            train_rows: training.len() as u64,
            holdout_rows: holdout.len() as u64,
        },
        metrics: schema::Metrics::new(),
    };
    artifact.version = Some(typed_content_hash(&artifact));
    let model =
        Model::typed(artifact.clone(), "trained").map_err(|e| TrainError::Invalid(Box::new(e)))?;
    let scorer = model
        .typed_model()
        .expect("Model::typed compiles a format_version 2 model")
        .scorer();
    artifact.metrics.insert(
        "train".to_owned(),
        scores::score(scorer, &x_train, &response, scores::Split::Train)?,
    );
    if !holdout.is_empty() {
        artifact.metrics.insert(
            "holdout".to_owned(),
            scores::score(scorer, &x_holdout, &response, scores::Split::Holdout)?,
        );
    }
    Ok(Trained {
        artifact,
        imputed: fitted.imputed,
        unconverged,
    })
}

/// The feature rows of `rows`, encoded by the compiled transforms as a batch of records would be.
fn encode(
    path: &Path,
    program: &Program,
    table: &table::Table,
    rows: &[usize],
) -> Result<Features, TrainError> {
    let mut batch = program.batch(rows.len());
    for &row in rows {
        program
            .encode(&table.values(row), &mut batch)
            .map_err(|cause| TrainError::Encode {
                path: path.to_owned(),
                line: table.line(row),
                cause,
            })?;
    }
    Ok(batch.finish())
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

    // ---- format_version 2 ----

    fn request(csv: &Path, target: &str) -> TrainRequest {
        TrainRequest {
            csv: csv.to_owned(),
            target: target.into(),
            features: None,
            standardize: false,
            estimator: EstimatorKind::Ols,
            alpha: None,
            max_iterations: None,
            categorical: Vec::new(),
            text: None,
            impute: None,
            holdout: None,
            name: None,
            trained_at: "2026-01-01T00:00:00Z".into(),
            fit_timeout: Duration::from_secs(60),
        }
    }

    fn typed(request: TrainRequest) -> Result<Trained, TrainError> {
        match request.check()? {
            Plan::Typed(options) => train_typed(&options),
            Plan::Linear(_) => panic!("a format_version 2 request was expected"),
        }
    }

    fn logistic(artifact: &schema::Artifact) -> (&[schema::Label], &[Vec<f64>], &[f64]) {
        match &artifact.estimator {
            schema::Estimator::Logistic {
                classes,
                coef,
                intercept,
                ..
            } => (classes, coef, intercept),
            other => panic!("logistic expected, got {}", other.kind()),
        }
    }

    /// The largest |ours - theirs| / max(|theirs|, 1e-300) over both slices.
    fn max_relative(ours: &[f64], theirs: &[f64]) -> f64 {
        assert_eq!(ours.len(), theirs.len());
        ours.iter()
            .zip(theirs)
            .map(|(o, t)| (o - t).abs() / t.abs().max(1e-300))
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_fifth_held_out_is_the_format_1_split() {
        let fifth = Holdout::new(0.2).unwrap();
        assert_eq!(fifth, Holdout::EVERY_FIFTH);
        for i in 0..100_000 {
            assert_eq!(fifth.holds_out(i), i % 5 == 4, "row {i}");
        }
        let tenth = Holdout::new(0.1).unwrap();
        assert!((0..1000).all(|i| tenth.holds_out(i) == (i % 10 == 9)));
        let none = Holdout::new(0.0).unwrap();
        assert!((0..1000).all(|i| !none.holds_out(i)));
        // A quarter of 442 rows: 110 held out, spread through the file.
        let quarter = Holdout::new(0.25).unwrap();
        assert_eq!((0..442).filter(|&i| quarter.holds_out(i)).count(), 110);
        assert!(Holdout::new(1.0).is_none() && Holdout::new(-0.1).is_none());
        assert!(Holdout::new(f64::NAN).is_none());
    }

    #[test]
    fn only_the_new_options_choose_format_2() {
        let path = Path::new("data.csv");
        let plain = request(path, "y");
        assert!(matches!(plain.clone().check().unwrap(), Plan::Linear(_)));
        let glm = TrainRequest {
            estimator: EstimatorKind::Glm(Family::Poisson),
            alpha: Some(0.5),
            ..plain.clone()
        };
        let Plan::Linear(v1) = glm.check().unwrap() else {
            panic!("a GLM alone stays format_version 1")
        };
        assert_eq!((v1.family, v1.alpha), (Some(Family::Poisson), 0.5));

        let variants = [
            TrainRequest {
                estimator: EstimatorKind::Logistic,
                ..plain.clone()
            },
            TrainRequest {
                categorical: vec!["c".into()],
                ..plain.clone()
            },
            TrainRequest {
                text: Some("t".into()),
                ..plain.clone()
            },
            TrainRequest {
                impute: Some(Impute::Mean),
                ..plain.clone()
            },
            TrainRequest {
                holdout: Some(0.2),
                ..plain.clone()
            },
        ];
        for variant in variants {
            assert!(matches!(variant.check().unwrap(), Plan::Typed(_)));
        }
        let Plan::Typed(options) = TrainRequest {
            estimator: EstimatorKind::Logistic,
            ..plain
        }
        .check()
        .unwrap() else {
            panic!()
        };
        // scikit-learn's defaults: C = 1 and max_iter = 100.
        assert_eq!(
            options.estimator,
            EstimatorParams::Logistic {
                alpha: 1.0,
                max_iterations: 100,
                timeout: Duration::from_secs(60)
            }
        );
        assert!(options.holdout_is_default());
    }

    #[test]
    fn options_are_checked_against_each_other() {
        let plain = request(Path::new("data.csv"), "y");
        let cases = [
            (
                TrainRequest {
                    alpha: Some(1.0),
                    ..plain.clone()
                },
                "--alpha is the L2 penalty of the GLM families and logistic; ols has none",
            ),
            (
                TrainRequest {
                    estimator: EstimatorKind::Logistic,
                    alpha: Some(f64::NAN),
                    ..plain.clone()
                },
                "--alpha NaN is not a finite number >= 0",
            ),
            (
                TrainRequest {
                    max_iterations: Some(10),
                    ..plain.clone()
                },
                "--max-iterations applies to --family logistic only",
            ),
            (
                TrainRequest {
                    estimator: EstimatorKind::Logistic,
                    max_iterations: Some(0),
                    ..plain.clone()
                },
                "--max-iterations must be at least 1",
            ),
            (
                TrainRequest {
                    holdout: Some(1.0),
                    ..plain.clone()
                },
                "--holdout 1 is outside [0, 1)",
            ),
            (
                TrainRequest {
                    categorical: vec!["c".into()],
                    text: Some("c".into()),
                    ..plain.clone()
                },
                "column \"c\" is given twice (--categorical and --text)",
            ),
            (
                TrainRequest {
                    features: Some(vec!["a".into(), "a".into()]),
                    ..plain.clone()
                },
                "column \"a\" is given twice (--features and --features)",
            ),
            (
                TrainRequest {
                    text: Some("y".into()),
                    ..plain.clone()
                },
                "column \"y\" is the target, so it cannot also be in --text",
            ),
            (
                TrainRequest {
                    features: Some(vec!["a".into()]),
                    categorical: vec!["c".into()],
                    ..plain.clone()
                },
                "--categorical column \"c\" is not one of --features (a)",
            ),
        ];
        for (request, message) in cases {
            assert_eq!(request.check().unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn ols_on_every_diabetes_row_matches_scikit_learn() {
        // scikit-learn 1.9.1 (numpy 2.4.6), from the repository root:
        //   import numpy as np
        //   from sklearn.linear_model import LinearRegression
        //   d = np.loadtxt("data/diabetes.csv", delimiter=",", skiprows=1)
        //   m = LinearRegression().fit(d[:, :-1], d[:, -1])
        //   print([repr(float(c)) for c in m.coef_], repr(float(m.intercept_)))
        const COEF: [f64; 10] = [
            -0.036361224223623534,
            -22.859648090498354,
            5.602962091923719,
            1.1168079933181838,
            -1.0899963340632226,
            0.7464504555142124,
            0.3720047150891379,
            6.53383193599034,
            68.48312496478829,
            0.2801169893214981,
        ];
        const INTERCEPT: f64 = -334.5671385187875;
        let csv = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/diabetes.csv"));
        let trained = typed(TrainRequest {
            holdout: Some(0.0),
            ..request(csv, "progression")
        })
        .unwrap();
        let artifact = &trained.artifact;
        assert_eq!(artifact.format_version, 2);
        let schema::Estimator::LinearRegression { coef, intercept } = &artifact.estimator else {
            panic!("OLS expected")
        };
        let mut ours = coef.clone();
        ours.push(*intercept);
        let mut theirs = COEF.to_vec();
        theirs.push(INTERCEPT);
        let worst = max_relative(&ours, &theirs);
        assert!(worst < 1e-9, "max relative difference {worst:e}");
        assert_eq!(
            artifact.provenance,
            schema::Provenance::Trained {
                data_source: csv.display().to_string(),
                trained_at: "2026-01-01T00:00:00Z".into(),
                train_rows: 442,
                holdout_rows: 0,
            }
        );
        assert!(!artifact.metrics.contains_key("holdout"));
        let r2 = artifact.metrics["train"]["r2"].unwrap();
        assert!((r2 - 0.5177484222203511).abs() < 1e-12, "{r2}");
    }

    /// 60 rows of two features and a noisy linear score, exact in both Rust and Python.
    fn scored_rows() -> Vec<(f64, f64, f64)> {
        (0..60)
            .map(|i| {
                let a = ((i * 37) % 101) as f64 / 10.0 - 5.0;
                let b = ((i * 53) % 89) as f64 / 10.0 - 4.4;
                let noise = (((i * 17) % 23) as f64 - 11.0) / 4.0;
                (a, b, a + 0.5 * b + noise)
            })
            .collect()
    }

    #[test]
    fn logistic_regressions_match_scikit_learn() {
        // scikit-learn 1.9.1 on the same rows (see `scored_rows`):
        //   n = 60
        //   a = np.array([((i * 37) % 101) / 10 - 5.0 for i in range(n)])
        //   b = np.array([((i * 53) % 89) / 10 - 4.4 for i in range(n)])
        //   noise = np.array([(((i * 17) % 23) - 11.0) / 4.0 for i in range(n)])
        //   score = a + 0.5 * b + noise; X = np.column_stack([a, b])
        //   binary = np.where(score > 1.5, "yes", "no")
        //   multi = np.where(score < -1.0, 0, np.where(score < 1.5, 1, 2))
        //   LogisticRegression(C=1.0, tol=1e-12, max_iter=100000).fit(X, y) for y in both
        // "no" is the majority (40 of 60), so linfa's positive class is classes[0] here and the
        // artifact must negate linfa's coefficients to give p("yes").
        let rows = scored_rows();
        let mut binary = String::from("a,b,label\n");
        let mut multi = String::from("a,b,label\n");
        for &(a, b, score) in &rows {
            let yes = if score > 1.5 { "yes" } else { "no" };
            let k = if score < -1.0 {
                0
            } else if score < 1.5 {
                1
            } else {
                2
            };
            binary.push_str(&format!("{a},{b},{yes}\n"));
            multi.push_str(&format!("{a},{b},{k}\n"));
        }
        let fit = |text: &str| {
            let file = csv(text);
            typed(TrainRequest {
                estimator: EstimatorKind::Logistic,
                holdout: Some(0.0),
                ..request(file.path(), "label")
            })
            .unwrap()
        };

        let trained = fit(&binary);
        let (classes, coef, intercept) = logistic(&trained.artifact);
        assert_eq!(classes, ["no".into(), "yes".into()]);
        assert!(matches!(
            trained.artifact.estimator,
            schema::Estimator::Logistic {
                multi_class: schema::MultiClass::Binary,
                ..
            }
        ));
        let ours = [coef[0].clone(), intercept.to_vec()].concat();
        let theirs = [0.7983524127794771, 0.42813586839416806, -1.3644911082531337];
        let worst = max_relative(&ours, &theirs);
        // 2.5e-7 when this was written (linfa's 100 default iterations).
        assert!(worst < 1e-5, "binary: max relative difference {worst:e}");
        assert!(trained.unconverged.is_none());
        // accuracy_score, log_loss and roc_auc_score of scikit-learn's model on the same rows.
        let train = &trained.artifact.metrics["train"];
        assert_eq!(train["accuracy"], Some(0.85));
        assert!((train["log_loss"].unwrap() - 0.32855031747120444).abs() < 1e-6);
        assert_eq!(train["roc_auc"], Some(0.92125));

        let trained = fit(&multi);
        let (classes, coef, intercept) = logistic(&trained.artifact);
        // Integer labels stay integers.
        assert_eq!(classes, [0.into(), 1.into(), 2.into()]);
        let ours = [coef.concat(), intercept.to_vec()].concat();
        let theirs = [
            -0.8337864814927475,
            -0.4132808195357028,
            0.10242932964716876,
            0.024550456774947972,
            0.7313571518455787,
            0.3887303627607546,
            -0.3301821065618378,
            0.6039973520997338,
            -0.27381524553789627,
        ];
        let worst = max_relative(&ours, &theirs);
        assert!(
            worst < 1e-4,
            "multinomial: max relative difference {worst:e}"
        );
        // accuracy_score and log_loss of scikit-learn's model on the same rows.
        let train = &trained.artifact.metrics["train"];
        assert_eq!(train["accuracy"], Some(0.7));
        assert!((train["log_loss"].unwrap() - 0.5916363218012689).abs() < 1e-6);
        assert!(!train.contains_key("roc_auc"), "ROC AUC is binary only");
    }

    #[test]
    fn binary_probabilities_are_those_of_the_second_class() {
        // Majority "yes" = classes[1]: linfa's positive class is the artifact's, no flip. The
        // feature pushes towards "yes" either way, so its coefficient must be positive.
        let mut text = String::from("x,label\n");
        for i in 0..50 {
            let x = i as f64 / 10.0;
            let label = if i < 15 || i % 11 == 0 { "no" } else { "yes" };
            text.push_str(&format!("{x},{label}\n"));
        }
        let file = csv(&text);
        let trained = typed(TrainRequest {
            estimator: EstimatorKind::Logistic,
            ..request(file.path(), "label")
        })
        .unwrap();
        let (classes, coef, _) = logistic(&trained.artifact);
        assert_eq!(classes, ["no".into(), "yes".into()]);
        assert!(coef[0][0] > 0.0, "{coef:?}");
        // Held out: x = 0.4, 0.9, 1.4 and 4.4 are "no", the six other rows "yes"; ranked by a
        // rising probability of "yes", 19 of the 24 (yes, no) pairs are in order.
        let holdout = &trained.artifact.metrics["holdout"];
        assert_eq!(holdout["roc_auc"], Some(19.0 / 24.0), "{holdout:?}");
        // Only the noisy x = 4.4 is misclassified.
        assert_eq!(holdout["accuracy"], Some(0.9), "{holdout:?}");
    }

    #[test]
    fn tfidf_matches_scikit_learn() {
        // scikit-learn 1.9.1:
        //   t = TfidfVectorizer().fit(["The NAÏVE café", "nai\u0308ve ΣΊΣΥΦΟΣ the café",
        //                              "Straße straße STRASSE the", "", "a b c_d 42 4 ab-cd the"])
        //   sorted(t.vocabulary_.items(), key=lambda kv: kv[1]); list(t.idf_)
        let docs = [
            "The NAÏVE café",
            "nai\u{308}ve ΣΊΣΥΦΟΣ the café",
            "Straße straße STRASSE the",
            "",
            "a b c_d 42 4 ab-cd the",
        ];
        let (vocabulary, idf) = transforms::tfidf(&docs);
        let terms: Vec<&str> = vocabulary.keys().map(String::as_str).collect();
        assert_eq!(
            terms,
            [
                "42",
                "ab",
                "c_d",
                "café",
                "cd",
                "nai",
                "naïve",
                "strasse",
                "straße",
                "the",
                "ve",
                "σίσυφος"
            ]
        );
        assert!(vocabulary.values().copied().eq(0..12));
        let (rare, two, common) = (2.09861228866811, 1.6931471805599454, 1.1823215567939547);
        let mut expected = [rare; 12];
        expected[3] = two;
        expected[9] = common;
        assert_eq!(idf, expected);
    }

    #[test]
    fn categories_text_and_imputation_are_declared_for_the_runtime() {
        let text = "\
age,plan,note,label
30,basic,cancel now,churn
,pro,love it,stay
50,,refund please,churn
40,pro,great app,stay
70,basic,cancel cancel,churn
30,enterprise,,stay
45,pro,love love,stay
35,basic,refund,churn
";
        let file = csv(text);
        let trained = typed(TrainRequest {
            estimator: EstimatorKind::Logistic,
            categorical: vec!["plan".into()],
            text: Some("note".into()),
            impute: Some(Impute::Median),
            standardize: true,
            holdout: Some(0.0),
            ..request(file.path(), "label")
        })
        .unwrap();
        let a = &trained.artifact;
        let kinds: Vec<_> = a.inputs.iter().map(|i| (i.name.as_str(), i.kind)).collect();
        use schema::InputKind::{Category, Number, Text};
        assert_eq!(kinds, [("age", Number), ("plan", Category), ("note", Text)]);
        let steps: Vec<Vec<&str>> = a
            .transforms
            .blocks
            .iter()
            .map(|b| b.steps.iter().map(schema::Step::kind).collect())
            .collect();
        assert_eq!(
            steps,
            [
                vec!["impute", "standard_scaler"],
                vec!["impute", "one_hot"],
                vec!["count_vectorizer", "tfidf"]
            ]
        );
        // The median of 30,50,40,70,30,45,35 is 40; "basic" and "pro" tie at 3 and the smaller
        // wins, as scikit-learn's most_frequent picks.
        assert_eq!(
            trained.imputed,
            [
                Imputed {
                    column: "age".into(),
                    cells: 1,
                    strategy: ImputeStrategy::Median,
                    fill: schema::Fill::Float(40.0),
                },
                Imputed {
                    column: "plan".into(),
                    cells: 1,
                    strategy: ImputeStrategy::MostFrequent,
                    fill: schema::Fill::Str("basic".into()),
                },
            ]
        );
        assert_eq!(
            a.feature_names[..4],
            ["age", "plan_basic", "plan_enterprise", "plan_pro"]
        );
        assert!(a.feature_names.contains(&"note__cancel".to_owned()));
        let schema::Step::OneHot(one_hot) = &a.transforms.blocks[1].steps[1] else {
            panic!()
        };
        assert_eq!(one_hot.handle_unknown, schema::HandleUnknown::Ignore);
        assert_eq!(one_hot.drop, None, "a penalized fit keeps every category");

        // The runtime loads it, and a record missing `age` and `plan` is imputed, not refused.
        let model = Model::typed(a.clone(), "test").unwrap();
        let typed = model.typed_model().unwrap();
        let mut batch = typed.program().batch(1);
        let values = [
            stream_infer::model::Value::Missing,
            stream_infer::model::Value::Missing,
            stream_infer::model::Value::Str("cancel".into()),
        ];
        let encoded = typed.program().encode(&values, &mut batch).unwrap();
        assert_eq!(encoded.imputed, [0, 1]);
        let Ok(stream_infer::model::Output::Classes { label_index, .. }) =
            typed.scorer().evaluate(&batch.finish())
        else {
            panic!("a classifier's output expected")
        };
        assert_eq!(typed.scorer().classes()[label_index[0]], "churn".into());
    }

    #[test]
    fn unpenalized_fits_drop_the_first_category() {
        let file = csv("c,x,y\na,1,2\nb,2,5\na,3,6\nc,4,11\nb,5,12\nc,6,15\na,7,12\n");
        let trained = typed(TrainRequest {
            categorical: vec!["c".into()],
            holdout: Some(0.0),
            ..request(file.path(), "y")
        })
        .unwrap();
        let a = &trained.artifact;
        assert_eq!(a.feature_names, ["x", "c_b", "c_c"]);
        let schema::Step::OneHot(one_hot) = &a.transforms.blocks[1].steps[0] else {
            panic!()
        };
        assert_eq!(one_hot.drop, Some(vec![Some(0)]));
        let schema::Estimator::LinearRegression { coef, .. } = &a.estimator else {
            panic!()
        };
        assert!(coef.iter().all(|c| c.abs() < 100.0), "{coef:?}");

        // Without a penalty, more features than rows has no unique solution.
        let err = typed(TrainRequest {
            text: Some("c".into()),
            categorical: Vec::new(),
            holdout: Some(0.0),
            features: Some(vec!["c".into()]),
            ..request(csv("c,y\nab cd ef gh,1\nij kl,2\n").path(), "y")
        });
        assert!(
            matches!(err, Err(TrainError::Underdetermined { rows: 2, width: 6 })),
            "{err:?}"
        );
    }

    #[test]
    fn bad_typed_data_is_named_by_line_and_column() {
        let logistic = |text: &str, extra: fn(TrainRequest) -> TrainRequest| {
            let file = csv(text);
            let request = TrainRequest {
                estimator: EstimatorKind::Logistic,
                holdout: Some(0.0),
                ..request(file.path(), "y")
            };
            let err = typed(extra(request)).unwrap_err().to_string();
            // The message names the file; the rest is what matters here.
            err.split_once(".csv")
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or(err)
        };
        assert_eq!(
            logistic("a,y\n1,x\n2,x\n3,x\n", |r| r),
            ": label column \"y\" has one class (x) in its 3 training rows; a classifier needs at least two"
        );
        assert_eq!(
            logistic("a,y\n1,x\n,z\n3,x\n", |r| r),
            " line 3, column \"a\" is empty; pass --impute mean|median|most_frequent to fill missing cells (a category column takes its most frequent value)"
        );
        assert_eq!(
            logistic("a,y\n1,x\n2,\n3,z\n", |r| r),
            " line 3: the target column \"y\" is empty (targets are never imputed)"
        );
        assert_eq!(
            logistic("t,y\n!,x\n,z\n- -,x\n", |r| TrainRequest {
                text: Some("t".into()),
                ..r
            }),
            ": text column \"t\" has no words in its 3 training rows (a word is two or more letters, digits or underscores)"
        );
        // Every fifth row is held out: a label only there cannot be learned.
        assert_eq!(
            logistic("a,y\n1,x\n2,z\n3,x\n4,z\n5,w\n", |r| TrainRequest {
                holdout: None,
                ..r
            }),
            " line 6: label \"w\" of column \"y\" is only in held-out rows, so no model can learn it; use more data or a different --holdout"
        );
        assert_eq!(
            logistic("a,y\n1,x\nfoo,z\n3,x\n", |r| r),
            " line 3, column \"a\": \"foo\" is not a finite number"
        );
    }
}
