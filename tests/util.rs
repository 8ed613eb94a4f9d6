//! Shared helpers: the project root, sample events, a capturing sink, the independent formula.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stream_infer::App;
use stream_infer::Config;
use stream_infer::ModelSource;
use stream_infer::model::Model;
use stream_infer::{JsonLinesSink, Sink};

/// The workspace root: the tests run from the tools package, one level down.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tools package sits inside the workspace")
        .to_owned()
}

/// A writer whose bytes the test can read back.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// An app whose JSON-lines sink writes into a buffer, on the embedded model, or on the model
/// file `MODEL_URI` names (a path from the project root, such as `model/classifier.json`).
pub fn capturing_app(vars: &[(&str, &str)]) -> (App, Buffer) {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config =
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    let model = match &config.model {
        ModelSource::Embedded => Model::embedded(),
        ModelSource::File(path) => Model::from_path(&root().join(path)).unwrap(),
        ModelSource::S3 { .. } => panic!("a capturing app reads a local model, not S3"),
    };
    let buffer = Buffer::default();
    let app = App::new(&config, model, None)
        .unwrap()
        .with_sink(Sink::Stdout(JsonLinesSink::new(Box::new(buffer.clone()))));
    (app, buffer)
}

/// The model's prediction computed straight from the artifact's JSON, without linfa or ndarray:
/// intercept + Σ coefficient · (x − mean) / scale.
pub fn formula(features: &serde_json::Map<String, serde_json::Value>) -> f64 {
    let text = std::fs::read_to_string(root().join("model/model.json")).unwrap();
    let artifact: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names = artifact["features"].as_array().unwrap();
    let mean = artifact["preprocessing"]["mean"].as_array().unwrap();
    let scale = artifact["preprocessing"]["scale"].as_array().unwrap();
    let model = &artifact["estimator"]["model"];
    let coef = model["params"]["data"].as_array().unwrap();
    let mut y = model["intercept"].as_f64().unwrap();
    for (i, name) in names.iter().enumerate() {
        let x = features[name.as_str().unwrap()].as_f64().unwrap();
        y += coef[i].as_f64().unwrap() * (x - mean[i].as_f64().unwrap())
            / scale[i].as_f64().unwrap();
    }
    y
}

/// The local AWS endpoint's configuration, from `AWS_ENDPOINT_URL` (scripts/test starts moto and
/// sets it). Without it the test is skipped with a message, unless `STREAM_INFER_REQUIRE_AWS` or
/// `CI` is set, where a missing endpoint fails the test instead of skipping it silently.
pub async fn local_aws(test: &str) -> Option<aws_config::SdkConfig> {
    let Some(endpoint) = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        let required = ["STREAM_INFER_REQUIRE_AWS", "CI"]
            .iter()
            .any(|v| std::env::var(v).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"));
        assert!(
            !required,
            "{test} needs a local AWS endpoint: run scripts/test, which starts moto and sets AWS_ENDPOINT_URL"
        );
        eprintln!(
            "SKIPPED {test}: AWS_ENDPOINT_URL is unset (scripts/test starts moto and sets it)"
        );
        return None;
    };
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "tests talk only to a local endpoint, not {endpoint}"
    );
    Some(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await,
    )
}

/// A name unique to this test run, for tables, queues and buckets.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), fastrand::u32(..))
}

/// A Kinesis event of `n` valid records with distinct ids, in memory.
pub fn kinesis_event(n: usize) -> String {
    use base64::Engine;
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let payload = serde_json::json!({
                "id": format!("gen-{i:06}"), "age": 20 + i % 60, "sex": 1 + i % 2,
                "bmi": 18.0 + (i % 200) as f64 / 10.0, "bp": 70 + i % 50, "s1": 120 + i % 150,
                "s2": 60.0 + (i % 140) as f64, "s3": 25 + i % 60, "s4": 2 + i % 6,
                "s5": 3.5 + (i % 30) as f64 / 10.0, "s6": 60 + i % 60,
            });
            serde_json::json!({
                "eventSource": "aws:kinesis",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/generated",
                "kinesis": {
                    "sequenceNumber": format!("{:056}", i),
                    "partitionKey": format!("gen-{i:06}"),
                    "data": base64::engine::general_purpose::STANDARD.encode(payload.to_string()),
                    "approximateArrivalTimestamp": 1795000000.0,
                }
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// Checks the ledger: every input record is in exactly one of written, dead-lettered, skipped
/// and reported, and reported is exactly what the response lists.
pub fn assert_ledger(handled: &stream_infer::Handled, input_ids: &[String]) {
    use stream_infer::Outcome;
    let ids: Vec<&str> = handled.entries.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<&str> = input_ids.iter().map(String::as_str).collect();
    assert_eq!(ids, expected, "one ledger entry per input record, in order");
    let reported: std::collections::BTreeSet<&str> =
        handled.response.failures().into_iter().collect();
    let failed: std::collections::BTreeSet<&str> = handled
        .entries
        .iter()
        .filter(|e| e.outcome == Outcome::Failed)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        reported, failed,
        "batchItemFailures lists exactly the failed records"
    );
    assert_eq!(
        handled.response.failures().len(),
        reported.len(),
        "no record reported twice"
    );
    let summary = handled.summary();
    assert_eq!(
        summary.predicted + summary.rejected + summary.skipped + summary.failed + summary.dropped,
        input_ids.len(),
        "the five outcomes cover the input"
    );
}

/// The ids (sequence numbers) of an event's records, in order.
pub fn input_ids(event: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(event).unwrap();
    value["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.pointer("/kinesis/sequenceNumber")
                .or_else(|| r.pointer("/dynamodb/SequenceNumber"))
                .and_then(|v| v.as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Creates an on-demand table keyed by the string attribute `key`, with a unique name.
pub async fn create_table(aws: &aws_config::SdkConfig, key: &str) -> String {
    let client = aws_sdk_dynamodb::Client::new(aws);
    let table = unique("predictions");
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    table
}

/// cargo-lambda from `CARGO_LAMBDA`, or the project's .venv (scripts/setup installs it).
pub fn cargo_lambda() -> Option<PathBuf> {
    std::env::var_os("CARGO_LAMBDA")
        .map(PathBuf::from)
        .or_else(|| Some(root().join(".venv/bin/cargo-lambda")))
        .filter(|p| p.exists())
}

/// Kills the watch process group (cargo-lambda and the function it runs) when dropped.
pub struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["--", &group]).status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cargo lambda watch` on 127.0.0.1 and a free port, running the Lambda binary with
/// `env` (`NAME=value`) plus the local AWS endpoint's settings; waits until it listens.
pub fn start_watch(env: Vec<String>) -> (Watch, u16) {
    start_watch_with_output(env, None)
}

/// [`start_watch`], with the function's stdout and stderr (its logs and metrics documents)
/// appended to the file at `output`.
pub fn start_watch_logged(env: Vec<String>, output: &std::path::Path) -> (Watch, u16) {
    let file = std::fs::File::create(output).unwrap();
    start_watch_with_output(env, Some(file))
}

fn start_watch_with_output(mut env: Vec<String>, output: Option<std::fs::File>) -> (Watch, u16) {
    let cargo_lambda = cargo_lambda().expect("cargo-lambda is missing: run scripts/setup");
    let port = free_port();
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ] {
        env.push(format!("{var}={}", std::env::var(var).unwrap_or_default()));
    }
    let mut command = Command::new(&cargo_lambda);
    command
        .args([
            "lambda",
            "watch",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--bin",
            "stream-infer-lambda",
            // Build once: a rebuild on every edit in a shared checkout can outlast the test.
            "--ignore-changes",
        ])
        .args(["--env-var", &env.join(",")])
        .current_dir(root())
        .stdout(match &output {
            Some(file) => Stdio::from(file.try_clone().unwrap()),
            None => Stdio::null(),
        })
        .stderr(output.map_or_else(Stdio::null, Stdio::from));
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let watch = Watch(command.spawn().unwrap());
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "cargo lambda watch did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (watch, port)
}
