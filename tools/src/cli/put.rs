//! `stream-infer put`: a sample event's records into a Kinesis stream or a DynamoDB table.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::put::Target;

/// Put a sample event's records into a Kinesis stream or a DynamoDB table, in order.
#[derive(Debug, clap::Args)]
pub struct PutArgs {
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
    /// Pack this many records into each Kinesis record, as KPL aggregated records.
    #[arg(long, value_name = "N", conflicts_with = "table", value_parser = clap::value_parser!(u16).range(1..))]
    aggregate: Option<u16>,
}

/// Puts the records, names each one the service refused, and prints the counts.
pub fn run(args: PutArgs) -> anyhow::Result<()> {
    super::block_on(async {
        let text = super::read_event(&args.event)?;
        let aws = super::aws().await;
        let target = match (args.stream, args.table) {
            (Some(stream), _) => Target::Kinesis {
                client: aws_sdk_kinesis::Client::new(&aws),
                stream,
            },
            (None, Some(table)) => Target::Dynamodb {
                client: aws_sdk_dynamodb::Client::new(&aws),
                table,
            },
            (None, None) => anyhow::bail!("give --stream or --table"),
        };
        let done = target
            .put_repeatedly(&text, args.repeat, args.aggregate.map(usize::from))
            .await
            .with_context(|| format!("event file {}", args.event.display()))?;
        for r in &done.refused {
            eprintln!(
                "{}: record {} not put: {}",
                args.event.display(),
                r.index,
                r.reason
            );
        }
        let mut summary = serde_json::json!({ "target": target.describe(), "put": done.put, "refused": done.refused.len() });
        if args.aggregate.is_some() {
            summary["kinesis_records"] = done.kinesis_records.into();
        }
        println!("{summary}");
        Ok(())
    })
}
