//! The stream-infer CLI: run the Lambda's handler on a saved event, train a model artifact, put
//! sample records into a stream, and run the event source mapping locally.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use stream_infer::config::Config;
use stream_infer::handler::{self, App};
use stream_infer::model::{Family, ModelSource};
use stream_infer::sink::Deadline;
use stream_infer_tools::train::{self, TrainOptions};
use stream_infer_tools::trigger::{self, Function, Mapping, OnFailure, Retries, Stream, Trigger};

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
    /// Time the handler in process on saved events: decode, features, predict and respond,
    /// medians over `--runs`, one JSON line per event. Predictions go nowhere.
    Bench {
        /// Kinesis or DynamoDB Streams events.
        #[arg(required = true)]
        events: Vec<PathBuf>,
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// Put a sample event's records into a Kinesis stream or a DynamoDB table, in order.
    Put {
        /// A Kinesis or DynamoDB Streams event (e.g. events/kinesis.json).
        event: PathBuf,
        /// The Kinesis stream (name or ARN) that gets each record's decoded data.
        #[arg(long, required_unless_present = "table", conflicts_with = "table")]
        stream: Option<String>,
        /// The DynamoDB table that gets each record's NewImage (a REMOVE deletes its Keys).
        #[arg(long)]
        table: Option<String>,
        /// Put the event's records this many times over.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Run Lambda's event source mapping locally: poll a stream, invoke the function on batches,
    /// checkpoint, retry and bisect as Lambda does. Invocations are logged to stderr; a summary
    /// with the put-to-prediction latency is printed when it stops.
    LocalTrigger {
        /// Poll this Kinesis stream (name or ARN).
        #[arg(
            long,
            required_unless_present = "dynamodb_table",
            conflicts_with = "dynamodb_table"
        )]
        kinesis_stream: Option<String>,
        /// Poll this DynamoDB table's stream (a table name or a stream ARN).
        #[arg(long)]
        dynamodb_table: Option<String>,
        /// The Runtime API emulator (`cargo lambda watch -A 127.0.0.1`).
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        function_url: String,
        /// The function's name at the emulator: the Lambda binary's name.
        #[arg(long, default_value = "stream-infer-lambda")]
        function_name: String,
        /// Run the handler in this process, configured from this process's environment, instead
        /// of invoking the emulator.
        #[arg(long)]
        in_process: bool,
        /// BatchSize.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// MaximumBatchingWindowInSeconds.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=300))]
        maximum_batching_window: u32,
        /// StartingPosition. Locally TRIM_HORIZON is the default, so records put before the
        /// trigger starts are read.
        #[arg(long, default_value = "trim-horizon")]
        starting_position: PositionArg,
        /// MaximumRetryAttempts; -1 retries until the records expire.
        #[arg(long, default_value_t = 5, allow_negative_numbers = true,
              value_parser = clap::value_parser!(i64).range(-1..=10_000))]
        maximum_retry_attempts: i64,
        /// BisectBatchOnFunctionError.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        bisect_batch_on_function_error: bool,
        /// MaximumRecordAgeInSeconds; -1 keeps records until they are processed.
        #[arg(long, default_value_t = 3600, allow_negative_numbers = true,
              value_parser = clap::value_parser!(i64).range(-1..=604_800))]
        maximum_record_age: i64,
        /// DestinationConfig.OnFailure: the SQS queue for on-failure records; logged when unset.
        #[arg(long)]
        on_failure_queue_url: Option<String>,
        /// Seconds to wait for one invocation (the first one through the emulator compiles the
        /// function).
        #[arg(long, default_value_t = 900)]
        function_timeout: u64,
        /// Stop after this many seconds with no new records; run until interrupted when unset.
        #[arg(long)]
        idle_exit: Option<f64>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PositionArg {
    TrimHorizon,
    Latest,
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
    let cli = Cli::parse();
    // The local trigger logs each invocation; the other commands only warnings.
    let default_filter = match cli.command {
        Command::LocalTrigger { .. } => "warn,stream_infer::trigger=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    match cli.command {
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
        Command::Bench { events, runs } => bench(&events, runs),
        Command::Put {
            event,
            stream,
            table,
            repeat,
        } => block_on(put(event, stream, table, repeat)),
        Command::LocalTrigger {
            kinesis_stream,
            dynamodb_table,
            function_url,
            function_name,
            in_process,
            batch_size,
            maximum_batching_window,
            starting_position,
            maximum_retry_attempts,
            bisect_batch_on_function_error,
            maximum_record_age,
            on_failure_queue_url,
            function_timeout,
            idle_exit,
        } => {
            let mapping = Mapping {
                batch_size: batch_size as usize,
                window: std::time::Duration::from_secs(maximum_batching_window.into()),
                starting_position: match starting_position {
                    PositionArg::TrimHorizon => trigger::StartingPosition::TrimHorizon,
                    PositionArg::Latest => trigger::StartingPosition::Latest,
                },
                retries: Retries {
                    maximum: u32::try_from(maximum_retry_attempts).ok(),
                    bisect: bisect_batch_on_function_error,
                },
                maximum_record_age: u64::try_from(maximum_record_age)
                    .ok()
                    .map(std::time::Duration::from_secs),
            };
            let idle = match idle_exit {
                Some(s) if !(s.is_finite() && s >= 0.0) => {
                    anyhow::bail!("--idle-exit {s} is not a number of seconds")
                }
                other => other.map(std::time::Duration::from_secs_f64),
            };
            block_on(local_trigger(LocalTrigger {
                kinesis_stream,
                dynamodb_table,
                function: (!in_process).then(|| {
                    Function::runtime_api(
                        &function_url,
                        &function_name,
                        std::time::Duration::from_secs(function_timeout),
                    )
                }),
                function_name,
                mapping,
                on_failure_queue_url,
                stop: trigger::Stop { idle },
            }))
        }
    }
}

fn bench(events: &[PathBuf], runs: usize) -> anyhow::Result<()> {
    // The default configuration: the embedded model, features at the top level, key `id`.
    let config = Config::from_lookup(|_| None)?;
    let mut app = App::with_model(&config, stream_infer::model::Model::embedded(), None);
    app.sink = stream_infer::sink::Sink::Stdout(stream_infer::sink::JsonLinesSink::new(Box::new(
        std::io::sink(),
    )));
    for path in events {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read event file {}", path.display()))?;
        let timing = stream_infer_tools::bench::time_event(&app, &text, runs)
            .with_context(|| format!("event file {}", path.display()))?;
        let mut line = serde_json::to_value(&timing)?;
        line["event"] = path.display().to_string().into();
        println!("{line}");
    }
    Ok(())
}

fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work)
}

async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

async fn put(
    event: PathBuf,
    stream: Option<String>,
    table: Option<String>,
    repeat: usize,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&event)
        .with_context(|| format!("cannot read event file {}", event.display()))?;
    let aws = aws().await;
    let target = match (stream, table) {
        (Some(stream), _) => stream_infer_tools::put::Target::Kinesis {
            client: aws_sdk_kinesis::Client::new(&aws),
            stream,
        },
        (None, Some(table)) => stream_infer_tools::put::Target::Dynamodb {
            client: aws_sdk_dynamodb::Client::new(&aws),
            table,
        },
        (None, None) => anyhow::bail!("give --stream or --table"),
    };
    let (mut put, mut refused) = (0, 0);
    for _ in 0..repeat {
        let done = target
            .put(&text)
            .await
            .with_context(|| format!("event file {}", event.display()))?;
        put += done.put;
        refused += done.refused.len();
        for r in &done.refused {
            eprintln!(
                "{}: record {} not put: {}",
                event.display(),
                r.index,
                r.reason
            );
        }
    }
    println!(
        "{}",
        serde_json::json!({ "target": target.describe(), "put": put, "refused": refused })
    );
    Ok(())
}

struct LocalTrigger {
    kinesis_stream: Option<String>,
    dynamodb_table: Option<String>,
    /// `None` runs the handler in process.
    function: Option<Function>,
    function_name: String,
    mapping: Mapping,
    on_failure_queue_url: Option<String>,
    stop: trigger::Stop,
}

async fn local_trigger(options: LocalTrigger) -> anyhow::Result<()> {
    let aws = aws().await;
    let stream = match (&options.kinesis_stream, &options.dynamodb_table) {
        (Some(stream), _) => Stream::kinesis(&aws, stream).await?,
        (None, Some(table)) => Stream::dynamodb(&aws, table).await?,
        (None, None) => anyhow::bail!("give --kinesis-stream or --dynamodb-table"),
    };
    let (function, function_name) = match options.function {
        Some(function) => (function, options.function_name),
        None => {
            let config = Config::from_env()?;
            let app = App::build(&config).await?;
            (
                Function::InProcess(Box::new(app)),
                "stream-infer".to_owned(),
            )
        }
    };
    let on_failure = match options.on_failure_queue_url {
        Some(queue_url) => OnFailure::Sqs {
            client: aws_sdk_sqs::Client::new(&aws),
            queue_url,
        },
        None => OnFailure::Log,
    };
    tracing::info!(
        stream = stream.arn(),
        function = function.describe(),
        "polling"
    );
    let trigger = Trigger {
        stream,
        function,
        function_name,
        mapping: options.mapping,
        on_failure,
    };
    let report = trigger.run(options.stop).await?;
    let retries = report.invocations.iter().filter(|i| i.retry > 0).count();
    println!(
        "{}",
        serde_json::json!({
            "invocations": report.invocations.len(),
            "retries": retries,
            "processed": report.processed(),
            "on_failure": report.on_failure.len(),
            "median_latency_ms": report.median_latency().map(|s| (s * 1e4).round() / 10.0),
        })
    );
    Ok(())
}

fn invoke(event: PathBuf, model: Option<PathBuf>) -> anyhow::Result<()> {
    block_on(async {
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
