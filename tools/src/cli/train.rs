//! `stream-infer train`: fit a model on a CSV and write the artifact, with its metrics printed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use stream_infer::model::Family;
use stream_infer::model::schema::{self, Estimator, Fill, ImputeStrategy};

use crate::train::{self, EstimatorKind, Impute, Plan, TrainRequest, Trained, TypedOptions};

/// Fit a linear model on a CSV and write the model artifact.
///
/// A numeric regression (`ols` or a GLM family) with none of --categorical, --text, --impute
/// and --holdout writes a format_version 1 artifact, as earlier versions did. Any of those, or
/// `--family logistic`, writes format_version 2: typed inputs and the fitted transforms declared
/// in the artifact, so the Lambda applies them to every record.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training data with a header row.
    #[arg(long)]
    csv: PathBuf,
    /// The column to predict: a number, or a class label for `--family logistic` (integer
    /// labels stay integers, anything else is a string).
    #[arg(long)]
    target: String,
    /// Input columns in model order; every other column when omitted.
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// Standardize the numeric columns (mean 0, standard deviation 1) before fitting.
    #[arg(long)]
    standardize: bool,
    /// `ols` (LinearRegression), a GLM family for TweedieRegressor, or `logistic` (binary or
    /// multinomial, chosen from the labels).
    #[arg(long, default_value = "ols")]
    family: FamilyArg,
    /// L2 penalty: the GLM's (default 0), or the logistic regression's (default 1, scikit-learn's
    /// C = 1/alpha).
    #[arg(long, value_parser = non_negative)]
    alpha: Option<f64>,
    /// L-BFGS iterations the logistic regression may take [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_iterations: Option<u64>,
    /// Columns to one-hot encode with the categories seen in training, sorted; a category first
    /// seen at runtime encodes as all zeros. Without a penalty (ols, or --alpha 0) the first
    /// category is dropped and becomes the intercept's baseline.
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// A column of free text, vectorized as scikit-learn's TfidfVectorizer() fitted on the
    /// training rows (lowercased, tokens of 2+ letters, digits or underscores, smooth idf, l2
    /// norm). A record without this field is dead-lettered: text is never imputed.
    #[arg(long)]
    text: Option<String>,
    /// Fill empty cells of the input columns, in training and in records missing the field at
    /// runtime. Category columns always take their most frequent value.
    #[arg(long)]
    impute: Option<ImputeArg>,
    /// The share of rows held out for evaluation, spread evenly through the file; 0 fits every
    /// row. When omitted every fifth row is held out.
    #[arg(long, value_parser = fraction)]
    holdout: Option<f64>,
    /// The model's name; the CSV's file stem when omitted.
    #[arg(long)]
    name: Option<String>,
    /// Seconds a GLM or logistic fit may run before it is given up.
    #[arg(long, default_value_t = 120)]
    fit_timeout: u64,
    /// Where to write the artifact.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FamilyArg {
    Ols,
    Normal,
    Poisson,
    Gamma,
    InverseGaussian,
    Logistic,
}

impl From<FamilyArg> for EstimatorKind {
    fn from(family: FamilyArg) -> EstimatorKind {
        match family {
            FamilyArg::Ols => EstimatorKind::Ols,
            FamilyArg::Normal => EstimatorKind::Glm(Family::Normal),
            FamilyArg::Poisson => EstimatorKind::Glm(Family::Poisson),
            FamilyArg::Gamma => EstimatorKind::Glm(Family::Gamma),
            FamilyArg::InverseGaussian => EstimatorKind::Glm(Family::InverseGaussian),
            FamilyArg::Logistic => EstimatorKind::Logistic,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum ImputeArg {
    Mean,
    Median,
    MostFrequent,
}

impl From<ImputeArg> for Impute {
    fn from(impute: ImputeArg) -> Impute {
        match impute {
            ImputeArg::Mean => Impute::Mean,
            ImputeArg::Median => Impute::Median,
            ImputeArg::MostFrequent => Impute::MostFrequent,
        }
    }
}

/// A finite number >= 0.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a finite number >= 0")),
    }
}

/// A fraction in [0, 1).
fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if train::Holdout::new(v).is_some() => Ok(v),
        _ => Err(format!("{text:?} is not a fraction in [0, 1)")),
    }
}

impl From<&TrainArgs> for TrainRequest {
    fn from(args: &TrainArgs) -> TrainRequest {
        TrainRequest {
            csv: args.csv.clone(),
            target: args.target.clone(),
            features: args.features.clone(),
            standardize: args.standardize,
            estimator: args.family.into(),
            alpha: args.alpha,
            max_iterations: args.max_iterations,
            categorical: args.categorical.clone(),
            text: args.text.clone(),
            impute: args.impute.map(Impute::from),
            holdout: args.holdout,
            name: args.name.clone(),
            trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            fit_timeout: Duration::from_secs(args.fit_timeout),
        }
    }
}

/// Trains, writes the artifact and prints its metrics.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    match TrainRequest::from(&args).check()? {
        Plan::Linear(options) => run_linear(&options, &args),
        Plan::Typed(options) => run_typed(&options, &args),
    }
}

/// format_version 1, printed as it always has been.
fn run_linear(options: &train::TrainOptions, args: &TrainArgs) -> anyhow::Result<()> {
    let artifact = train::train(options)?;
    let out = &args.out;
    std::fs::write(out, artifact.to_json())
        .with_context(|| format!("cannot write model to {}", out.display()))?;
    let t = &artifact.training;
    println!("model    {} {}", artifact.name, artifact.version);
    println!("features {}", artifact.features.join(","));
    println!(
        "split    {} training rows, {} held out (every 5th row)",
        t.train_rows, t.holdout_rows
    );
    let r2 = |r2: Option<f64>| {
        r2.map_or_else(|| "n/a (constant target)".to_owned(), |r| format!("{r:.4}"))
    };
    println!("train    R2 {}  RMSE {:.4}", r2(t.train.r2), t.train.rmse);
    println!(
        "held-out R2 {}  RMSE {:.4}",
        r2(t.holdout.r2),
        t.holdout.rmse
    );
    println!("wrote    {}", out.display());
    Ok(())
}

/// format_version 2: written as `stream-infer import` writes artifacts, then summarized.
fn run_typed(options: &TypedOptions, args: &TrainArgs) -> anyhow::Result<()> {
    let Trained {
        artifact,
        imputed,
        unconverged,
    } = train::train_typed(options)?;
    let out = &args.out;
    let mut text = serde_json::to_string_pretty(&artifact)?;
    text.push('\n');
    std::fs::write(out, text)
        .with_context(|| format!("cannot write model to {}", out.display()))?;

    let version = artifact.version.as_deref().unwrap_or_default();
    println!("model    {} {}", artifact.name, version);
    match &artifact.estimator {
        Estimator::Logistic {
            classes,
            multi_class,
            ..
        } => {
            let classes: Vec<String> = classes.iter().map(ToString::to_string).collect();
            let how = match multi_class {
                schema::MultiClass::Binary => "binary",
                _ => "multinomial",
            };
            println!("kind     logistic, {how}: classes {}", classes.join(", "));
        }
        other => println!("kind     {}", other.kind()),
    }
    let inputs: Vec<String> = artifact
        .inputs
        .iter()
        .map(|i| format!("{} ({})", i.name, i.kind.as_str()))
        .collect();
    println!("inputs   {}", inputs.join(", "));
    println!("features {}", artifact.feature_names.len());
    for i in &imputed {
        let fill = match &i.fill {
            Fill::Float(v) => format!("{v}"),
            Fill::Str(s) => format!("{s:?}"),
            Fill::Int(v) => v.to_string(),
            Fill::UInt(v) => v.to_string(),
        };
        let strategy = match i.strategy {
            ImputeStrategy::Mean => "mean",
            ImputeStrategy::Median => "median",
            ImputeStrategy::MostFrequent => "most frequent",
            ImputeStrategy::Constant => "constant",
        };
        println!(
            "imputed  {}: {} empty cells filled with the {strategy}, {fill}",
            i.column, i.cells
        );
    }
    if let schema::Provenance::Trained {
        train_rows,
        holdout_rows,
        ..
    } = &artifact.provenance
    {
        let how = if options.holdout_is_default() {
            "every 5th row".to_owned()
        } else {
            format!("--holdout {}", options.holdout().fraction())
        };
        println!("split    {train_rows} training rows, {holdout_rows} held out ({how})");
    }
    for (split, label) in [("train", "train   "), ("holdout", "held-out")] {
        match artifact.metrics.get(split) {
            Some(metrics) => println!("{label} {}", show_metrics(metrics)),
            None => println!("{label} none (--holdout 0 fits every row)"),
        }
    }
    if let Some(u) = unconverged {
        eprintln!(
            "warning: the logistic regression may not have converged in {} iterations: the \
             largest gradient component of the mean loss is {:.2e} (scikit-learn's tol is {:.0e}); \
             pass --standardize or raise --max-iterations",
            u.max_iterations, u.max_gradient, u.tolerance
        );
    }
    println!("wrote    {}", out.display());
    Ok(())
}

/// One split's metrics on one line, in a fixed order.
fn show_metrics(metrics: &std::collections::BTreeMap<String, Option<f64>>) -> String {
    let mut parts = Vec::new();
    for (key, label) in [
        ("accuracy", "accuracy"),
        ("log_loss", "log loss"),
        ("roc_auc", "ROC AUC"),
        ("r2", "R2"),
        ("rmse", "RMSE"),
    ] {
        match metrics.get(key) {
            Some(Some(v)) => parts.push(format!("{label} {v:.4}")),
            Some(None) => parts.push(format!("{label} n/a")),
            None => {}
        }
    }
    parts.join("  ")
}
