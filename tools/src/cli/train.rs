//! `stream-infer train`: fit a model on a CSV and write the artifact, with its metrics printed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use stream_infer::model::Family;

use crate::train::{self, TrainOptions};

/// Fit a linfa-linear model on a CSV and write the model artifact.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training data with a header row.
    #[arg(long)]
    csv: PathBuf,
    /// The column to predict.
    #[arg(long)]
    target: String,
    /// Feature columns in model order; every other column when omitted.
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// Standardize features (mean 0, standard deviation 1) before fitting.
    #[arg(long)]
    standardize: bool,
    /// `ols` (LinearRegression) or a GLM family for TweedieRegressor.
    #[arg(long, default_value = "ols")]
    family: FamilyArg,
    /// L2 penalty for the GLM families.
    #[arg(long, default_value_t = 0.0)]
    alpha: f64,
    /// The model's name; the CSV's file stem when omitted.
    #[arg(long)]
    name: Option<String>,
    /// Seconds a GLM fit may run before it is given up.
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
}

impl From<FamilyArg> for Option<Family> {
    fn from(family: FamilyArg) -> Option<Family> {
        match family {
            FamilyArg::Ols => None,
            FamilyArg::Normal => Some(Family::Normal),
            FamilyArg::Poisson => Some(Family::Poisson),
            FamilyArg::Gamma => Some(Family::Gamma),
            FamilyArg::InverseGaussian => Some(Family::InverseGaussian),
        }
    }
}

impl From<&TrainArgs> for TrainOptions {
    fn from(args: &TrainArgs) -> TrainOptions {
        TrainOptions {
            csv: args.csv.clone(),
            target: args.target.clone(),
            features: args.features.clone(),
            standardize: args.standardize,
            family: args.family.into(),
            alpha: args.alpha,
            name: args.name.clone(),
            trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            fit_timeout: Duration::from_secs(args.fit_timeout),
        }
    }
}

/// Trains, writes the artifact and prints its metrics.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let artifact = train::train(&TrainOptions::from(&args))?;
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
