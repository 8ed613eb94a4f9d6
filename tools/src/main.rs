//! The stream-infer CLI: run the Lambda's handler on a saved event, train a model artifact, time
//! the handler, put sample records into a stream, and run the event source mapping locally.

use std::io::Write as _;

use clap::{Parser, Subcommand};
use stream_infer_tools::cli::{bench, import, invoke, local_trigger, model, put, train};

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
    Invoke(invoke::InvokeArgs),
    Train(train::TrainArgs),
    Import(import::ImportArgs),
    Model(model::ModelArgs),
    Bench(bench::BenchArgs),
    Put(put::PutArgs),
    LocalTrigger(local_trigger::LocalTriggerArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The local trigger logs each invocation; the other commands only warnings.
    let default_filter = match cli.command {
        Command::LocalTrigger(_) => "warn,stream_infer_tools::trigger=info",
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
    let result = match cli.command {
        Command::Invoke(args) => invoke::run(args),
        Command::Train(args) => train::run(args),
        Command::Import(args) => import::run(args),
        Command::Model(args) => model::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Put(args) => put::run(args),
        Command::LocalTrigger(args) => local_trigger::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`stream-infer invoke e.json | head -1`): normal in a pipeline,
        // so exit quietly and successfully, as ripgrep does, rather than with a message.
        Err(error) if is_broken_pipe(&error) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // `eprintln!` would panic if stderr itself is closed; there is nowhere left to say it.
            let _ = writeln!(std::io::stderr().lock(), "stream-infer: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether the error is a write to a pipe whose reader has exited.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
