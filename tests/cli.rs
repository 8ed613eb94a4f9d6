//! `stream-infer` as a user runs it: the binary, its output streams and its exit status.

use std::process::{Command, Output};

use crate::util::root;

fn stream_infer(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stream-infer"));
    command.args(args).current_dir(root());
    for var in [
        "MODEL_URI",
        "SINK",
        "FEATURES_FIELD",
        "ID_FIELD",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    command.output().unwrap()
}

fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[test]
fn invoke_prints_predictions_then_the_lambda_response() {
    let out = stream_infer(&["invoke", "events/kinesis-mixed.json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = json_lines(&out.stdout);
    let (response, predictions) = stdout.split_last().unwrap();
    assert_eq!(response, &serde_json::json!({"batchItemFailures": []}));
    assert_eq!(predictions.len(), 2);
    for p in predictions {
        assert_eq!(p["source"], "kinesis");
        assert_eq!(p["model"]["name"], "diabetes");
        assert!(
            p["model"]["version"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(p["prediction"].as_f64().unwrap().is_finite());
    }
    assert_eq!(predictions[0]["key"], "p-ok-1");

    let stderr = json_lines(&out.stderr);
    let (summary, rejections) = stderr.split_last().unwrap();
    assert_eq!(
        summary,
        &serde_json::json!({"summary": {"in": 13, "predicted": 2, "rejected": 11, "skipped": 0, "failed": 0, "dropped": 0}})
    );
    assert_eq!(rejections.len(), 11);
    let not_base64 = &rejections[0];
    assert_eq!(not_base64["level"], "WARN");
    assert_eq!(not_base64["reason"], "not_base64");
    assert_eq!(
        not_base64["id"],
        "4959100000000000000000000000000000000000000000000007919"
    );
    assert!(
        not_base64["message"]
            .as_str()
            .unwrap()
            .contains("not valid base64")
    );
}

#[test]
fn invoke_reads_dynamodb_and_counts_skipped_removes() {
    let out = stream_infer(&["invoke", "events/dynamodb-mixed.json"], &[]);
    assert!(out.status.success());
    let stderr = json_lines(&out.stderr);
    assert_eq!(
        stderr.last().unwrap()["summary"],
        serde_json::json!({"in": 12, "predicted": 2, "rejected": 9, "skipped": 1, "failed": 0, "dropped": 0})
    );
    let stdout = json_lines(&out.stdout);
    assert_eq!(stdout[0]["source"], "dynamodb");
    assert_eq!(stdout[0]["key"], "d-ok-1");
}

#[test]
fn invoke_honours_features_field() {
    let out = stream_infer(
        &["invoke", "events/kinesis-nested.json"],
        &[("FEATURES_FIELD", "features")],
    );
    assert!(out.status.success());
    assert_eq!(
        json_lines(&out.stdout).len(),
        3,
        "two predictions and the response"
    );
}

#[test]
fn invoke_fails_clearly_when_the_event_or_model_cannot_be_read() {
    let out = stream_infer(&["invoke", "events/absent.json"], &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read event file events/absent.json")
    );

    let out = stream_infer(&["invoke", "Cargo.toml"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("event is not a stream event"));

    let out = stream_infer(
        &[
            "invoke",
            "events/kinesis.json",
            "--model",
            "events/kinesis.json",
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model events/kinesis.json is not valid model JSON"),
        "{stderr}"
    );

    let out = stream_infer(&["invoke", "events/kinesis.json"], &[("SINK", "kafka")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SINK=\"kafka\" is not allowed"));
}

#[test]
fn retraining_the_bundled_model_gives_the_same_coefficients() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("model.json");
    let out = stream_infer(
        &[
            "train",
            "--csv",
            "data/diabetes.csv",
            "--target",
            "progression",
            "--standardize",
            "--name",
            "diabetes",
            "--out",
            out_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("held-out R2"), "{stdout}");

    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let fresh = read(&out_path);
    let committed = read(&root().join("model/model.json"));
    for part in [
        "features",
        "target",
        "preprocessing",
        "estimator",
        "version",
    ] {
        assert_eq!(
            fresh[part], committed[part],
            "retrained {part} differs from model/model.json"
        );
    }
    // The trained model also serves: invoke with it predicts like the embedded one.
    let a = stream_infer(
        &[
            "invoke",
            "events/kinesis.json",
            "--model",
            out_path.to_str().unwrap(),
        ],
        &[],
    );
    let b = stream_infer(&["invoke", "events/kinesis.json"], &[]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn invoke_metrics_prints_the_emf_document_on_stderr_and_leaves_stdout_alone() {
    let plain = stream_infer(&["invoke", "events/kinesis-mixed.json"], &[]);
    let out = stream_infer(
        &["invoke", "--metrics", "events/kinesis-mixed.json"],
        &[("METRICS_NAMESPACE", "CliTest")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout, plain.stdout,
        "stdout stays predictions and the response"
    );
    let stderr = json_lines(&out.stderr);
    let (document, rest) = stderr.split_last().unwrap();
    let summary = &rest.last().unwrap()["summary"];
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "CliTest");
    assert_eq!(document["Records"], summary["in"]);
    assert_eq!(document["Predicted"], summary["predicted"]);
    assert_eq!(document["Rejected"], summary["rejected"]);
    assert_eq!(document["Rejected.not_base64"], 1);
    assert_eq!(document["ColdStart"], 1);
    assert!(document["ModelLoadMs"].is_number());

    let off = stream_infer(
        &["invoke", "--metrics", "events/kinesis.json"],
        &[("METRICS", "off")],
    );
    assert!(!off.status.success());
    assert!(String::from_utf8_lossy(&off.stderr).contains("METRICS=off"));
}
