//! What an operator sees. The EMF metrics through the real Runtime API: `cargo lambda watch` runs the Lambda binary,
//! every sample event is invoked, and each invocation's metrics document, read from the
//! function's own output, must follow the EMF specification's structure and count exactly what
//! the event's ledger says.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::util::{cargo_lambda, root, start_watch_logged, unique};

/// The EMF structure: `_aws.Timestamp`, one directive with a namespace, dimension sets whose
/// every name is a string member, and every named metric present as a number.
fn check_emf(doc: &Value) {
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].is_u64(), "Timestamp: {doc}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty());
    for directive in directives {
        assert!(directive["Namespace"].is_string(), "{directive}");
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            let set = set.as_array().unwrap();
            assert!(!set.is_empty() && set.len() <= 30);
            for name in set {
                let name = name.as_str().unwrap();
                assert!(doc[name].is_string(), "dimension {name} in {doc}");
            }
        }
        let metrics = directive["Metrics"].as_array().expect("metrics");
        assert!(metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "metric {name} in {doc}");
        }
    }
}

/// The counts the golden expectation gives for one event: outcome -> count, and reason -> count.
fn expected_counts(name: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/expected").join(name)).unwrap(),
    )
    .unwrap();
    let (mut outcomes, mut reasons) = (BTreeMap::new(), BTreeMap::new());
    for record in expected["records"].as_array().unwrap() {
        let outcome = record["outcome"].as_str().unwrap().to_owned();
        *outcomes.entry(outcome).or_default() += 1;
        if let Some(reason) = record["reason"].as_str() {
            *reasons.entry(format!("Rejected.{reason}")).or_default() += 1;
        }
    }
    (outcomes, reasons)
}

#[test]
fn every_invocation_emits_emf_that_equals_its_ledger() {
    let cargo_lambda = cargo_lambda().expect("cargo-lambda is missing: run scripts/setup");
    let output = std::env::temp_dir().join(format!("{}.log", unique("emf")));
    let namespace = unique("Ns");
    let env = vec![
        format!("METRICS_NAMESPACE={namespace}"),
        // Lambda's JSON log format, as the template configures it.
        "AWS_LAMBDA_LOG_FORMAT=JSON".to_owned(),
    ];
    let (watch, port) = start_watch_logged(env, &output);

    // The samples this function serves as they are: the embedded model, no configuration.
    let mut files: Vec<PathBuf> = ["kinesis.json", "kinesis-mixed.json", "dynamodb-mixed.json"]
        .iter()
        .map(|name| root().join("events").join(name))
        .collect();
    files.push(files[0].clone());
    for file in &files {
        let status = Command::new(&cargo_lambda)
            .args(["lambda", "invoke", "stream-infer-lambda", "-A", "127.0.0.1"])
            .args(["-P", &port.to_string(), "-o", "json", "--data-file"])
            .arg(file)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    drop(watch);

    let text = std::fs::read_to_string(&output).unwrap();
    let docs: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|doc| doc.get("_aws").is_some())
        .collect();
    assert_eq!(
        docs.len(),
        files.len(),
        "one document per invocation:\n{text}"
    );

    for (i, (doc, file)) in docs.iter().zip(&files).enumerate() {
        check_emf(doc);
        let name = file.file_name().unwrap().to_str().unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], namespace.as_str());
        // cargo lambda watch names the function after its binary, as Lambda sets
        // AWS_LAMBDA_FUNCTION_NAME to the function's name.
        assert_eq!(doc["FunctionName"], "stream-infer-lambda");
        let source = if name.starts_with("dynamodb") {
            "dynamodb"
        } else {
            "kinesis"
        };
        assert_eq!(doc["Source"], source);

        let (outcomes, reasons) = expected_counts(name);
        let n = |metric: &str| doc[metric].as_u64().unwrap_or_else(|| panic!("{metric}"));
        let want = |outcome: &str| outcomes.get(outcome).copied().unwrap_or(0);
        let records: u64 = outcomes.values().sum();
        assert_eq!(n("Records"), records, "{name}");
        assert_eq!(n("BatchSize"), records, "{name}");
        assert_eq!(n("Predicted"), want("predicted"), "{name}");
        assert_eq!(n("Rejected"), want("rejected"), "{name}");
        assert_eq!(n("DeadLettered"), want("rejected"), "{name}");
        assert_eq!(n("Skipped"), want("skipped"), "{name}");
        assert_eq!(n("Failed"), 0, "{name}");
        for (metric, count) in &reasons {
            assert_eq!(n(metric), *count, "{name}: {metric}");
        }
        let emitted_reasons = doc
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("Rejected."))
            .count();
        assert_eq!(emitted_reasons, reasons.len(), "{name}");

        // The first invocation of the process is the cold one, and only it loads the model.
        assert_eq!(n("ColdStart"), u64::from(i == 0), "{name}");
        assert_eq!(doc.get("ModelLoadMs").is_some(), i == 0, "{name}");
        assert!(doc["HandlerMs"].as_f64().unwrap() > 0.0);
        assert!(doc["ModelVersion"].is_string());
    }

    // Every handler log line carries the request id (the runtime's span) and the invocation's
    // cold_start, model and version (our span).
    let done: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|line| line["fields"]["message"] == "batch done")
        .collect();
    assert_eq!(
        done.len(),
        files.len(),
        "one `batch done` line per invocation:\n{text}"
    );
    for (i, line) in done.iter().enumerate() {
        let spans = line["spans"].as_array().expect("the line lists its spans");
        let field = |name: &str| spans.iter().find_map(|span| span.get(name)).cloned();
        assert!(
            field("requestId").is_some_and(|id| id.is_string()),
            "{line}"
        );
        assert_eq!(field("cold_start"), Some(Value::Bool(i == 0)), "{line}");
        assert_eq!(field("model"), Some(Value::from("diabetes")), "{line}");
        assert!(field("model_version").is_some(), "{line}");
        assert_eq!(line["level"], "INFO");
    }
    let _ = std::fs::remove_file(&output);
}

/// A sink whose table does not exist: every record is reported for retry, and the reason is
/// one WARN line naming the service's error code and the table, not one line per record.
#[tokio::test]
async fn a_missing_table_is_one_warn_line_naming_the_error_and_the_table() {
    let Some(_aws) = crate::util::local_aws("missing table").await else {
        return;
    };
    let table = unique("no-such-table");
    let output = Command::new(env!("CARGO_BIN_EXE_stream-infer"))
        .args(["invoke", "events/kinesis.json"])
        .current_dir(root())
        .env_remove("MODEL_URI")
        .envs([
            ("SINK", "dynamodb"),
            ("OUTPUT_TABLE", table.as_str()),
            ("SINK_MAX_ATTEMPTS", "2"),
            ("SINK_BASE_DELAY_MS", "1"),
            ("RUST_LOG", "warn"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ResourceNotFoundException"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for the whole batch:\n{stderr}");
    let line: Value = serde_json::from_str(lines[0]).expect("the CLI logs JSON lines");
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["error_code"], "ResourceNotFoundException", "{line}");
    assert_eq!(
        line["destination"],
        format!("dynamodb table {table}"),
        "{line}"
    );
    assert_eq!(line["records"], 100, "{line}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("batchItemFailures") && stdout.matches("itemIdentifier").count() == 100,
        "every record is reported for retry:\n{stdout}"
    );
}
