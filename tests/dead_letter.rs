//! The dead-letter path under size limits and FIFO deduplication: oversized rejections are cut
//! to the queue's `MaximumMessageSize`, one that cannot fit is dropped (logged, counted, never
//! retried) without failing the small ones beside it, and records without a sequence number are
//! never deduplicated across invocations. Against the local endpoint (moto), and with
//! aws-smithy-mocks where SQS must misbehave.

use std::sync::{Arc, Mutex};

use aws_sdk_sqs::error::ErrorMetadata;
use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, QueueAttributeName, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use base64::Engine;
use stream_infer::model::Model;
use stream_infer::{
    App, Config, DeadLetter, Deadline, Handled, JsonLinesSink, Outcome, Sink, handle,
};

use crate::aws::drain;
use crate::util::{Buffer, local_aws, unique};

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/dead-letter-tests";

/// One Kinesis record: a sequence number (or none), a partition key and a JSON payload.
fn record(sequence_number: Option<&str>, partition_key: &str, payload: &str) -> serde_json::Value {
    let mut kinesis = serde_json::json!({
        "partitionKey": partition_key,
        "data": base64::engine::general_purpose::STANDARD.encode(payload),
        "approximateArrivalTimestamp": 1795000000.0,
    });
    if let Some(seq) = sequence_number {
        kinesis["sequenceNumber"] = seq.into();
    }
    serde_json::json!({ "eventSource": "aws:kinesis", "eventSourceARN": ARN, "kinesis": kinesis })
}

fn event(records: &[serde_json::Value]) -> String {
    serde_json::json!({ "Records": records }).to_string()
}

/// A payload rejected for a string feature, whose value is `value`.
fn bad(id: &str, value: &str) -> String {
    serde_json::json!({
        "id": id, "age": value, "sex": 1, "bmi": 22.0, "bp": 80, "s1": 150,
        "s2": 90.0, "s3": 40, "s4": 4, "s5": 4.5, "s6": 90,
    })
    .to_string()
}

/// A payload that predicts.
fn good(id: &str) -> String {
    serde_json::json!({
        "id": id, "age": 50, "sex": 1, "bmi": 22.0, "bp": 80, "s1": 150,
        "s2": 90.0, "s3": 40, "s4": 4, "s5": 4.5, "s6": 90,
    })
    .to_string()
}

/// Small rejections, one too big for a 1 KiB message (1.8 MB, its value quoted in the message),
/// one whose partition key alone is too long for 1 KiB, and a good record.
fn mixed_event() -> String {
    let huge = "x".repeat(1_800_000);
    let long_key = "k".repeat(1500);
    event(&[
        record(Some("1001"), "p-1", &bad("small-1", "59")),
        record(Some("1002"), "p-2", &bad("big", &huge)),
        record(Some("1003"), "p-3", &bad("small-2", "60")),
        record(Some("1004"), &long_key, &bad("long-key", "61")),
        record(Some("1005"), "p-5", &good("good")),
        record(Some("1006"), "p-6", &bad("small-3", "62")),
    ])
}

/// An app that predicts to a buffer and dead-letters to `dlq` on the client `aws` gives.
fn app(aws: &aws_config::SdkConfig, dlq: &str) -> (App, Buffer) {
    let config =
        Config::from_lookup(|name| (name == "DEAD_LETTER_QUEUE_URL").then(|| dlq.to_owned()))
            .unwrap();
    let buffer = Buffer::default();
    let app = App::new(&config, Model::embedded(), Some(aws))
        .unwrap()
        .with_sink(Sink::Stdout(JsonLinesSink::new(Box::new(buffer.clone()))));
    (app, buffer)
}

fn limit_of(app: &App) -> usize {
    match app.dead_letter() {
        DeadLetter::Sqs(queue) => queue.max_message(),
        DeadLetter::Log => panic!("the app dead-letters to a queue"),
    }
}

async fn run(app: &App, event: &str) -> Handled {
    handle(app, event, &Deadline::none()).await.unwrap()
}

fn outcomes(handled: &Handled) -> Vec<(&str, Outcome)> {
    handled
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e.outcome))
        .collect()
}

/// The mixed event's outcomes: everything dead-lettered or written except the long key, which
/// is dropped; nothing is reported for retry.
fn assert_mixed_outcomes(handled: &Handled) {
    use Outcome::*;
    assert_eq!(
        outcomes(handled),
        [
            ("1001", DeadLettered),
            ("1002", DeadLettered),
            ("1003", DeadLettered),
            ("1004", Dropped),
            ("1005", Written),
            ("1006", DeadLettered),
        ]
    );
    assert!(handled.response.failures().is_empty());
    let summary = handled.summary();
    assert_eq!(
        (
            summary.predicted,
            summary.rejected,
            summary.dropped,
            summary.failed
        ),
        (1, 4, 1, 0)
    );
}

/// The dead-letter bodies of the mixed event, by sequence number: each within `limit`, the big
/// one cut, the small ones whole.
fn assert_mixed_bodies(bodies: &[String], limit: usize) {
    let mut docs: Vec<serde_json::Value> = bodies
        .iter()
        .map(|b| {
            assert!(
                b.len() <= limit,
                "a {}-byte body on a {limit}-byte queue",
                b.len()
            );
            serde_json::from_str(b).unwrap()
        })
        .collect();
    docs.sort_by_key(|d| d["sequence_number"].as_str().unwrap().to_owned());
    let seqs: Vec<&str> = docs
        .iter()
        .map(|d| d["sequence_number"].as_str().unwrap())
        .collect();
    assert_eq!(seqs, ["1001", "1002", "1003", "1006"]);
    for doc in &docs {
        assert_eq!(doc["reason"], "feature_string");
    }
    let big = &docs[1];
    assert_eq!(big["payload_truncated"], true);
    let original = bad("big", &"x".repeat(1_800_000));
    assert!(original.starts_with(big["payload"].as_str().unwrap()));
    assert!(
        big["message"].as_str().unwrap().contains("[cut; "),
        "{}",
        big["message"]
    );
    assert_eq!(docs[0]["payload"], bad("small-1", "59"));
    assert!(docs[0].get("payload_truncated").is_none());
    assert_eq!(docs[3]["payload"], bad("small-3", "62"));
}

async fn create_queue(aws: &aws_config::SdkConfig, max_message: usize, fifo: bool) -> String {
    let client = aws_sdk_sqs::Client::new(aws);
    let mut request = client
        .create_queue()
        .queue_name(unique("dead-letters") + if fifo { ".fifo" } else { "" })
        .attributes(
            QueueAttributeName::MaximumMessageSize,
            max_message.to_string(),
        );
    if fifo {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    request
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned()
}

async fn bodies(aws: &aws_config::SdkConfig, queue: &str) -> Vec<String> {
    drain(aws, queue)
        .await
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_big_rejection_is_cut_to_the_queue_limit_read_at_start_and_nothing_blocks() {
    let Some(aws) = local_aws("dead_letter_limit").await else {
        return;
    };
    let dlq = create_queue(&aws, 1024, false).await;
    let (app, predictions) = app(&aws, &dlq);
    assert_eq!(limit_of(&app), 256 * 1024, "assumed until read");
    let app = app.read_queue_limits().await;
    assert_eq!(limit_of(&app), 1024, "read with GetQueueAttributes");

    let handled = run(&app, &mixed_event()).await;
    assert_mixed_outcomes(&handled);
    assert_mixed_bodies(&bodies(&aws, &dlq).await, 1024);
    assert_eq!(predictions.lines().len(), 1);
}

#[tokio::test]
async fn a_queue_smaller_than_assumed_refuses_the_big_message_and_it_is_cut_again() {
    let Some(aws) = local_aws("dead_letter_refused").await else {
        return;
    };
    // The limit is not read, so 256 KiB is assumed: SQS refuses the big message (and, as moto
    // does, the whole request it is in); the small ones are sent alone, the big one is cut to
    // 1 KiB and sent again.
    let dlq = create_queue(&aws, 1024, false).await;
    let (app, _) = app(&aws, &dlq);
    assert_eq!(limit_of(&app), 256 * 1024);

    let handled = run(&app, &mixed_event()).await;
    assert_mixed_outcomes(&handled);
    assert_mixed_bodies(&bodies(&aws, &dlq).await, 1024);
}

#[tokio::test]
async fn a_record_without_a_sequence_number_is_dead_lettered_by_every_invocation() {
    let Some(aws) = local_aws("dead_letter_fifo").await else {
        return;
    };
    let dlq = create_queue(&aws, 256 * 1024, true).await;
    let (app, _) = app(&aws, &dlq);
    let app = app.read_queue_limits().await;
    // The same batch twice: a sequence-less record (a bad envelope, id `#0`), and a bad record
    // with a sequence number, whose second copy is a Lambda retry that SQS must drop.
    let event = event(&[
        record(None, "p-1", &bad("no-seq", "59")),
        record(Some("2001"), "p-2", &bad("seq", "60")),
    ]);
    for _ in 0..2 {
        let handled = run(&app, &event).await;
        assert_eq!(
            outcomes(&handled),
            [
                ("#0", Outcome::DeadLettered),
                ("2001", Outcome::DeadLettered)
            ]
        );
    }
    let messages = drain(&aws, &dlq).await;
    let mut ids: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let dedup = &m.attributes().unwrap()
                [&aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId];
            (body["id"].as_str().unwrap().to_owned(), dedup.clone())
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids.len(),
        3,
        "both sequence-less copies and one sequenced: {ids:?}"
    );
    assert_eq!(ids[0].0, "#0");
    assert_eq!(ids[1].0, "#0");
    assert_ne!(ids[0].1, ids[1].1);
    assert!(ids[0].1.starts_with("kinesis-") && ids[0].1 != "kinesis-#0");
    assert_eq!(ids[2], ("2001".to_owned(), "kinesis-2001".to_owned()));
}

#[tokio::test]
async fn an_oversized_prediction_is_dead_lettered_without_failing_the_others() {
    let Some(aws) = local_aws("prediction_limit").await else {
        return;
    };
    let output = create_queue(&aws, 1024, false).await;
    let dlq = create_queue(&aws, 256 * 1024, false).await;
    let config = Config::from_lookup(|name| match name {
        "SINK" => Some("sqs".into()),
        "OUTPUT_QUEUE_URL" => Some(output.clone()),
        "DEAD_LETTER_QUEUE_URL" => Some(dlq.clone()),
        _ => None,
    })
    .unwrap();
    let app = App::new(&config, Model::embedded(), Some(&aws))
        .unwrap()
        .read_queue_limits()
        .await;
    let long_id = "i".repeat(2000);
    let event = event(&[
        record(Some("3001"), "p-1", &good("a")),
        record(Some("3002"), "p-2", &good(&long_id)),
        record(Some("3003"), "p-3", &good("c")),
    ]);
    let handled = run(&app, &event).await;
    use Outcome::*;
    assert_eq!(
        outcomes(&handled),
        [("3001", Written), ("3002", DeadLettered), ("3003", Written)]
    );
    assert_eq!(
        handled.entries[1].reason.map(|r| r.as_str()),
        Some("sink_rejected")
    );
    assert!(handled.response.failures().is_empty());
    assert_eq!(bodies(&aws, &output).await.len(), 2);
    let dead = bodies(&aws, &dlq).await;
    assert_eq!(dead.len(), 1);
    let doc: serde_json::Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(doc["sequence_number"], "3002");
    assert!(
        doc["message"].as_str().unwrap().contains("1024"),
        "{}",
        doc["message"]
    );
}

const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters";

#[tokio::test]
async fn without_permission_to_read_the_limit_a_refusal_for_size_is_met_by_cutting_again() {
    // GetQueueAttributes is denied, so 256 KiB is assumed; the queue takes 1 KiB, and refuses a
    // larger entry alone (SenderFault), as a successful request with a failed entry.
    let denied = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_error(|| {
        GetQueueAttributesError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform sqs:GetQueueAttributes")
                .build(),
        )
    });
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = received.clone();
    let queue = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |r| {
        let mut successful = Vec::new();
        let mut failed = Vec::new();
        for entry in r.entries() {
            if entry.message_body().len() > 1024 {
                failed.push(
                    BatchResultErrorEntry::builder()
                        .id(entry.id())
                        .sender_fault(true)
                        .code("InvalidParameterValue")
                        .message("One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.")
                        .build()
                        .unwrap(),
                );
            } else {
                kept.lock().unwrap().push(entry.message_body().to_owned());
                successful.push(
                    SendMessageBatchResultEntry::builder()
                        .id(entry.id())
                        .message_id("m")
                        .md5_of_message_body("x")
                        .build()
                        .unwrap(),
                );
            }
        }
        SendMessageBatchOutput::builder()
            .set_successful(Some(successful))
            .set_failed(Some(failed))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&denied, &queue], |c| c
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()));
    let config = Config::from_lookup(|_| None).unwrap();
    let sqs = stream_infer::SqsQueue::new(client, DLQ.into(), config.delivery);
    let app = App::new(&config, Model::embedded(), None)
        .unwrap()
        .with_sink(Sink::Stdout(JsonLinesSink::new(
            Box::new(Buffer::default()),
        )))
        .with_dead_letter(DeadLetter::Sqs(sqs))
        .read_queue_limits()
        .await;
    assert_eq!(denied.num_calls(), 1);
    assert_eq!(limit_of(&app), 256 * 1024, "the default is kept");

    let handled = run(&app, &mixed_event()).await;
    assert_mixed_outcomes(&handled);
    let received = received.lock().unwrap().clone();
    assert_mixed_bodies(&received, 1024);
}
