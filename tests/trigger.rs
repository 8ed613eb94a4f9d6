//! Trigger on ingest, locally: records put into a Kinesis stream or a DynamoDB table reach the
//! function through `stream-infer local-trigger`, which polls the local AWS endpoint the way
//! Lambda's event source mapping polls AWS. Poison records, transient sink failures and failures
//! that never clear are checked against the checkpoint the trigger keeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_mocks::mock;
use stream_infer::DeadLetter;
use stream_infer_tools::put::Target;
use stream_infer_tools::trigger::{
    Function, Mapping, OnFailure, Report, Retries, StartingPosition, Stop, Stream, Trigger,
};

use crate::aws::{create_queue, drain, scan};
use crate::faults::{app, dynamodb, key_of, table_sink, unprocessed};
use crate::util::{create_table, kinesis_event, local_aws, root, start_watch, unique};

fn mapping(batch_size: usize, maximum_retries: u32) -> Mapping {
    Mapping {
        batch_size,
        window: Duration::ZERO,
        starting_position: StartingPosition::TrimHorizon,
        retries: Retries {
            maximum: Some(maximum_retries),
            bisect: true,
        },
        maximum_record_age: None,
    }
}

const IDLE: Stop = Stop {
    idle: Some(Duration::from_secs(1)),
};

async fn create_stream(aws: &aws_config::SdkConfig) -> String {
    let name = unique("input");
    aws_sdk_kinesis::Client::new(aws)
        .create_stream()
        .stream_name(&name)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    name
}

/// A table keyed by `id` with a NEW_AND_OLD_IMAGES stream, as the template creates it.
async fn create_input_table(aws: &aws_config::SdkConfig) -> String {
    use aws_sdk_dynamodb::types::*;
    let name = unique("input");
    aws_sdk_dynamodb::Client::new(aws)
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    name
}

/// Runs `stream-infer put` and returns how many records it put.
fn put_with_cli(flag: &str, target: &str, event: &str) -> u64 {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["put", flag, target])
        .arg(root().join("events").join(event))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    summary["put"].as_u64().unwrap()
}

/// The keys of the records `events/expected/<event>` says are predicted.
fn predicted_keys(event: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("events/expected").join(event)).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<String> = expected["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "predicted")
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys
}

async fn table_keys(aws: &aws_config::SdkConfig, table: &str) -> Vec<String> {
    let mut keys: Vec<String> = scan(aws, table)
        .await
        .iter()
        .map(|item| item["pk"].as_s().unwrap().clone())
        .collect();
    keys.sort();
    keys
}

/// Poison records sit between good ones in kinesis-mixed.json. One invocation handles the whole
/// batch: the poison is dead-lettered and every good record, before and after it, is predicted.
#[tokio::test]
async fn records_put_into_kinesis_reach_the_table_through_the_runtime_api() {
    let Some(aws) = local_aws("trigger_kinesis").await else {
        return;
    };
    let stream = create_stream(&aws).await;
    let table = create_table(&aws, "pk").await;
    let dlq = create_queue(&aws, false).await;
    let put = put_with_cli("--stream", &stream, "kinesis-mixed.json");

    let (_watch, port) = start_watch(vec![
        "SINK=dynamodb".to_owned(),
        format!("OUTPUT_TABLE={table}"),
        format!("DEAD_LETTER_QUEUE_URL={dlq}"),
    ]);
    let trigger = Trigger {
        stream: Stream::kinesis(&aws, &stream).await.unwrap(),
        function: Function::runtime_api(
            &format!("http://127.0.0.1:{port}"),
            "stream-infer-lambda",
            Duration::from_secs(600),
        ),
        function_name: "stream-infer-lambda".into(),
        mapping: mapping(100, 2),
        on_failure: OnFailure::Log,
    };
    let report = trigger.run(IDLE).await.unwrap();

    assert_eq!(report.invocations.len(), 1, "{:?}", report.invocations);
    let invocation = &report.invocations[0];
    assert_eq!(invocation.records as u64, put);
    assert_eq!(invocation.processed as u64, put);
    assert!(invocation.reported.is_empty() && invocation.function_error.is_none());
    assert!(report.on_failure.is_empty());

    let keys = table_keys(&aws, &table).await;
    assert_eq!(keys, predicted_keys("kinesis-mixed.json"));
    let dead = drain(&aws, &dlq).await.len() as u64;
    assert_eq!(
        dead + keys.len() as u64,
        put,
        "every record put was predicted or dead-lettered"
    );
    let median = report.median_latency().unwrap();
    assert!(
        median > 0.0,
        "latency is measured from the record's arrival"
    );
}

/// The CLI end to end on a DynamoDB table: `put` writes the items, `local-trigger --in-process`
/// reads the table's stream and runs the handler with this environment's sink settings.
#[tokio::test]
async fn items_written_to_a_table_reach_the_output_table_through_its_stream() {
    let Some(aws) = local_aws("trigger_dynamodb").await else {
        return;
    };
    let input = create_input_table(&aws).await;
    let output = create_table(&aws, "pk").await;
    let dlq = create_queue(&aws, false).await;
    put_with_cli("--table", &input, "dynamodb-mixed.json");

    let run = std::process::Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["local-trigger", "--dynamodb-table", &input, "--in-process"])
        .args(["--maximum-batching-window", "0", "--idle-exit", "1"])
        .env("SINK", "dynamodb")
        .env("OUTPUT_TABLE", &output)
        .env("DEAD_LETTER_QUEUE_URL", &dlq)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["invocations"], 1, "{summary}");
    assert_eq!(summary["retries"], 0);
    assert_eq!(summary["on_failure"], 0);
    assert!(summary["median_latency_ms"].as_f64().unwrap() >= 0.0);

    let keys = table_keys(&aws, &output).await;
    assert_eq!(keys, predicted_keys("dynamodb-mixed.json"));
    let dead = drain(&aws, &dlq).await.len() as u64;
    assert_eq!(
        dead + keys.len() as u64,
        summary["processed"].as_u64().unwrap(),
        "every stream record was predicted or dead-lettered"
    );
}

/// Puts `n` generated records (keys gen-000000…) into a new stream; returns it and the sequence
/// numbers Kinesis gave them, in order.
async fn stream_with_records(aws: &aws_config::SdkConfig, n: usize) -> (String, Vec<String>) {
    let stream = create_stream(aws).await;
    let target = Target::Kinesis {
        client: aws_sdk_kinesis::Client::new(aws),
        stream: stream.clone(),
    };
    let done = target.put(&kinesis_event(n)).await.unwrap();
    assert_eq!(done.put, n);
    let source = Stream::kinesis(aws, &stream).await.unwrap();
    let shard = source.shards().await.unwrap().remove(0);
    let iterator = source
        .iterator(&shard, StartingPosition::TrimHorizon)
        .await
        .unwrap()
        .unwrap();
    let (records, _) = source.read(&shard, &iterator, 100).await.unwrap();
    let sequence_numbers: Vec<String> = records.into_iter().map(|r| r.sequence_number).collect();
    assert_eq!(sequence_numbers.len(), n);
    (stream, sequence_numbers)
}

/// A sink whose table leaves the items `stuck(key, call)` says unprocessed; records every key it
/// wrote.
fn flaky_table(
    stuck: impl Fn(&str, usize) -> bool + Send + Sync + 'static,
) -> (stream_infer::Sink, Arc<Mutex<Vec<String>>>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let seen = written.clone();
    let calls = Arc::new(Mutex::new(0));
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |r| {
        let call = {
            let mut calls = calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        let (left, done): (Vec<_>, Vec<_>) = r.request_items().unwrap()["predictions"]
            .iter()
            .cloned()
            .partition(|w| stuck(&key_of(w), call));
        seen.lock().unwrap().extend(done.iter().map(key_of));
        unprocessed(left)
    });
    // One attempt per invocation: whatever is unprocessed is reported to the trigger.
    (table_sink(dynamodb(&[&rule]), 1), written)
}

async fn run_in_process(
    aws: &aws_config::SdkConfig,
    stream: &str,
    sink: stream_infer::Sink,
    mapping: Mapping,
    on_failure: OnFailure,
) -> Report {
    let trigger = Trigger {
        stream: Stream::kinesis(aws, stream).await.unwrap(),
        function: Function::InProcess(Box::new(app(sink, DeadLetter::Log))),
        function_name: "stream-infer".into(),
        mapping,
        on_failure,
    };
    trigger.run(IDLE).await.unwrap()
}

/// The table throttles records 3 and later on the first write. The function reports them; the
/// trigger checkpoints after record 2 and re-invokes from record 3's sequence number, and every
/// record is written exactly once.
#[tokio::test]
async fn a_transient_failure_is_retried_from_the_reported_sequence_number() {
    let Some(aws) = local_aws("trigger_transient").await else {
        return;
    };
    let (stream, seqs) = stream_with_records(&aws, 10).await;
    let (sink, written) = flaky_table(|key, call| call == 1 && key >= "gen-000003");
    let report = run_in_process(&aws, &stream, sink, mapping(100, 3), OnFailure::Log).await;

    let shape: Vec<(&str, usize, u32, usize)> = report
        .invocations
        .iter()
        .map(|i| {
            (
                i.first_sequence_number.as_str(),
                i.records,
                i.retry,
                i.processed,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![(seqs[0].as_str(), 10, 0, 3), (seqs[3].as_str(), 7, 1, 7)]
    );
    assert_eq!(report.invocations[0].reported, seqs[3..].to_vec());
    let mut written = written.lock().unwrap().clone();
    written.sort();
    let all: Vec<String> = (0..10).map(|i| format!("gen-{i:06}")).collect();
    assert_eq!(written, all, "every record written exactly once");
    assert!(report.on_failure.is_empty());
    assert_eq!(report.processed(), 10);
}

/// Record 5 can never be written. After the maximum retries the trigger sends an on-failure
/// record naming the records it gives up on (5 to 9, from the reported sequence number), and the
/// shard moves on: the next batch is processed.
#[tokio::test]
async fn a_failure_that_never_clears_goes_to_the_on_failure_queue_and_the_shard_moves_on() {
    let Some(aws) = local_aws("trigger_on_failure").await else {
        return;
    };
    let (stream, seqs) = stream_with_records(&aws, 13).await;
    let queue = create_queue(&aws, false).await;
    let (sink, written) = flaky_table(|key, _| key == "gen-000005");
    let on_failure = OnFailure::Sqs {
        client: aws_sdk_sqs::Client::new(&aws),
        queue_url: queue.clone(),
    };
    let report = run_in_process(&aws, &stream, sink, mapping(10, 2), on_failure).await;

    let messages = drain(&aws, &queue).await;
    assert_eq!(messages.len(), 1);
    let record: serde_json::Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    let info = &record["KinesisBatchInfo"];
    assert_eq!(info["startSequenceNumber"], seqs[5].as_str());
    assert_eq!(info["endSequenceNumber"], seqs[9].as_str());
    assert_eq!(info["batchSize"], 5);
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record, report.on_failure[0]);

    let written = written.lock().unwrap().clone();
    for i in [0, 1, 2, 3, 4, 10, 11, 12] {
        assert!(
            written.contains(&format!("gen-{i:06}")),
            "gen-{i:06} was written: {written:?}"
        );
    }
    assert!(!written.contains(&"gen-000005".to_owned()));
    let last = report.invocations.last().unwrap();
    assert_eq!(
        (
            last.first_sequence_number.as_str(),
            last.records,
            last.retry
        ),
        (seqs[10].as_str(), 3, 0),
        "the next batch starts after the records given up on"
    );
}
