//! `stream-infer bench`: stage timings of the handler on saved events, one JSON line each.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use stream_infer::{App, Config, JsonLinesSink, Sink, model::Model};

/// Time the handler in process on saved events: decode, features, predict and respond,
/// medians over `--runs`, one JSON line per event. Predictions go nowhere.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Kinesis, DynamoDB Streams or SQS events.
    #[arg(required = true)]
    events: Vec<PathBuf>,
    /// Runs per event; the median is reported.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// A model file (format_version 1 or 2) instead of the embedded model. The time this process
    /// took to load it (read, parse, validate, compile: what a cold start pays) is reported on
    /// every line as `model_load_ns`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Emit the EMF metrics document of every invocation (built, then dropped) as the Lambda
    /// does with `METRICS=on`. Without it, metrics are off.
    #[arg(long)]
    metrics: bool,
    /// Log as the Lambda does (its invocation span and `batch done` line, as JSON at INFO), to
    /// nowhere. Without it, only the CLI's own WARN logging is on.
    #[arg(long)]
    lambda_logs: bool,
}

/// Times every event on the default configuration with a sink that writes nowhere.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    // The default configuration: features at the top level, key `id`; metrics as asked.
    let metrics = if args.metrics { "on" } else { "off" };
    let config = Config::from_lookup(|name| (name == "METRICS").then(|| metrics.to_owned()))?;
    // The CLI's own subscriber logs WARN and up to stderr; the Lambda logs INFO as JSON. With
    // `--lambda-logs` this thread logs like the Lambda, to nowhere, while the bench runs.
    let _lambda_logs = args.lambda_logs.then(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::sink)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_default(subscriber)
    });
    let (model, load_ns) = match &args.model {
        None => (Model::embedded(), None),
        Some(path) => {
            let start = Instant::now();
            let model = Model::from_path(path)?;
            (model, Some(start.elapsed().as_nanos() as u64))
        }
    };
    let app = App::new(&config, model, None)?
        .with_sink(Sink::Stdout(JsonLinesSink::new(Box::new(std::io::sink()))));
    for path in &args.events {
        let text = super::read_event(path)?;
        let timing = crate::bench::time_event(&app, &text, args.runs as usize)
            .with_context(|| format!("event file {}", path.display()))?;
        let mut line = serde_json::to_value(&timing)?;
        line["event"] = path.display().to_string().into();
        line["metrics"] = args.metrics.into();
        line["lambda_logs"] = args.lambda_logs.into();
        if let Some(ns) = load_ns {
            line["model_load_ns"] = ns.into();
        }
        println!("{line}");
    }
    Ok(())
}
