//! Decode + features + predict, and the whole handler, on Kinesis and DynamoDB batches.
//!
//! `cargo bench --bench pipeline`. Sizes: 100 records, and the largest Kinesis batch whose
//! event fits Lambda's 6 MB payload limit (about 8,900 records of 10 features). The EMF metrics
//! document of each case is timed on its own (`metrics-document`). The HTTP door's pure handler
//! answers a 1-instance and a 1,000-instance `POST /predict` (`http`). An SQS batch of 10
//! messages, Lambda's default SQS batch size (`sqs`: `cargo bench --bench pipeline -- sqs`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use stream_infer::Config;
use stream_infer::FeatureSpec;
use stream_infer::decode_event;
use stream_infer::handle_observed;
use stream_infer::model::Model;
use stream_infer::score;
use stream_infer::{App, handle};
use stream_infer::{Deadline, JsonLinesSink, Sink};
use stream_infer::{Door, respond};
use stream_infer::{Invocation, Metrics};

/// Lambda's limit on an invocation payload.
const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

fn features(i: usize) -> serde_json::Value {
    let f = i as f64;
    serde_json::json!({
        "age": 20 + i % 60, "sex": 1 + i % 2, "bmi": 18.0 + (f * 0.37) % 20.0,
        "bp": 70.0 + (f * 1.3) % 60.0, "s1": 120 + i % 180, "s2": 60.0 + (f * 2.1) % 150.0,
        "s3": 25.0 + (f * 0.9) % 70.0, "s4": 2.0 + (f * 0.11) % 7.0,
        "s5": 3.3 + (f * 0.013) % 3.0, "s6": 60 + i % 70,
    })
}

fn kinesis_record(i: usize) -> serde_json::Value {
    let mut payload = features(i);
    payload["id"] = serde_json::json!(format!("patient-{i:06}"));
    let data = base64::engine::general_purpose::STANDARD.encode(payload.to_string());
    let seq = format!("49590338271490256608559692538361571095921575989136{i:06}");
    serde_json::json!({
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": format!("patient-{i:06}"),
            "sequenceNumber": seq, "data": data, "approximateArrivalTimestamp": 1795000000.0 + i as f64},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": format!("shardId-000000000000:{seq}"), "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-infer", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/stream-infer-input",
    })
}

fn dynamodb_record(i: usize) -> serde_json::Value {
    let mut image = serde_json::Map::new();
    image.insert(
        "id".into(),
        serde_json::json!({"S": format!("patient-{i:06}")}),
    );
    for (name, value) in features(i).as_object().unwrap() {
        image.insert(name.clone(), serde_json::json!({"N": value.to_string()}));
    }
    serde_json::json!({
        "eventID": format!("{i:032x}"), "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"ApproximateCreationDateTime": 1795000000.0, "Keys": {"id": {"S": format!("patient-{i:06}")}},
            "NewImage": image, "SequenceNumber": format!("{}", 100000000 + i), "SizeBytes": 300,
            "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/input/stream/2026-11-01T00:00:00.000",
    })
}

/// An SQS message as Lambda delivers it: a JSON body, message id, system attributes.
fn sqs_record(i: usize) -> serde_json::Value {
    let mut payload = features(i);
    payload["id"] = serde_json::json!(format!("patient-{i:06}"));
    serde_json::json!({
        "messageId": format!("{i:08x}-5f1e-4a3c-9d2b-1f0e8d7c6b5a"),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a3nT2YAvlN2pBm8mAl6SnYfRexlt+kkWqvUy6GW8xvp9SdP9G7DQHPZbpYp4SSRHSZ+JuzqHyzgMbu8x2PLD9FXlhQkPpd3m5kh5cVyTDrIzGtBvgKyN98wy6N4ncZQmEsYJdmpUnfgNGO3sVkBa9bUMBjvlfTxVqAoByqo55QNJasHuE0YYjJYAQb+cUkKH6KZu8RqZiDCqjvfcF0+gyoYCpEm+6ZJ+d5ASmcVVNbkXSMuvLjTcqsk3TmBJmpyZ8UP3VCYZIlvGzTm8UCq6hMZjzPzyF3vr4q/4b5pF2OAW+uJ1k1tK5q1+HzP9I94g6bbx9bNHgEQ==",
        "body": payload.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": format!("{}", 1795000000000u64 + i as u64),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1795000000020"},
        "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stream-infer-input",
        "awsRegion": "us-east-1",
    })
}

/// An event of `n` records, or as many as fit in the payload limit when `n` is `None`.
fn event(record: fn(usize) -> serde_json::Value, n: Option<usize>) -> (String, usize) {
    let mut records = Vec::new();
    let mut size = r#"{"Records":[]}"#.len();
    for i in 0.. {
        if n == Some(i) {
            break;
        }
        let r = record(i).to_string();
        if n.is_none() && size + r.len() + 1 > PAYLOAD_LIMIT {
            break;
        }
        size += r.len() + 1;
        records.push(r);
    }
    let count = records.len();
    (format!(r#"{{"Records":[{}]}}"#, records.join(",")), count)
}

/// The embedded model, its feature spec, an app whose stdout sink writes into nothing, and the
/// current-thread runtime to drive the handler.
fn setup() -> (Model, FeatureSpec, App, tokio::runtime::Runtime) {
    let model = Model::embedded();
    let spec = FeatureSpec::new(model.features().to_vec(), None, "id".into());
    let config = Config::from_lookup(|_| None).unwrap();
    let app = App::new(&config, Model::embedded(), None)
        .unwrap()
        .with_sink(Sink::Stdout(JsonLinesSink::new(Box::new(std::io::sink()))));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    (model, spec, app, runtime)
}

fn bench(c: &mut Criterion) {
    let (model, spec, app, runtime) = setup();

    let cases = [
        ("kinesis", event(kinesis_record, Some(100))),
        ("kinesis", event(kinesis_record, None)),
        ("dynamodb", event(dynamodb_record, Some(100))),
        ("dynamodb", event(dynamodb_record, None)),
    ];
    // The decode stage alone (event split, envelopes, base64) on the largest batches.
    let mut group = c.benchmark_group("decode");
    for (source, (text, n)) in cases.iter().skip(1).step_by(2) {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(format!("{source}/{n}"), |b| {
            b.iter(|| black_box(decode_event(black_box(text)).unwrap()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decode+features+predict");
    for (source, (text, n)) in &cases {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(format!("{source}/{n}"), |b| {
            b.iter(|| black_box(score(decode_event(black_box(text)).unwrap(), &spec, &model)))
        });
    }
    group.finish();

    // The features stage (payload -> row) and the one prediction, on an already decoded batch
    // (`cargo bench --bench pipeline -- features`).
    let mut group = c.benchmark_group("features");
    for (source, (text, n)) in &cases {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(format!("{source}/{n}"), |b| {
            b.iter_batched(
                || decode_event(text).unwrap(),
                |batch| score(batch, &spec, &model),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("handle");
    for (source, (text, n)) in &cases {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(format!("{source}/{n}"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    runtime
                        .block_on(handle(&app, black_box(text), &Deadline::none()))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // The respond stage: what the handler does after scoring (prediction lines into the sink,
    // the ledger, the response), timed as the handler's total minus its own decode and score
    // laps, as `stream-infer bench` reports it (`cargo bench --bench pipeline -- respond`).
    let mut group = c.benchmark_group("respond");
    for (source, (text, n)) in &cases {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_function(format!("{source}/{n}"), |b| {
            b.iter_custom(|iters| {
                let mut respond = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let (handled, observed) = runtime
                        .block_on(handle_observed(
                            &app,
                            black_box(text),
                            &Deadline::none(),
                            None,
                        ))
                        .unwrap();
                    let total = start.elapsed();
                    respond +=
                        total.saturating_sub(observed.stages.decode + observed.stages.predict);
                    drop(black_box(handled));
                }
                respond
            })
        });
    }
    group.finish();

    // The EMF document the Lambda builds per invocation with `METRICS=on`: its whole cost, next
    // to the handler's. A ledger with rejected records adds one metric per reason code.
    let metrics = Metrics::new("StreamInfer", "stream-infer");
    let mut group = c.benchmark_group("metrics-document");
    for (source, (text, n)) in &cases {
        let handled = runtime
            .block_on(handle(&app, text, &Deadline::none()))
            .unwrap();
        let run = Invocation {
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            trace_id: Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419"),
            model: "diabetes",
            model_version: "1",
            handler: std::time::Duration::from_micros(300),
            ..Invocation::default()
        };
        group.bench_function(format!("{source}/{n}"), |b| {
            b.iter(|| black_box(metrics.document(black_box(&handled), &run, 1_795_000_000_000)))
        });
    }
    group.finish();
}

/// A Function URL event carrying `POST /predict` with `n` instances (one bare object for 1).
fn http_event(n: usize) -> String {
    let body = if n == 1 {
        features(0).to_string()
    } else {
        serde_json::json!({"instances": (0..n).map(features).collect::<Vec<_>>()}).to_string()
    };
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/predict", "rawQueryString": "",
        "headers": {"content-type": "application/json", "content-length": body.len().to_string(),
            "host": "abcdefghij.lambda-url.us-east-1.on.aws", "user-agent": "curl/8.5.0",
            "x-amz-date": "20261126T000000Z", "x-forwarded-for": "203.0.113.7"},
        "requestContext": {"accountId": "123456789012", "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws", "domainPrefix": "abcdefghij",
            "http": {"method": "POST", "path": "/predict", "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "requestId": "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "routeKey": "$default",
            "stage": "$default", "time": "26/Nov/2026:00:00:00 +0000", "timeEpoch": 1795651200000_u64},
        "body": body, "isBase64Encoded": false,
    })
    .to_string()
}

/// The HTTP door's pure handler (`cargo bench --bench pipeline -- http`): event bytes -> status
/// and JSON body, for a 1-instance and a 1,000-instance `POST /predict` (`predict`), and with the
/// response serialized as lambda_runtime serializes it (`predict+response`).
fn bench_http(c: &mut Criterion) {
    let config = Config::from_lookup(|_| None).unwrap();
    let app = App::new(&config, Model::embedded(), None)
        .unwrap()
        .with_door(Door::Http {
            max_instances: 1000,
        });
    let mut group = c.benchmark_group("http");
    for n in [1, 1000] {
        let event = http_event(n);
        let answered = respond(&app, event.as_bytes()).unwrap();
        assert_eq!(
            answered.response.status(),
            200,
            "{}",
            answered.response.json()
        );
        assert_eq!(answered.instances, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("predict/{n}"), |b| {
            b.iter(|| black_box(respond(&app, black_box(event.as_bytes())).unwrap()))
        });
        // What the runtime posts: the answer serialized as lambda_runtime serializes it.
        group.bench_function(format!("predict+response/{n}"), |b| {
            b.iter(|| {
                let answered = respond(&app, black_box(event.as_bytes())).unwrap();
                black_box(serde_json::to_vec(&answered.response).unwrap())
            })
        });
    }
    group.finish();
}

/// Lambda's default SQS batch: 10 messages, decoded and predicted in process, and the whole
/// handler (stdout sink into nothing).
fn bench_sqs(c: &mut Criterion) {
    let (model, spec, app, runtime) = setup();
    let (text, n) = event(sqs_record, Some(10));
    let mut group = c.benchmark_group("sqs");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function(format!("decode+features+predict/{n}"), |b| {
        b.iter(|| {
            black_box(score(
                decode_event(black_box(&text)).unwrap(),
                &spec,
                &model,
            ))
        })
    });
    group.bench_function(format!("handle/{n}"), |b| {
        b.iter(|| {
            runtime
                .block_on(handle(&app, black_box(&text), &Deadline::none()))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench, bench_http, bench_sqs);
criterion_main!(benches);
