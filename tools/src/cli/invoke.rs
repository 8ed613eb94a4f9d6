//! `stream-infer invoke`: the Lambda's handler on a saved event, with the response printed.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use stream_infer::{App, Call, Config, Deadline, ModelSource};

/// Run the Lambda's handler on a saved event: predictions to the sink (stdout by default),
/// rejections and a summary to stderr, and the Lambda's response as the last stdout line.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// A Kinesis or DynamoDB Streams event, as Lambda delivers it.
    event: PathBuf,
    /// A model file, instead of MODEL_URI or the embedded model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print the EMF metrics document the Lambda would emit for this invocation, on stderr (so
    /// stdout stays predictions and the response). Namespaced by METRICS_NAMESPACE.
    #[arg(long)]
    metrics: bool,
}

/// Runs the handler once, configured from the environment.
pub fn run(args: InvokeArgs) -> anyhow::Result<()> {
    super::block_on(async {
        let mut config = Config::from_env()?;
        if let Some(path) = args.model {
            config.model = ModelSource::File(path);
        }
        if !args.metrics {
            config.metrics = None;
        } else if config.metrics.is_none() {
            anyhow::bail!("--metrics asks for the metrics document, but METRICS=off");
        }
        let text = super::read_event(&args.event)?;
        // Logged with its stable code, as the Lambda logs an init failure.
        let app = App::build(&config)
            .await
            .inspect_err(|e| tracing::error!(error_type = e.code(), "{e}"))?;
        tracing::info!(
            sink = app.sink().describe(),
            dead_letter = app.dead_letter().describe(),
            "invoking"
        );
        let call = Call {
            request_id: "stream-infer-invoke",
            trace: None,
            deadline: &Deadline::none(),
        };
        let (handled, document) = stream_infer::handle_reported(&app, &text, call)
            .await
            .with_context(|| format!("event file {}", args.event.display()))?;
        // `println!` panics when stdout is a closed pipe or a full device; an explicit write
        // returns the error, which `main` turns into a quiet exit or a message.
        let mut line = serde_json::to_vec(&handled.response)?;
        line.push(b'\n');
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .context("cannot write the response to standard output")?;
        // The summary is for a person; a closed stderr is no reason to fail the invocation.
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "{}",
            serde_json::json!({ "summary": handled.summary() })
        );
        if let Some(document) = document {
            let _ = writeln!(stderr, "{document}");
        }
        Ok(())
    })
}
