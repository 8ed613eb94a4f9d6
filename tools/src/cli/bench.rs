//! `stream-infer bench`: stage timings of the handler on saved events, one JSON line each.

use std::path::PathBuf;

use anyhow::Context as _;
use stream_infer::{App, Config, JsonLinesSink, Sink, model::Model};

/// Time the handler in process on saved events: decode, features, predict and respond,
/// medians over `--runs`, one JSON line per event. Predictions go nowhere.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Kinesis or DynamoDB Streams events.
    #[arg(required = true)]
    events: Vec<PathBuf>,
    /// Runs per event; the median is reported.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Times every event on the default configuration with a sink that writes nowhere.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    // The default configuration: the embedded model, features at the top level, key `id`.
    let config = Config::from_lookup(|_| None)?;
    let app = App::new(&config, Model::embedded(), None)?
        .with_sink(Sink::Stdout(JsonLinesSink::new(Box::new(std::io::sink()))));
    for path in &args.events {
        let text = super::read_event(path)?;
        let timing = crate::bench::time_event(&app, &text, args.runs as usize)
            .with_context(|| format!("event file {}", path.display()))?;
        let mut line = serde_json::to_value(&timing)?;
        line["event"] = path.display().to_string().into();
        println!("{line}");
    }
    Ok(())
}
