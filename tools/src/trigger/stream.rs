//! Reading a Kinesis stream or a DynamoDB stream shard by shard, and turning what the APIs return
//! into the records of the Lambda event, exactly as the event source mapping builds them.

use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType as StreamsIteratorType};
use aws_sdk_kinesis::types::ShardIteratorType as KinesisIteratorType;
use base64::Engine;
use serde_json::json;

use stream_infer::Source;

/// `StartingPosition` of the event source mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

impl StartingPosition {
    /// The shard iterator type both stream APIs name this position by.
    pub fn as_str(self) -> &'static str {
        match self {
            StartingPosition::TrimHorizon => "TRIM_HORIZON",
            StartingPosition::Latest => "LATEST",
        }
    }
}

/// A stream to poll.
#[derive(Debug, Clone)]
pub enum Stream {
    Kinesis {
        client: aws_sdk_kinesis::Client,
        arn: String,
        region: String,
    },
    Dynamodb {
        client: aws_sdk_dynamodbstreams::Client,
        arn: String,
    },
}

/// One record as it will appear in the event's `Records` array.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// The id Lambda checkpoints on and `batchItemFailures` names.
    pub sequence_number: String,
    /// Arrival (Kinesis) or creation (DynamoDB) time, in seconds since the epoch.
    pub arrival: f64,
    /// The record, serialized as Lambda delivers it.
    pub json: String,
}

/// Why polling failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{operation} on {stream}: {message}")]
    Api {
        operation: &'static str,
        stream: String,
        message: String,
    },
    #[error(
        "table {table} has no stream: enable one with view type NEW_IMAGE or NEW_AND_OLD_IMAGES"
    )]
    NoStream { table: String },
}

fn api<E, R>(
    operation: &'static str,
    stream: &str,
    error: aws_sdk_kinesis::error::SdkError<E, R>,
) -> StreamError
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StreamError::Api {
        operation,
        stream: stream.to_owned(),
        message: stream_infer::describe_aws_error("AWS", &error),
    }
}

impl Stream {
    /// A Kinesis stream by name or ARN.
    pub async fn kinesis(aws: &aws_config::SdkConfig, stream: &str) -> Result<Stream, StreamError> {
        let client = aws_sdk_kinesis::Client::new(aws);
        let summary = if stream.starts_with("arn:") {
            client.describe_stream_summary().stream_arn(stream)
        } else {
            client.describe_stream_summary().stream_name(stream)
        }
        .send()
        .await
        .map_err(|e| api("DescribeStreamSummary", stream, e))?;
        let arn = summary
            .stream_description_summary()
            .map(|s| s.stream_arn().to_owned())
            .unwrap_or_else(|| stream.to_owned());
        let region = aws.region().map_or("us-east-1", |r| r.as_ref()).to_owned();
        Ok(Stream::Kinesis {
            client,
            arn,
            region,
        })
    }

    /// The stream of a DynamoDB table, or a DynamoDB stream ARN.
    pub async fn dynamodb(
        aws: &aws_config::SdkConfig,
        table_or_arn: &str,
    ) -> Result<Stream, StreamError> {
        let arn = if table_or_arn.contains("/stream/") {
            table_or_arn.to_owned()
        } else {
            let table = aws_sdk_dynamodb::Client::new(aws)
                .describe_table()
                .table_name(table_or_arn)
                .send()
                .await
                .map_err(|e| api("DescribeTable", table_or_arn, e))?;
            table
                .table()
                .and_then(|t| t.latest_stream_arn())
                .ok_or_else(|| StreamError::NoStream {
                    table: table_or_arn.to_owned(),
                })?
                .to_owned()
        };
        Ok(Stream::Dynamodb {
            client: aws_sdk_dynamodbstreams::Client::new(aws),
            arn,
        })
    }

    pub fn source(&self) -> Source {
        match self {
            Stream::Kinesis { .. } => Source::Kinesis,
            Stream::Dynamodb { .. } => Source::Dynamodb,
        }
    }

    pub fn arn(&self) -> &str {
        match self {
            Stream::Kinesis { arn, .. } | Stream::Dynamodb { arn, .. } => arn,
        }
    }

    /// The stream's shard ids.
    pub async fn shards(&self) -> Result<Vec<String>, StreamError> {
        match self {
            Stream::Kinesis { client, arn, .. } => {
                let mut shards = Vec::new();
                let mut next: Option<String> = None;
                loop {
                    let request = match &next {
                        Some(token) => client.list_shards().next_token(token),
                        None => client.list_shards().stream_arn(arn),
                    };
                    let page = request
                        .send()
                        .await
                        .map_err(|e| api("ListShards", arn, e))?;
                    shards.extend(page.shards().iter().map(|s| s.shard_id().to_owned()));
                    next = page.next_token().map(str::to_owned);
                    if next.is_none() {
                        return Ok(shards);
                    }
                }
            }
            Stream::Dynamodb { client, arn } => {
                let mut shards = Vec::new();
                let mut start: Option<String> = None;
                loop {
                    let page = client
                        .describe_stream()
                        .stream_arn(arn)
                        .set_exclusive_start_shard_id(start.clone())
                        .send()
                        .await
                        .map_err(|e| api("DescribeStream", arn, e))?;
                    let description = page.stream_description();
                    shards.extend(
                        description
                            .into_iter()
                            .flat_map(|d| d.shards())
                            .filter_map(|s| s.shard_id().map(str::to_owned)),
                    );
                    start = description
                        .and_then(|d| d.last_evaluated_shard_id())
                        .map(str::to_owned);
                    if start.is_none() {
                        return Ok(shards);
                    }
                }
            }
        }
    }

    /// An iterator at `position` in `shard`.
    pub async fn iterator(
        &self,
        shard: &str,
        position: StartingPosition,
    ) -> Result<Option<String>, StreamError> {
        let kind = position.as_str();
        let iterator = match self {
            Stream::Kinesis { client, arn, .. } => {
                client
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(shard)
                    .shard_iterator_type(KinesisIteratorType::from(kind))
                    .send()
                    .await
                    .map_err(|e| api("GetShardIterator", arn, e))?
                    .shard_iterator
            }
            Stream::Dynamodb { client, arn } => {
                client
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(shard)
                    .shard_iterator_type(StreamsIteratorType::from(kind))
                    .send()
                    .await
                    .map_err(|e| api("GetShardIterator", arn, e))?
                    .shard_iterator
            }
        };
        Ok(iterator)
    }

    /// Up to `limit` records from `iterator`, and the iterator to read next (`None` once a closed
    /// shard is read to its end).
    pub async fn read(
        &self,
        shard: &str,
        iterator: &str,
        limit: usize,
    ) -> Result<(Vec<StreamRecord>, Option<String>), StreamError> {
        match self {
            Stream::Kinesis {
                client,
                arn,
                region,
            } => {
                let out = client
                    .get_records()
                    .stream_arn(arn)
                    .shard_iterator(iterator)
                    .limit(limit.clamp(1, 10_000) as i32)
                    .send()
                    .await
                    .map_err(|e| api("GetRecords", arn, e))?;
                let records = out
                    .records()
                    .iter()
                    .map(|r| kinesis_record(r, shard, arn, region))
                    .collect();
                Ok((records, out.next_shard_iterator().map(str::to_owned)))
            }
            Stream::Dynamodb { client, arn } => {
                let out = client
                    .get_records()
                    .shard_iterator(iterator)
                    .limit(limit.clamp(1, 1_000) as i32)
                    .send()
                    .await
                    .map_err(|e| api("GetRecords", arn, e))?;
                let records = out
                    .records()
                    .iter()
                    .map(|r| dynamodb_record(r, arn))
                    .collect();
                Ok((records, out.next_shard_iterator().map(str::to_owned)))
            }
        }
    }
}

fn seconds(time: Option<&aws_sdk_kinesis::primitives::DateTime>) -> f64 {
    time.map_or(0.0, |t| t.as_secs_f64())
}

/// A Kinesis record as the event source mapping delivers it.
fn kinesis_record(
    record: &aws_sdk_kinesis::types::Record,
    shard: &str,
    arn: &str,
    region: &str,
) -> StreamRecord {
    let sequence_number = record.sequence_number().to_owned();
    let arrival = seconds(record.approximate_arrival_timestamp());
    let account = arn.split(':').nth(4).unwrap_or("000000000000");
    let json = json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key(),
            "sequenceNumber": sequence_number,
            "data": base64::engine::general_purpose::STANDARD.encode(record.data().as_ref()),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{shard}:{sequence_number}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": format!("arn:aws:iam::{account}:role/stream-infer-local"),
        "awsRegion": region,
        "eventSourceARN": arn,
    });
    StreamRecord {
        sequence_number,
        arrival,
        json: json.to_string(),
    }
}

/// A DynamoDB stream record as the event source mapping delivers it: the images in DynamoDB
/// JSON, the timestamps in seconds.
fn dynamodb_record(record: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> StreamRecord {
    let stream = record.dynamodb();
    let image = |image: Option<&std::collections::HashMap<String, _>>| {
        image.map(|i| serde_dynamo::Item::from(i.clone()))
    };
    let sequence_number = stream
        .and_then(|s| s.sequence_number())
        .unwrap_or_default()
        .to_owned();
    let arrival = seconds(stream.and_then(|s| s.approximate_creation_date_time()));
    let mut body = serde_json::Map::new();
    body.insert("ApproximateCreationDateTime".into(), json!(arrival));
    for (name, value) in [
        ("Keys", image(stream.and_then(|s| s.keys.as_ref()))),
        ("NewImage", image(stream.and_then(|s| s.new_image.as_ref()))),
        ("OldImage", image(stream.and_then(|s| s.old_image.as_ref()))),
    ] {
        if let Some(value) = value {
            body.insert(name.into(), json!(value));
        }
    }
    body.insert("SequenceNumber".into(), json!(sequence_number));
    if let Some(size) = stream.and_then(|s| s.size_bytes()) {
        body.insert("SizeBytes".into(), json!(size));
    }
    if let Some(view) = stream.and_then(|s| s.stream_view_type()) {
        body.insert("StreamViewType".into(), json!(view.as_str()));
    }
    let json = json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(OperationType::as_str),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region(),
        "dynamodb": body,
        "eventSourceARN": arn,
    });
    StreamRecord {
        sequence_number,
        arrival,
        json: json.to_string(),
    }
}

/// The Lambda event for `records`: `{"Records":[…]}`, built from the already serialized records.
pub fn event(records: &[StreamRecord]) -> String {
    let mut event =
        String::with_capacity(records.iter().map(|r| r.json.len() + 1).sum::<usize>() + 16);
    event.push_str("{\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            event.push(',');
        }
        event.push_str(&record.json);
    }
    event.push_str("]}");
    event
}
