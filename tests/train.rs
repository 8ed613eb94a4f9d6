//! `stream-infer train` for format_version 2 models, end to end: a CSV with numbers, categories,
//! text and empty cells in, a logistic model out, and that model serving a Kinesis event through
//! `stream-infer invoke` with labels, probabilities and imputed fields.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::{Value, json};

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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// 200 support tickets: churners are older, on the basic plan, spend less and write about
/// cancelling; a few cells are empty.
fn tickets_csv(path: &Path) {
    let churn_words = ["cancel", "refund", "expensive", "slow"];
    let stay_words = ["love", "great", "fast", "thanks"];
    let mut csv = String::from("age,plan,spend,note,label\n");
    for i in 0..200_usize {
        let churn = i % 3 == 0 || i % 7 == 0;
        let jitter = ((i * 37) % 11) as f64;
        let (age, spend) = if churn {
            (50.0 + jitter, 20.0 + jitter)
        } else {
            (35.0 + jitter, 45.0 + jitter)
        };
        let plan = match (churn, i % 4) {
            (true, 0..=2) | (false, 3) => "basic",
            (false, 0) => "enterprise",
            _ => "pro",
        };
        let words = if churn { churn_words } else { stay_words };
        let note = format!("the {} app {}", words[i % 4], words[(i / 4) % 4]);
        let age = if i % 17 == 5 {
            String::new()
        } else {
            age.to_string()
        };
        let plan = if i % 19 == 7 { "" } else { plan };
        let label = if churn { "churn" } else { "stay" };
        csv.push_str(&format!("{age},{plan},{spend},{note},{label}\n"));
    }
    std::fs::write(path, csv).unwrap();
}

/// A Kinesis event with one record per payload.
fn kinesis_event(path: &Path, payloads: &[Value]) {
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let data = base64::engine::general_purpose::STANDARD.encode(payload.to_string());
            let sequence = format!("{}", 49_590_000 + i);
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": format!("ticket-{i}"),
                    "sequenceNumber": sequence,
                    "data": data,
                    "approximateArrivalTimestamp": 1795000000.0
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-infer",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/tickets"
            })
        })
        .collect();
    std::fs::write(path, json!({ "Records": records }).to_string()).unwrap();
}

#[test]
fn a_trained_classifier_serves_labels_probabilities_and_imputed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("tickets.csv");
    tickets_csv(&csv);
    let model = dir.path().join("tickets.json");
    let out = stream_infer(
        &[
            "train",
            "--csv",
            csv.to_str().unwrap(),
            "--target",
            "label",
            "--family",
            "logistic",
            "--categorical",
            "plan",
            "--text",
            "note",
            "--impute",
            "median",
            "--standardize",
            "--out",
            model.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for line in [
        "kind     logistic, binary: classes churn, stay",
        "inputs   age (number), plan (category), spend (number), note (text)",
        "split    160 training rows, 40 held out (every 5th row)",
        "imputed  age: ",
        "imputed  plan: ",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
    let held_out = stdout
        .lines()
        .find(|l| l.starts_with("held-out"))
        .unwrap_or_default();
    assert!(
        held_out.contains("accuracy")
            && held_out.contains("log loss")
            && held_out.contains("ROC AUC"),
        "{stdout}"
    );

    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(artifact["format_version"], 2);
    assert_eq!(artifact["estimator"]["classes"], json!(["churn", "stay"]));
    assert_eq!(artifact["provenance"]["kind"], "trained");
    for split in ["train", "holdout"] {
        for metric in ["accuracy", "log_loss", "roc_auc"] {
            assert!(
                artifact["metrics"][split][metric].is_f64(),
                "{split} {metric}"
            );
        }
    }
    let holdout_accuracy = artifact["metrics"]["holdout"]["accuracy"].as_f64().unwrap();
    assert!(
        holdout_accuracy > 0.9,
        "held-out accuracy {holdout_accuracy}"
    );

    let event = dir.path().join("event.json");
    kinesis_event(
        &event,
        &[
            json!({"id": "t1", "age": 58, "plan": "basic", "spend": 21.5, "note": "Cancel: too SLOW and expensive"}),
            json!({"id": "t2", "age": 33, "plan": "enterprise", "spend": 60, "note": "love it, thanks"}),
            json!({"id": "t3", "plan": "platinum", "spend": 50, "note": "great"}),
            json!({"id": "t4", "age": 40, "plan": "pro", "spend": 40}),
        ],
    );
    let model_uri = model.to_str().unwrap();
    let out = stream_infer(
        &["invoke", event.to_str().unwrap()],
        &[("MODEL_URI", model_uri)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let by_key = |key: &str| {
        lines
            .iter()
            .find(|l| l["key"] == key)
            .unwrap_or_else(|| panic!("no prediction for {key}: {lines:?}"))
    };
    let t1 = by_key("t1");
    assert_eq!(t1["prediction"], "churn");
    let p = &t1["probabilities"];
    let (churn, stay) = (p["churn"].as_f64().unwrap(), p["stay"].as_f64().unwrap());
    assert!(churn > 0.5 && (churn + stay - 1.0).abs() < 1e-12, "{p}");
    assert_eq!(by_key("t2")["prediction"], "stay");
    // A missing number is imputed; an unseen category encodes as all zeros.
    let t3 = by_key("t3");
    assert_eq!(t3["imputed"], json!(["age"]));
    assert!(t3["prediction"].is_string());
    // Text is never imputed: a record without it is dead-lettered, not predicted.
    assert!(lines.iter().all(|l| l["key"] != "t4"));
    assert!(text(&out.stderr).contains("input `note` is missing"));
    assert_eq!(lines.last().unwrap()["batchItemFailures"], json!([]));
}

#[test]
fn holdout_zero_fits_every_row_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("diabetes.json");
    let out = stream_infer(
        &[
            "train",
            "--csv",
            "data/diabetes.csv",
            "--target",
            "progression",
            "--holdout",
            "0",
            "--out",
            model.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("split    442 training rows, 0 held out (--holdout 0)"),
        "{stdout}"
    );
    assert!(stdout.contains("held-out none"), "{stdout}");
    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(artifact["format_version"], 2);
    assert_eq!(artifact["estimator"]["kind"], "linear_regression");
    assert!(artifact["metrics"].get("holdout").is_none());
    // It serves the bundled diabetes event.
    let out = stream_infer(
        &[
            "invoke",
            "events/kinesis.json",
            "--model",
            model.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"prediction\":"));
}

#[test]
fn bad_training_data_and_options_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let one_class = dir.path().join("one.csv");
    std::fs::write(&one_class, "a,y\n1,x\n2,x\n3,x\n4,x\n5,x\n").unwrap();
    let no_words = dir.path().join("digits.csv");
    std::fs::write(&no_words, "a,y\n1,x\n2,z\n3,x\n4,z\n5,x\n").unwrap();
    let out_path = dir.path().join("m.json");
    let run = |csv: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--csv",
            csv.to_str().unwrap(),
            "--target",
            "y",
            "--out",
            out_path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = stream_infer(&args, &[]);
        assert!(!out.status.success());
        text(&out.stderr)
    };
    let err = run(&one_class, &["--family", "logistic"]);
    assert!(
        err.contains("label column \"y\" has one class (x) in its 4 training rows"),
        "{err}"
    );
    // One-digit cells hold no word of two or more characters.
    let err = run(&no_words, &["--family", "logistic", "--text", "a"]);
    assert!(err.contains("text column \"a\" has no words"), "{err}");
    let err = run(&no_words, &["--holdout", "1.5"]);
    assert!(err.contains("is not a fraction in [0, 1)"), "{err}");
    let err = run(&no_words, &["--family", "ols", "--alpha", "1"]);
    assert!(err.contains("ols has none"), "{err}");
    assert!(
        !out_path.exists(),
        "nothing is written for a refused request"
    );
}
