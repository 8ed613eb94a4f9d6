//! Real producer formats at the edge: KPL aggregates made by the independent aws-kinesis-agg
//! encoder (tools/python/kpl_event.py) and by `stream-infer put --aggregate`, compressed
//! payloads, zip bombs and corrupt aggregates, through the `stream-infer` binary, the handler and
//! the local trigger.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use aws_smithy_mocks::mock;
use base64::Engine;
use stream_infer::{DeadLetter, Deadline, Outcome, handle};

use crate::aws::{create_queue, drain, scan};
use crate::faults::{app, dynamodb, key_of, table_sink, unprocessed};
use crate::util::{create_table, formula, local_aws, root, unique};

fn python() -> PathBuf {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup, which installs aws-kinesis-agg",
        python.display()
    );
    python
}

/// A patient payload with the embedded model's ten features and an `id`.
fn patient(i: usize) -> serde_json::Value {
    serde_json::json!({
        "id": format!("kpl-{i:03}"), "age": 20 + i % 60, "sex": 1 + i % 2,
        "bmi": 18.0 + (i % 200) as f64 / 10.0, "bp": 70 + i % 50, "s1": 120 + i % 150,
        "s2": 60.0 + (i % 140) as f64, "s3": 25 + i % 60, "s4": 2 + i % 6,
        "s5": 3.5 + (i % 30) as f64 / 10.0, "s6": 60 + i % 60,
    })
}

/// A Kinesis event of aggregates written by aws-kinesis-agg's `RecordAggregator`.
fn kpl_event(per_record: usize, user_records: Vec<serde_json::Value>) -> serde_json::Value {
    let spec = serde_json::json!({ "per_record": per_record, "user_records": user_records });
    let mut child = Command::new(python())
        .arg(root().join("tools/python/kpl_event.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kpl_event.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `stream-infer invoke` on `event`: the prediction lines, the response, the rejection lines and
/// the summary.
struct Invoked {
    predictions: Vec<serde_json::Value>,
    response: serde_json::Value,
    rejections: Vec<serde_json::Value>,
    summary: serde_json::Value,
}

fn invoke(event: &serde_json::Value, vars: &[(&str, &str)]) -> Invoked {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(event.to_string().as_bytes()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_stream-infer"));
    command.arg("invoke").arg(file.path()).current_dir(root());
    for var in [
        "MODEL_URI",
        "SINK",
        "FEATURES_FIELD",
        "ID_FIELD",
        "RUST_LOG",
        "MAX_DECOMPRESSED_BYTES",
    ] {
        command.env_remove(var);
    }
    let out = command.envs(vars.iter().copied()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = |bytes: &[u8]| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let mut predictions = lines(&out.stdout);
    let response = predictions.pop().unwrap();
    let mut rejections = lines(&out.stderr);
    let summary = rejections.pop().unwrap()["summary"].clone();
    Invoked {
        predictions,
        response,
        rejections,
        summary,
    }
}

fn sequence_number(event: &serde_json::Value, record: usize) -> String {
    event["Records"][record]["kinesis"]["sequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn plain_record(sequence_number: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/kpl",
        "kinesis": {
            "sequenceNumber": sequence_number,
            "partitionKey": "plain",
            "data": base64::engine::general_purpose::STANDARD.encode(data),
        }
    })
}

/// Ten user records in aggregates of four (4 + 4 + 2), some gzip- or zlib-compressed, as
/// aws-kinesis-agg packs them: every one is predicted, with its own id, partition key and value.
#[test]
fn aggregates_from_aws_kinesis_agg_are_predicted_record_by_record() {
    let users: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let compress = match i % 3 {
                1 => serde_json::json!("gzip"),
                2 => serde_json::json!("zlib"),
                _ => serde_json::Value::Null,
            };
            serde_json::json!({"partition_key": format!("pk-{}", i % 4), "json": patient(i), "compress": compress})
        })
        .collect();
    let event = kpl_event(4, users);
    assert_eq!(event["Records"].as_array().unwrap().len(), 3);
    let out = invoke(&event, &[]);
    assert_eq!(out.response, serde_json::json!({"batchItemFailures": []}));
    assert!(out.rejections.is_empty(), "{:?}", out.rejections);
    assert_eq!(out.summary["in"], 10, "{}", out.summary);
    assert_eq!(out.summary["predicted"], 10, "{}", out.summary);
    assert_eq!(out.predictions.len(), 10);
    for (i, line) in out.predictions.iter().enumerate() {
        let (parent, sub) = (i / 4, i % 4);
        assert_eq!(
            line["id"],
            format!("{}:{sub}", sequence_number(&event, parent))
        );
        assert_eq!(line["key"], format!("kpl-{i:03}"));
        assert_eq!(line["partition_key"], format!("pk-{}", i % 4));
        let expected = formula(patient(i).as_object().unwrap());
        let got = line["prediction"].as_f64().unwrap();
        assert!(
            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "record {i}: {got} vs {expected}"
        );
    }
}

/// A bad user record inside an aggregate is dead-lettered alone, with its own id and its own
/// data; its siblings are predicted.
#[test]
fn a_bad_user_record_is_rejected_alone_with_its_own_payload() {
    let users = vec![
        serde_json::json!({"partition_key": "a", "json": patient(0)}),
        serde_json::json!({"partition_key": "b", "json": {"id": "no-features"}}),
        serde_json::json!({"partition_key": "c", "text": "plain text", "compress": "gzip"}),
        serde_json::json!({"partition_key": "d", "json": patient(3)}),
    ];
    let event = kpl_event(4, users);
    let out = invoke(&event, &[]);
    let parent = sequence_number(&event, 0);
    let predicted: Vec<&str> = out
        .predictions
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(predicted, [format!("{parent}:0"), format!("{parent}:3")]);
    let rejected: Vec<(&str, &str, &str)> = out
        .rejections
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
                r["partition_key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (format!("{parent}:1").as_str(), "feature_missing", "b"),
            (format!("{parent}:2").as_str(), "not_json", "c"),
        ]
    );
    // The dead letter carries the user record's own data, and its aggregate's sequence number.
    assert_eq!(out.rejections[0]["payload"], r#"{"id":"no-features"}"#);
    assert_eq!(out.rejections[0]["payload_encoding"], "utf8");
    assert_eq!(out.rejections[0]["sequence_number"], parent.as_str());
    assert_eq!(out.rejections[1]["payload_encoding"], "base64");
    let packed = base64::engine::general_purpose::STANDARD
        .decode(out.rejections[1]["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        packed[..2],
        [0x1F, 0x8B],
        "the gzip bytes as they were packed"
    );
    assert_eq!(out.response, serde_json::json!({"batchItemFailures": []}));
}

/// A zip bomb, plain or inside an aggregate, is rejected as `payload_too_large` without being
/// expanded; `MAX_DECOMPRESSED_BYTES` moves the limit; everything else in the batch is predicted.
#[test]
fn a_zip_bomb_is_rejected_as_payload_too_large() {
    let bomb = gzip(&vec![b' '; 16 << 20]);
    assert!(bomb.len() < 32 << 10, "{} bytes", bomb.len());
    let body = serde_json::to_vec(&patient(7)).unwrap();
    let padded = [body.as_slice(), &vec![b' '; 4000]].concat();
    let aggregated = kpl_event(
        2,
        vec![
            serde_json::json!({"partition_key": "x", "json": patient(1)}),
            serde_json::json!({"partition_key": "y", "text": " ".repeat(2 << 20), "compress": "gzip"}),
        ],
    );
    let mut records = vec![
        plain_record("1", &bomb),
        plain_record("2", &gzip(&padded)),
        plain_record("3", &body),
    ];
    records.extend(aggregated["Records"].as_array().unwrap().iter().cloned());
    let event = serde_json::json!({ "Records": records });
    let parent = sequence_number(&event, 3);

    let out = invoke(&event, &[]);
    let predicted: Vec<&str> = out
        .predictions
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(predicted, ["2", "3", format!("{parent}:0").as_str()]);
    let rejected: Vec<(&str, &str)> = out
        .rejections
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("1", "payload_too_large"),
            (format!("{parent}:1").as_str(), "payload_too_large")
        ]
    );
    let message = out.rejections[0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "payload is too large: {} bytes of gzip decompress to more than 1048576 bytes (MAX_DECOMPRESSED_BYTES)",
            bomb.len()
        )
    );
    assert_eq!(out.response, serde_json::json!({"batchItemFailures": []}));

    // A lower limit rejects the padded record too; the uncompressed one is never limited.
    let out = invoke(&event, &[("MAX_DECOMPRESSED_BYTES", "4000")]);
    let predicted: Vec<&str> = out
        .predictions
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(predicted, ["3", format!("{parent}:0").as_str()]);
    assert!(
        out.rejections[1]["message"]
            .as_str()
            .unwrap()
            .ends_with("decompress to more than 4000 bytes (MAX_DECOMPRESSED_BYTES)"),
        "{}",
        out.rejections[1]
    );
}

/// A corrupt aggregate (a flipped byte, a truncated record) is one `bad_aggregate` rejection with
/// its sequence number; the records around it, aggregated or not, are all predicted.
#[test]
fn a_corrupt_aggregate_is_one_bad_aggregate_and_nothing_else_is_lost() {
    let users: Vec<serde_json::Value> = (0..9)
        .map(|i| serde_json::json!({"partition_key": format!("pk-{i}"), "json": patient(i)}))
        .collect();
    let mut event = kpl_event(3, users);
    let decode = |record: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(record["kinesis"]["data"].as_str().unwrap())
            .unwrap()
    };
    let mut flipped = decode(&event["Records"][1]);
    flipped[20] ^= 0x01;
    let truncated = decode(&event["Records"][2]);
    let truncated = &truncated[..truncated.len() - 40];
    for (record, bytes) in [(1, flipped.as_slice()), (2, truncated)] {
        event["Records"][record]["kinesis"]["data"] = base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into();
    }
    let records = event["Records"].as_array_mut().unwrap();
    records.push(plain_record(
        "99",
        &serde_json::to_vec(&patient(50)).unwrap(),
    ));

    let out = invoke(&event, &[]);
    let first = sequence_number(&event, 0);
    let predicted: Vec<&str> = out
        .predictions
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        predicted,
        [
            format!("{first}:0").as_str(),
            &format!("{first}:1"),
            &format!("{first}:2"),
            "99"
        ]
    );
    assert_eq!(out.rejections.len(), 2, "{:?}", out.rejections);
    for (rejection, record) in out.rejections.iter().zip([1, 2]) {
        assert_eq!(rejection["id"], sequence_number(&event, record));
        assert_eq!(rejection["reason"], "bad_aggregate");
        assert_eq!(rejection["payload_encoding"], "base64");
    }
    let flipped_message = out.rejections[0]["message"].as_str().unwrap();
    assert!(
        flipped_message.contains("the MD5 trailer") && flipped_message.contains("does not match"),
        "{flipped_message}"
    );
    assert!(
        flipped_message.starts_with("KPL aggregated record is corrupt: "),
        "{flipped_message}"
    );
    let counts = ["in", "predicted", "rejected", "failed"].map(|k| out.summary[k].clone());
    assert_eq!(
        counts,
        [6, 4, 2, 0].map(serde_json::Value::from),
        "{}",
        out.summary
    );
    assert_eq!(out.response, serde_json::json!({"batchItemFailures": []}));
}

/// A transient sink failure of one user record reports its aggregate's sequence number, once,
/// however many of its user records failed; the other aggregates are not reported.
#[tokio::test]
async fn a_failed_user_record_reports_its_aggregate_once() {
    let users: Vec<serde_json::Value> = (0..6)
        .map(|i| serde_json::json!({"partition_key": "k", "json": patient(i)}))
        .collect();
    let event = kpl_event(3, users);
    // Items kpl-001 and kpl-002 (the first aggregate) never leave UnprocessedItems.
    let rule = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(|r| {
        let left = r.request_items().unwrap()["predictions"]
            .iter()
            .filter(|w| ["kpl-001", "kpl-002"].contains(&key_of(w).as_str()))
            .cloned()
            .collect();
        unprocessed(left)
    });
    let app = app(table_sink(dynamodb(&[&rule]), 2), DeadLetter::Log);
    let handled = handle(&app, &event.to_string(), &Deadline::none())
        .await
        .unwrap();
    let parent = sequence_number(&event, 0);
    assert_eq!(handled.response.failures(), vec![parent.as_str()]);
    let outcomes: Vec<(String, Outcome)> = handled
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.outcome))
        .collect();
    let second = sequence_number(&event, 1);
    assert_eq!(
        outcomes,
        [
            (format!("{parent}:0"), Outcome::Written),
            (format!("{parent}:1"), Outcome::Failed),
            (format!("{parent}:2"), Outcome::Failed),
            (format!("{second}:0"), Outcome::Written),
            (format!("{second}:1"), Outcome::Written),
            (format!("{second}:2"), Outcome::Written),
        ]
    );
}

/// `put --aggregate 4` packs kinesis-mixed.json's records into KPL aggregates in a local Kinesis
/// stream; `local-trigger --in-process` de-aggregates them: every good user record's prediction
/// is in the table under its own `<sequence number>:<sub-sequence number>`, every bad one is
/// dead-lettered, and nothing is retried.
#[tokio::test]
async fn put_aggregate_then_local_trigger_predicts_every_user_record() {
    let Some(aws) = local_aws("producers_put_aggregate").await else {
        return;
    };
    let stream = unique("kpl");
    aws_sdk_kinesis::Client::new(&aws)
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let table = create_table(&aws, "pk").await;
    let dlq = create_queue(&aws, false).await;

    let put = Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["put", "--stream", &stream, "--aggregate", "4"])
        .arg(root().join("events/kinesis-mixed.json"))
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&put.stdout).unwrap();
    // 13 records; the one without kinesis.data cannot be put. 12 user records in 3 aggregates.
    assert_eq!(summary["put"], 12, "{summary}");
    assert_eq!(summary["refused"], 1, "{summary}");
    assert_eq!(summary["kinesis_records"], 3, "{summary}");

    let run = Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["local-trigger", "--kinesis-stream", &stream, "--in-process"])
        .args(["--maximum-batching-window", "0", "--idle-exit", "1"])
        .env("SINK", "dynamodb")
        .env("OUTPUT_TABLE", &table)
        .env("DEAD_LETTER_QUEUE_URL", &dlq)
        .env_remove("MAX_DECOMPRESSED_BYTES")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["retries"], 0, "{report}");
    assert_eq!(report["on_failure"], 0, "{report}");
    assert_eq!(report["processed"], 3, "{report}");

    let items = scan(&aws, &table).await;
    let mut keys: Vec<String> = items
        .iter()
        .map(|item| item["pk"].as_s().unwrap().clone())
        .collect();
    keys.sort();
    assert_eq!(keys, ["p-ok-1", "p-ok-2"]);
    for item in &items {
        let id = item["sequence_number"].as_s().unwrap();
        let (parent, sub) = id.split_once(':').unwrap_or_else(|| panic!("{id}"));
        assert!(parent.chars().all(|c| c.is_ascii_digit()), "{id}");
        assert!(sub.parse::<u32>().unwrap() < 4, "{id}");
    }
    let dead = drain(&aws, &dlq).await;
    assert_eq!(
        dead.len() + keys.len(),
        12,
        "every user record put ended somewhere"
    );
    let mut ids: Vec<String> = dead
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            body["id"].as_str().unwrap().to_owned()
        })
        .chain(
            items
                .iter()
                .map(|i| i["sequence_number"].as_s().unwrap().clone()),
        )
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "one distinct id per user record: {ids:?}");
}
