//! The stream-infer CLI: run the Lambda's handler on a saved event, or train a model artifact.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use stream_infer::config::Config;
use stream_infer::handler::{self, App};
use stream_infer::model::{Family, ModelSource};
use stream_infer::sink::Deadline;
use stream_infer::train::{self, TrainOptions};

#[derive(Parser)]
#[command(
    name = "stream-infer",
    version,
    about = "ML inference on Kinesis and DynamoDB Streams batches"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Lambda's handler on a saved event: predictions to the sink (stdout by default),
    /// rejections and a summary to stderr, and the Lambda's response as the last stdout line.
    Invoke {
        /// A Kinesis or DynamoDB Streams event, as Lambda delivers it.
        event: PathBuf,
        /// A model file, instead of MODEL_URI or the embedded model.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Fit a linfa-linear model on a CSV and write the model artifact.
    Train {
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
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FamilyArg {
    Ols,
    Normal,
    Poisson,
    Gamma,
    InverseGaussian,
}

impl FamilyArg {
    fn family(self) -> Option<Family> {
        match self {
            FamilyArg::Ols => None,
            FamilyArg::Normal => Some(Family::Normal),
            FamilyArg::Poisson => Some(Family::Poisson),
            FamilyArg::Gamma => Some(Family::Gamma),
            FamilyArg::InverseGaussian => Some(Family::InverseGaussian),
        }
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stream-infer: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Invoke { event, model } => invoke(event, model),
        Command::Train {
            csv,
            target,
            features,
            standardize,
            family,
            alpha,
            name,
            fit_timeout,
            out,
        } => {
            let options = TrainOptions {
                csv,
                target,
                features,
                standardize,
                family: family.family(),
                alpha,
                name,
                trained_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                fit_timeout: std::time::Duration::from_secs(fit_timeout),
            };
            train_model(&options, &out)
        }
    }
}

fn invoke(event: PathBuf, model: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = Config::from_env()?;
        if let Some(path) = model {
            config.model = ModelSource::File(path);
        }
        let text = std::fs::read_to_string(&event)
            .with_context(|| format!("cannot read event file {}", event.display()))?;
        let app = App::build(&config).await?;
        tracing::info!(
            sink = app.sink.describe(),
            dead_letter = app.dead_letter.describe(),
            "invoking"
        );
        let handled = handler::handle(&app, &text, &Deadline::none())
            .await
            .with_context(|| format!("event file {}", event.display()))?;
        println!("{}", serde_json::to_string(&handled.response)?);
        eprintln!("{}", serde_json::json!({ "summary": handled.summary() }));
        Ok(())
    })
}

fn train_model(options: &TrainOptions, out: &PathBuf) -> anyhow::Result<()> {
    let artifact = train::train(options)?;
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
