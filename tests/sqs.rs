//! SQS as a source, against moto: messages sent to a standard and a FIFO queue reach the handler
//! through the local trigger's SQS mapping (`stream-infer local-trigger --sqs-queue`, in process),
//! which deletes only what succeeded. Poison messages are dead-lettered and deleted, a transient
//! sink failure is reported and retried after the visibility timeout with nothing lost, and a
//! FIFO group is held back after its failed message so its order is kept on redelivery (checked
//! on the handler, since moto redelivers a FIFO group out of order).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use aws_smithy_mocks::mock;
use base64::Engine;
use stream_infer::{DeadLetter, Deadline, Delivery, Outcome, RetryPolicy, SqsQueue, handle};
use stream_infer_tools::trigger::{Function, Queue, QueueMapping, QueueReport, QueueTrigger, Stop};

use crate::aws::{create_queue, drain};
use crate::faults::{app, dynamodb, key_of, table_sink, unprocessed};
use crate::util::local_aws;

/// A valid body for the embedded diabetes model, keyed `id`.
fn body(id: &str, i: usize) -> String {
    serde_json::json!({
        "id": id, "age": 30 + i, "sex": 1 + i % 2, "bmi": 22.5, "bp": 80, "s1": 150,
        "s2": 90.0, "s3": 45, "s4": 3, "s5": 4.5, "s6": 85,
    })
    .to_string()
}

/// A sink whose table leaves unprocessed, once each, the keys in `fail_once`; records every key
/// it wrote, in order.
fn flaky_table(fail_once: &[&str]) -> (stream_infer::Sink, Arc<Mutex<Vec<String>>>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let seen = written.clone();
    let pending = Arc::new(Mutex::new(
        fail_once.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
    ));
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |r| {
        let mut pending = pending.lock().unwrap();
        let (left, done): (Vec<_>, Vec<_>) = r.request_items().unwrap()["predictions"]
            .iter()
            .cloned()
            .partition(|w| {
                let key = key_of(w);
                match pending.iter().position(|p| *p == key) {
                    Some(i) => {
                        pending.remove(i);
                        true
                    }
                    None => false,
                }
            });
        seen.lock().unwrap().extend(done.iter().map(key_of));
        unprocessed(left)
    });
    // One attempt per invocation: whatever is unprocessed is reported to the trigger.
    (table_sink(dynamodb(&[&rule]), 1), written)
}

async fn send(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    body: String,
    group: Option<&str>,
    base64: bool,
) -> String {
    let mut request = client.send_message().queue_url(queue);
    if let Some(group) = group {
        request = request
            .message_group_id(group)
            .message_deduplication_id(format!("{:x}", fastrand::u64(..)));
    }
    if base64 {
        let encoding = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("base64")
            .build()
            .unwrap();
        request = request.message_attributes("content-transfer-encoding", encoding);
    }
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body
    };
    let sent = request.message_body(body).send().await.unwrap();
    sent.message_id().unwrap().to_owned()
}

async fn run(
    aws: &aws_config::SdkConfig,
    queue: &str,
    sink: stream_infer::Sink,
    dead_letter: DeadLetter,
) -> QueueReport {
    let trigger = QueueTrigger {
        queue: Queue::new(aws, queue).await.unwrap(),
        function: Function::InProcess(Box::new(app(sink, dead_letter))),
        mapping: QueueMapping {
            batch_size: 10,
            window: Duration::ZERO,
            visibility_timeout: Duration::from_secs(1),
            wait_time: Duration::ZERO,
        },
    };
    // Idle past the visibility timeout, so reported messages come back before the run ends.
    let stop = Stop {
        idle: Some(Duration::from_secs(3)),
    };
    trigger.run(stop).await.unwrap()
}

/// Messages left on the queue, visible or in flight.
async fn left_on(aws: &aws_config::SdkConfig, queue: &str) -> (i64, i64) {
    let attributes = aws_sdk_sqs::Client::new(aws)
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: QueueAttributeName| -> i64 {
        attributes.attributes().unwrap()[&name].parse().unwrap()
    };
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Eight good messages (one of them base64), two poison ones. The table refuses two messages
/// once: they are reported, left on the queue, received again after the visibility timeout and
/// written. The poison ones are dead-lettered with their reasons, not reported, and deleted.
#[tokio::test]
async fn a_standard_queue_dead_letters_poison_and_retries_what_failed() {
    let Some(aws) = local_aws("sqs_standard").await else {
        return;
    };
    let client = aws_sdk_sqs::Client::new(&aws);
    let queue = create_queue(&aws, false).await;
    let dlq = create_queue(&aws, false).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let key = format!("s-{i}");
        ids.push(send(&client, &queue, body(&key, i), None, i == 7).await);
    }
    let not_json = send(&client, &queue, "{\"id\":\"p-0\",".into(), None, false).await;
    let missing = send(
        &client,
        &queue,
        r#"{"id":"p-1","age":50}"#.into(),
        None,
        false,
    )
    .await;

    let (sink, written) = flaky_table(&["s-2", "s-5"]);
    let delivery = Delivery {
        concurrency: 2,
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    };
    let dead_letter = DeadLetter::Sqs(SqsQueue::new(client.clone(), dlq.clone(), delivery));
    let report = run(&aws, &queue, sink, dead_letter).await;

    let (first, redelivery) = report.invocations.split_first().expect("an invocation");
    assert_eq!(first.messages.len(), 10, "{report:?}");
    assert_eq!(first.reported, [ids[2].clone(), ids[5].clone()]);
    assert_eq!(first.deleted, 8, "six written, two dead-lettered");
    // The two reported messages come back after the visibility timeout, in one batch or in two:
    // a poll returns what has become visible by then, as Lambda's SQS poller does.
    let mut again: Vec<String> = redelivery.iter().flat_map(|i| i.messages.clone()).collect();
    again.sort();
    let mut expected = vec![ids[2].clone(), ids[5].clone()];
    expected.sort();
    assert_eq!(
        again, expected,
        "the reported messages, and only they, come back: {report:?}"
    );
    for invocation in redelivery {
        assert_eq!(invocation.redelivered, invocation.messages.len());
        assert!(invocation.reported.is_empty(), "{report:?}");
        assert_eq!(invocation.deleted, invocation.messages.len());
    }

    let mut keys = written.lock().unwrap().clone();
    keys.sort();
    let all: Vec<String> = (0..8).map(|i| format!("s-{i}")).collect();
    assert_eq!(keys, all, "every good message written exactly once");

    let mut rejected: Vec<(String, String)> = drain(&aws, &dlq)
        .await
        .iter()
        .map(|m| {
            let doc: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(doc["source"], "sqs");
            (
                doc["id"].as_str().unwrap().to_owned(),
                doc["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rejected.sort();
    let mut expected = vec![
        (not_json, "not_json".to_owned()),
        (missing, "feature_missing".to_owned()),
    ];
    expected.sort();
    assert_eq!(rejected, expected);
    assert_eq!(left_on(&aws, &queue).await, (0, 0), "the queue is empty");
}

/// A FIFO queue with two groups. Group a's second message fails once: a's third and fourth are
/// not written but reported with it, and all three come back and are written once. Group b goes
/// on, and its poison message is dead-lettered without stopping it.
///
/// The order of the redelivery itself is moto's: moto 5.2.5 releases a FIFO group's timed-out
/// messages last-first (its `receive_message` keeps the group "pending" until the last of them
/// has been looked at), where SQS returns them in order. So the order on redelivery is checked
/// on the handler directly, by `a_fifo_group_redelivered_in_order_is_written_in_order`.
#[tokio::test]
async fn a_fifo_group_is_held_back_after_a_failure_and_nothing_is_lost() {
    let Some(aws) = local_aws("sqs_fifo").await else {
        return;
    };
    let client = aws_sdk_sqs::Client::new(&aws);
    let queue = create_queue(&aws, true).await;
    let mut ids = std::collections::HashMap::new();
    for (i, key) in ["a-0", "b-0", "a-1", "b-1", "a-2", "b-2", "a-3"]
        .into_iter()
        .enumerate()
    {
        let group = &key[..1];
        let text = if key == "b-1" {
            "not json".to_owned()
        } else {
            body(key, i)
        };
        ids.insert(key, send(&client, &queue, text, Some(group), false).await);
    }
    let (sink, written) = flaky_table(&["a-1"]);
    let report = run(&aws, &queue, sink, DeadLetter::Log).await;

    let first = &report.invocations[0];
    assert_eq!(first.messages.len(), 7, "{report:?}");
    let group_a_rest: Vec<String> = ["a-1", "a-2", "a-3"].map(|k| ids[k].clone()).to_vec();
    assert_eq!(first.reported, group_a_rest);
    assert_eq!(first.deleted, 4, "a-0, b-0, b-1 (dead-lettered), b-2");
    let mut again: Vec<String> = report.invocations[1..]
        .iter()
        .flat_map(|i| i.messages.clone())
        .collect();
    again.sort();
    let mut expected = group_a_rest.clone();
    expected.sort();
    assert_eq!(again, expected, "only the reported messages come back");
    assert!(
        report.invocations[1..]
            .iter()
            .all(|i| i.reported.is_empty())
    );

    let written = written.lock().unwrap().clone();
    let group = |g: &str| -> Vec<String> {
        written
            .iter()
            .filter(|k| k.starts_with(g))
            .cloned()
            .collect()
    };
    let mut a = group("a-");
    assert_eq!(a[0], "a-0", "nothing of group a was written before a-0");
    a.sort();
    assert_eq!(a, ["a-0", "a-1", "a-2", "a-3"], "each written once");
    assert_eq!(group("b-"), ["b-0", "b-2"]);
    assert_eq!(left_on(&aws, &queue).await, (0, 0), "the queue is empty");
}

/// One FIFO message as Lambda delivers it.
fn fifo_message(key: &str, group: &str, i: usize) -> serde_json::Value {
    serde_json::json!({
        "messageId": format!("m-{key}"),
        "receiptHandle": "h",
        "body": body(key, i),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795000000000",
            "MessageGroupId": group, "SequenceNumber": format!("{:020}", i),
            "MessageDeduplicationId": key},
        "messageAttributes": {},
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scores.fifo",
        "awsRegion": "us-east-1",
    })
}

/// The handler on a FIFO batch, then on its reported messages in the order SQS redelivers them:
/// the group is written in order, each message once, and no message after the failed one is
/// written in the first invocation.
#[tokio::test]
async fn a_fifo_group_redelivered_in_order_is_written_in_order() {
    let (sink, written) = flaky_table(&["a-1"]);
    let app = app(sink, DeadLetter::Log);
    let keys = ["a-0", "b-0", "a-1", "a-2", "b-1", "a-3"];
    let messages: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| fifo_message(k, &k[..1], i))
        .collect();
    let event = serde_json::json!({ "Records": messages }).to_string();
    let first = handle(&app, &event, &Deadline::none()).await.unwrap();
    assert_eq!(first.response.failures(), ["m-a-1", "m-a-2", "m-a-3"]);
    assert_eq!(*written.lock().unwrap(), ["a-0", "b-0", "b-1"]);
    let outcomes: Vec<Outcome> = first.entries.iter().map(|e| e.outcome).collect();
    use Outcome::*;
    assert_eq!(
        outcomes,
        [Written, Written, Failed, Failed, Written, Failed]
    );

    let again: Vec<serde_json::Value> = [2, 3, 5].map(|i| messages[i].clone()).to_vec();
    let event = serde_json::json!({ "Records": again }).to_string();
    let second = handle(&app, &event, &Deadline::none()).await.unwrap();
    assert!(second.response.failures().is_empty());
    assert_eq!(
        *written.lock().unwrap(),
        ["a-0", "b-0", "b-1", "a-1", "a-2", "a-3"]
    );
}
