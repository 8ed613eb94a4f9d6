//! `stream-infer local-trigger`: Lambda's event source mapping, run against a local stream or
//! SQS queue.

use std::time::Duration;

use stream_infer::{App, Config};

use crate::trigger::{
    self, Function, Mapping, OnFailure, Queue, QueueMapping, QueueTrigger, Retries,
    StartingPosition, Stream, Trigger,
};

/// Run Lambda's event source mapping locally: poll a stream, invoke the function on batches,
/// checkpoint, retry and bisect as Lambda does. Invocations are logged to stderr; a summary
/// with the put-to-prediction latency is printed when it stops.
#[derive(Debug, clap::Args)]
pub struct LocalTriggerArgs {
    /// Poll this Kinesis stream (name or ARN).
    #[arg(
        long,
        required_unless_present_any = ["dynamodb_table", "sqs_queue"],
        conflicts_with_all = ["dynamodb_table", "sqs_queue"]
    )]
    kinesis_stream: Option<String>,
    /// Poll this DynamoDB table's stream (a table name or a stream ARN).
    #[arg(long, conflicts_with = "sqs_queue")]
    dynamodb_table: Option<String>,
    /// Poll this SQS queue (its URL): receive, invoke, delete what succeeded; what the function
    /// reports reappears after the visibility timeout.
    #[arg(long)]
    sqs_queue: Option<String>,
    #[command(flatten)]
    queue: QueueArgs,
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
    #[command(flatten)]
    mapping: MappingArgs,
    /// DestinationConfig.OnFailure: the SQS queue for on-failure records; logged when unset.
    #[arg(long)]
    on_failure_queue_url: Option<String>,
    /// Seconds to wait for one invocation (the first one through the emulator compiles the
    /// function).
    #[arg(long, default_value_t = 900)]
    function_timeout: u64,
    /// Stop after this many seconds with no new records; run until interrupted when unset.
    #[arg(long, value_parser = seconds)]
    idle_exit: Option<Duration>,
}

/// The SQS mapping's own settings, as flags.
#[derive(Debug, clap::Args)]
struct QueueArgs {
    /// (SQS) Seconds a received message stays hidden; what the function reports reappears after
    /// it. Lambda recommends 6x the function timeout on the queue.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=43_200))]
    visibility_timeout: u32,
    /// (SQS) ReceiveMessage's long-poll wait in seconds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=20))]
    wait_time: u32,
}

/// The event source mapping's settings, as flags.
#[derive(Debug, clap::Args)]
struct MappingArgs {
    /// BatchSize [default: 500 for a stream, 10 for an SQS queue].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: Option<u32>,
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PositionArg {
    TrimHorizon,
    Latest,
}

impl From<MappingArgs> for Mapping {
    fn from(args: MappingArgs) -> Mapping {
        Mapping {
            batch_size: args.batch_size.unwrap_or(500) as usize,
            window: Duration::from_secs(args.maximum_batching_window.into()),
            starting_position: match args.starting_position {
                PositionArg::TrimHorizon => StartingPosition::TrimHorizon,
                PositionArg::Latest => StartingPosition::Latest,
            },
            // -1 means no limit; the value parsers admit nothing below it.
            retries: Retries {
                maximum: u32::try_from(args.maximum_retry_attempts).ok(),
                bisect: args.bisect_batch_on_function_error,
            },
            maximum_record_age: u64::try_from(args.maximum_record_age)
                .ok()
                .map(Duration::from_secs),
        }
    }
}

/// The function the trigger invokes: in this process, or behind the Runtime API emulator.
async fn function(args: &LocalTriggerArgs) -> anyhow::Result<(Function, String)> {
    Ok(if args.in_process {
        let app = App::build(&Config::from_env()?).await?;
        (
            Function::InProcess(Box::new(app)),
            "stream-infer".to_owned(),
        )
    } else {
        let timeout = Duration::from_secs(args.function_timeout);
        let function = Function::runtime_api(&args.function_url, &args.function_name, timeout);
        (function, args.function_name.clone())
    })
}

/// `--sqs-queue`: the SQS mapping, until idle (or interrupted), then its summary.
fn run_queue(args: LocalTriggerArgs) -> anyhow::Result<()> {
    super::block_on(async {
        let aws = super::aws().await;
        let url = args.sqs_queue.as_deref().unwrap_or_default();
        let queue = Queue::new(&aws, url).await?;
        let (function, _) = function(&args).await?;
        let batch_size = args.mapping.batch_size.unwrap_or(10);
        let mapping = QueueMapping {
            batch_size: batch_size as usize,
            window: Duration::from_secs(args.mapping.maximum_batching_window.into()),
            visibility_timeout: Duration::from_secs(args.queue.visibility_timeout.into()),
            wait_time: Duration::from_secs(args.queue.wait_time.into()),
        };
        tracing::info!(
            queue = queue.arn(),
            function = function.describe(),
            "polling"
        );
        let trigger = QueueTrigger {
            queue,
            function,
            mapping,
        };
        let report = trigger
            .run(trigger::Stop {
                idle: args.idle_exit,
            })
            .await?;
        let reported: usize = report.invocations.iter().map(|i| i.reported.len()).sum();
        println!(
            "{}",
            serde_json::json!({
                "invocations": report.invocations.len(),
                "deleted": report.deleted(),
                "reported": reported,
                "function_errors": report.invocations.iter().filter(|i| i.function_error.is_some()).count(),
            })
        );
        Ok(())
    })
}

/// A non-negative, finite number of seconds.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!("{text} is not a number of seconds")),
    }
}

/// Polls until idle (or interrupted) and prints the run's summary.
pub fn run(args: LocalTriggerArgs) -> anyhow::Result<()> {
    if args.sqs_queue.is_some() {
        return run_queue(args);
    }
    super::block_on(async {
        let aws = super::aws().await;
        let stream = match (&args.kinesis_stream, &args.dynamodb_table) {
            (Some(stream), _) => Stream::kinesis(&aws, stream).await?,
            (None, Some(table)) => Stream::dynamodb(&aws, table).await?,
            (None, None) => anyhow::bail!("give --kinesis-stream or --dynamodb-table"),
        };
        let (function, function_name) = function(&args).await?;
        let on_failure = match args.on_failure_queue_url {
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
            mapping: args.mapping.into(),
            on_failure,
        };
        let report = trigger
            .run(trigger::Stop {
                idle: args.idle_exit,
            })
            .await?;
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
    })
}
