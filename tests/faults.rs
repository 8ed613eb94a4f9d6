//! Fault injection on the real SDK clients (aws-smithy-mocks): throttling, unprocessed items,
//! partial SQS failures, a failing dead-letter queue and the deadline. Each test checks the
//! ledger: written, dead-lettered, skipped and reported are disjoint and cover the input.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemError, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::WriteRequest;
use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use stream_infer::model::Model;
use stream_infer::{App, Handled, Outcome, handle};
use stream_infer::{Config, Reason};
use stream_infer::{DeadLetter, Deadline, Delivery, DynamoDbSink, RetryPolicy, Sink, SqsQueue};

use crate::util::{assert_ledger, input_ids, kinesis_event, root};

const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters";
const OUT: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/predictions";

fn delivery(max_attempts: u32) -> Delivery {
    Delivery {
        concurrency: 4,
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    }
}

pub fn dynamodb(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_dynamodb::Client {
    mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::disabled()
        ))
}

fn sqs(rules: &[&aws_smithy_mocks::Rule]) -> aws_sdk_sqs::Client {
    mock_client!(aws_sdk_sqs, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()))
}

pub fn app(sink: Sink, dead_letter: DeadLetter) -> App {
    let config = Config::from_lookup(|_| None).unwrap();
    App::new(&config, Model::embedded(), None)
        .unwrap()
        .with_sink(sink)
        .with_dead_letter(dead_letter)
}

pub fn table_sink(client: aws_sdk_dynamodb::Client, max_attempts: u32) -> Sink {
    Sink::DynamoDb(DynamoDbSink::new(
        client,
        "predictions".into(),
        "pk".into(),
        None,
        delivery(max_attempts),
    ))
}

/// A dead-letter queue that accepts everything, counting messages.
fn accepting_dlq(sent: Arc<AtomicUsize>) -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_sqs::Client::send_message_batch)
        .match_requests(|r| r.queue_url() == Some(DLQ))
        .then_compute_output(move |r| {
            sent.fetch_add(r.entries().len(), Ordering::SeqCst);
            ok_batch(r.entries().iter().map(|e| e.id().to_owned()))
        })
}

fn ok_batch(ids: impl Iterator<Item = String>) -> SendMessageBatchOutput {
    let successful = ids
        .map(|id| {
            SendMessageBatchResultEntry::builder()
                .id(id)
                .message_id("m")
                .md5_of_message_body("x")
                .build()
                .unwrap()
        })
        .collect();
    SendMessageBatchOutput::builder()
        .set_successful(Some(successful))
        .set_failed(Some(Vec::new()))
        .build()
        .unwrap()
}

pub fn key_of(request: &WriteRequest) -> String {
    request.put_request().unwrap().item()["pk"]
        .as_s()
        .unwrap()
        .clone()
}

pub fn unprocessed(requests: Vec<WriteRequest>) -> BatchWriteItemOutput {
    let mut builder = BatchWriteItemOutput::builder();
    if !requests.is_empty() {
        builder = builder.unprocessed_items("predictions", requests);
    }
    builder.build()
}

async fn run(app: &App, event: &str, deadline: Deadline) -> Handled {
    let handled = handle(app, event, &deadline).await.unwrap();
    assert_ledger(&handled, &input_ids(event));
    handled
}

fn mixed() -> String {
    std::fs::read_to_string(root().join("events/kinesis-mixed.json")).unwrap()
}

#[tokio::test]
async fn throttling_then_success_writes_everything() {
    let throttled = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .sequence()
        .error(|| {
            BatchWriteItemError::ProvisionedThroughputExceededException(
                ProvisionedThroughputExceededException::builder()
                    .message("slow down")
                    .build(),
            )
        })
        .times(2)
        .output(|| BatchWriteItemOutput::builder().build())
        .repeatedly()
        .build();
    let sent = Arc::new(AtomicUsize::new(0));
    let dlq = accepting_dlq(sent.clone());
    let app = app(
        table_sink(dynamodb(&[&throttled]), 5),
        DeadLetter::Sqs(SqsQueue::new(sqs(&[&dlq]), DLQ.into(), delivery(3))),
    );
    let handled = run(&app, &mixed(), Deadline::none()).await;
    assert_eq!(handled.summary().predicted, 2);
    assert!(handled.response.failures().is_empty());
    assert_eq!(
        throttled.num_calls(),
        3,
        "two throttled attempts, then one that succeeds"
    );
    assert_eq!(
        sent.load(Ordering::SeqCst),
        11,
        "every rejection was dead-lettered"
    );
}

#[tokio::test]
async fn unprocessed_items_are_retried_until_they_clear() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    // The first answer leaves half of each request unprocessed; later ones process everything.
    let partial = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |r| {
        let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
        let requests = r.request_items().unwrap()["predictions"].clone();
        let half = requests.len() / 2;
        unprocessed(if first {
            requests[..half].to_vec()
        } else {
            Vec::new()
        })
    });
    let app = app(table_sink(dynamodb(&[&partial]), 5), DeadLetter::Log);
    let event = kinesis_event(20);
    let handled = run(&app, &event, Deadline::none()).await;
    assert_eq!(handled.summary().predicted, 20);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unprocessed_items_that_never_clear_are_reported_and_the_rest_are_not() {
    let stuck = ["gen-000003", "gen-000017", "gen-000031"];
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |r| {
        let requests = r.request_items().unwrap()["predictions"].clone();
        unprocessed(
            requests
                .into_iter()
                .filter(|w| stuck.contains(&key_of(w).as_str()))
                .collect(),
        )
    });
    let app = app(table_sink(dynamodb(&[&rule]), 4), DeadLetter::Log);
    let event = kinesis_event(40);
    let handled = run(&app, &event, Deadline::none()).await;
    let ids = input_ids(&event);
    assert_eq!(
        handled.response.failures(),
        [ids[3].as_str(), ids[17].as_str(), ids[31].as_str()]
    );
    assert_eq!(handled.summary().predicted, 37);
    // Two chunks (25 + 15): each tried once, then the stuck items three more times.
    assert_eq!(rule.num_calls(), 2 + 3 * 2);
}

#[tokio::test]
async fn a_validation_error_isolates_the_bad_item_and_dead_letters_only_it() {
    // The table refuses any request that contains gen-000002; alone, every other item succeeds.
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_response(|r| {
        let requests = &r.request_items().unwrap()["predictions"];
        if requests.iter().any(|w| key_of(w) == "gen-000002") {
            aws_smithy_mocks::MockResponse::Http(aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"Item size has exceeded the maximum allowed size"}"#,
                ),
            ))
        } else {
            aws_smithy_mocks::MockResponse::Output(BatchWriteItemOutput::builder().build())
        }
    });
    let sent = Arc::new(AtomicUsize::new(0));
    let dlq = accepting_dlq(sent.clone());
    let app = app(
        table_sink(dynamodb(&[&rule]), 3),
        DeadLetter::Sqs(SqsQueue::new(sqs(&[&dlq]), DLQ.into(), delivery(3))),
    );
    let event = kinesis_event(5);
    let handled = run(&app, &event, Deadline::none()).await;
    let outcomes: Vec<Outcome> = handled.entries.iter().map(|e| e.outcome).collect();
    use Outcome::*;
    assert_eq!(outcomes, [Written, Written, DeadLettered, Written, Written]);
    assert_eq!(
        handled.entries[2].reason.map(Reason::as_str),
        Some("sink_rejected")
    );
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sqs_partial_failures_retry_unless_the_sender_is_at_fault() {
    // Entry 0 of the first request fails transiently once; entry 1 always fails with SenderFault.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let out = mock!(aws_sdk_sqs::Client::send_message_batch)
        .match_requests(|r| r.queue_url() == Some(OUT))
        .then_compute_output(move |r| {
            let call = seen.fetch_add(1, Ordering::SeqCst);
            let mut failed = Vec::new();
            let mut ok = Vec::new();
            for entry in r.entries() {
                let body: serde_json::Value = serde_json::from_str(entry.message_body()).unwrap();
                let key = body["key"].as_str().unwrap().to_owned();
                let fault = match key.as_str() {
                    "gen-000000" if call == 0 => Some(false),
                    "gen-000001" => Some(true),
                    _ => None,
                };
                match fault {
                    Some(sender_fault) => failed.push(
                        BatchResultErrorEntry::builder()
                            .id(entry.id())
                            .sender_fault(sender_fault)
                            .code(if sender_fault {
                                "InvalidParameterValue"
                            } else {
                                "InternalError"
                            })
                            .message("injected")
                            .build()
                            .unwrap(),
                    ),
                    None => ok.push(entry.id().to_owned()),
                }
            }
            let mut output = ok_batch(ok.into_iter());
            output.failed = failed;
            output
        });
    let sent = Arc::new(AtomicUsize::new(0));
    let dlq = accepting_dlq(sent.clone());
    let client = sqs(&[&out, &dlq]);
    let app = app(
        Sink::Sqs(SqsQueue::new(client.clone(), OUT.into(), delivery(4))),
        DeadLetter::Sqs(SqsQueue::new(client, DLQ.into(), delivery(4))),
    );
    let event = kinesis_event(12);
    let handled = run(&app, &event, Deadline::none()).await;
    let outcomes: Vec<Outcome> = handled.entries.iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes[0],
        Outcome::Written,
        "a transient entry failure is retried"
    );
    assert_eq!(
        outcomes[1],
        Outcome::DeadLettered,
        "a sender fault is permanent"
    );
    assert!(handled.entries[1].reason.map(Reason::as_str) == Some("sink_rejected"));
    assert!(outcomes[2..].iter().all(|o| *o == Outcome::Written));
    assert!(handled.response.failures().is_empty());
    assert_eq!(sent.load(Ordering::SeqCst), 1);
    // Two requests (10 + 2) and one retry of the first request's transient entry.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_failing_dead_letter_queue_reports_the_rejected_records() {
    let table = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .then_output(|| BatchWriteItemOutput::builder().build());
    let dlq = mock!(aws_sdk_sqs::Client::send_message_batch).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
            aws_smithy_types::body::SdkBody::from("unavailable"),
        )
    });
    let app = app(
        table_sink(dynamodb(&[&table]), 2),
        DeadLetter::Sqs(SqsQueue::new(sqs(&[&dlq]), DLQ.into(), delivery(2))),
    );
    let event = mixed();
    let handled = run(&app, &event, Deadline::none()).await;
    let summary = handled.summary();
    assert_eq!((summary.predicted, summary.failed), (2, 11));
    let want: Vec<String> = input_ids(&event)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && *i != 12)
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        handled.response.failures(),
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        dlq.num_calls(),
        4,
        "two requests (10 + 1), two attempts each"
    );
}

#[tokio::test]
async fn the_deadline_stops_retries_and_reports_what_is_left() {
    let throttled = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_error(|| {
        BatchWriteItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("slow down")
                .build(),
        )
    });
    let mut slow = delivery(1_000);
    slow.retry.base_delay = Duration::from_millis(20);
    slow.retry.max_delay = Duration::from_millis(20);
    let app = app(
        Sink::DynamoDb(DynamoDbSink::new(
            dynamodb(&[&throttled]),
            "predictions".into(),
            "pk".into(),
            None,
            slow,
        )),
        DeadLetter::Log,
    );
    let event = kinesis_event(30);
    let deadline = Deadline::at(Instant::now() + Duration::from_millis(300));
    let handled = run(&app, &event, deadline).await;
    assert_eq!(
        handled.summary().failed,
        30,
        "nothing was written, everything is reported"
    );
    assert_eq!(handled.response.failures().len(), 30);
    assert!(
        throttled.num_calls() < 1_000,
        "retries stopped at the deadline, not the attempt limit"
    );
}

#[tokio::test]
async fn ten_thousand_predictions_take_exactly_the_minimum_number_of_requests() {
    let table = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .then_output(|| BatchWriteItemOutput::builder().build());
    let queue = mock!(aws_sdk_sqs::Client::send_message_batch)
        .then_compute_output(|r| ok_batch(r.entries().iter().map(|e| e.id().to_owned())));
    let event = kinesis_event(10_000);

    let app_table = app(table_sink(dynamodb(&[&table]), 3), DeadLetter::Log);
    assert_eq!(
        run(&app_table, &event, Deadline::none())
            .await
            .summary()
            .predicted,
        10_000
    );
    assert_eq!(table.num_calls(), 10_000_usize.div_ceil(25));

    let app_queue = app(
        Sink::Sqs(SqsQueue::new(sqs(&[&queue]), OUT.into(), delivery(3))),
        DeadLetter::Log,
    );
    assert_eq!(
        run(&app_queue, &event, Deadline::none())
            .await
            .summary()
            .predicted,
        10_000
    );
    assert_eq!(queue.num_calls(), 10_000_usize.div_ceil(10));
}

/// Every prediction and dead-letter message carries the invocation's X-Ray trace header as its
/// `AWSTraceHeader` system attribute. (moto drops system attributes sent in a batch, so the SDK's
/// own request is inspected here; tests/aws.rs checks the DynamoDB `trace_id` against moto.)
#[tokio::test]
async fn the_trace_header_rides_on_every_sqs_message() {
    use aws_sdk_sqs::types::MessageSystemAttributeNameForSends;

    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    let headers = Arc::new(std::sync::Mutex::new(Vec::<(String, Option<String>)>::new()));
    let seen = headers.clone();
    let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |r| {
        for entry in r.entries() {
            let header = entry
                .message_system_attributes()
                .and_then(|a| a.get(&MessageSystemAttributeNameForSends::AwsTraceHeader))
                .and_then(|v| v.string_value())
                .map(str::to_owned);
            let queue = r.queue_url().unwrap_or_default().to_owned();
            seen.lock().unwrap().push((queue, header));
        }
        ok_batch(r.entries().iter().map(|e| e.id().to_owned()))
    });
    let client = sqs(&[&rule]);
    let app = app(
        Sink::Sqs(SqsQueue::new(client.clone(), OUT.into(), delivery(2))),
        DeadLetter::Sqs(SqsQueue::new(client, DLQ.into(), delivery(2))),
    );
    let event = std::fs::read_to_string(root().join("events/kinesis-mixed.json")).unwrap();
    let (handled, _) = stream_infer::handle_observed(&app, &event, &Deadline::none(), Some(trace))
        .await
        .unwrap();
    let summary = handled.summary();
    let headers = headers.lock().unwrap();
    let on = |queue: &str| headers.iter().filter(|(q, _)| q == queue).count();
    assert_eq!(on(OUT), summary.predicted);
    assert_eq!(on(DLQ), summary.rejected);
    assert!(summary.predicted > 0 && summary.rejected > 0, "{summary:?}");
    assert!(
        headers.iter().all(|(_, h)| h.as_deref() == Some(trace)),
        "{headers:?}"
    );
}
