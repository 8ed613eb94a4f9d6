//! Every sample event in events/ gives the outcomes events/expected/ lists, record by record.
//!
//! An expectation file's `config` is the event's environment. With no `MODEL_URI` the event runs
//! on the embedded diabetes model and each prediction is checked against the linear formula;
//! with one (a path from the project root, such as `model/classifier.json`) it runs on that
//! bundled sample model and each prediction is checked against the label, probabilities and
//! imputed inputs scikit-learn gave when `models/make_samples.py` wrote the file.

use stream_infer::Deadline;
use stream_infer::{Outcome, Reason, handle};

use crate::util::{capturing_app, formula, root};

/// A sample model's line against scikit-learn's answer: the label (or value), every class's
/// probability within 1e-9, and the imputed inputs.
fn assert_as_sklearn(written: &serde_json::Value, want: &serde_json::Value, context: &str) {
    match &want["prediction"] {
        serde_json::Value::Number(expected) => {
            let (got, expected) = (
                written["prediction"].as_f64().unwrap(),
                expected.as_f64().unwrap(),
            );
            assert!(
                (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{context}: predicted {got}, scikit-learn {expected}"
            );
        }
        label => assert_eq!(&written["prediction"], label, "{context}: label"),
    }
    match want["probabilities"].as_object() {
        None => assert!(written.get("probabilities").is_none(), "{context}"),
        Some(expected) => {
            let got = written["probabilities"].as_object().unwrap();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{context}: classes"
            );
            for (class, p) in expected {
                let (got, p) = (got[class].as_f64().unwrap(), p.as_f64().unwrap());
                assert!(
                    (got - p).abs() <= 1e-9,
                    "{context}: P({class}) = {got}, scikit-learn {p}"
                );
            }
        }
    }
    let none = serde_json::json!([]);
    assert_eq!(
        written.get("imputed").unwrap_or(&none),
        want.get("imputed").unwrap_or(&none),
        "{context}: imputed inputs"
    );
}

#[tokio::test]
async fn every_sample_event_gives_its_documented_outcomes() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "events/ should hold the sample events, found {files:?}"
    );
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected_path = root().join("events/expected").join(&name);
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
                panic!("{name} has no expectations at {}", expected_path.display())
            }),
        )
        .unwrap();
        let vars: Vec<(String, String)> = expected["config"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (app, buffer) = capturing_app(&vars);
        let model = app.model();

        let event = std::fs::read_to_string(&path).unwrap();
        let handled = handle(&app, &event, &Deadline::none()).await.unwrap();
        let records = expected["records"].as_array().unwrap();
        assert_eq!(
            handled.entries.len(),
            records.len(),
            "{name}: one entry per record"
        );
        assert!(
            handled.response.failures().is_empty(),
            "{name}: nothing fails on stdout"
        );

        let lines = buffer.lines();
        let mut line = lines.iter();
        for (entry, want) in handled.entries.iter().zip(records) {
            assert_eq!(entry.id, want["id"].as_str().unwrap(), "{name}");
            match want["outcome"].as_str().unwrap() {
                "predicted" => {
                    assert_eq!(entry.outcome, Outcome::Written, "{name} {}", entry.id);
                    let written = line.next().expect("a prediction line per written record");
                    assert_eq!(written["id"], want["id"], "{name}");
                    assert_eq!(written["key"], want["key"], "{name}");
                    assert_eq!(written["model"]["name"], model.name(), "{name}");
                    assert_eq!(written["model"]["version"], model.version(), "{name}");
                    if let Some(features) = want.get("features") {
                        let expected = formula(features.as_object().unwrap());
                        let got = written["prediction"].as_f64().unwrap();
                        assert!(
                            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                            "{name} {}: predicted {got}, formula gives {expected}",
                            entry.id
                        );
                    } else {
                        assert_as_sklearn(written, want, &format!("{name} {}", entry.id));
                    }
                }
                "rejected" => {
                    assert_eq!(entry.outcome, Outcome::DeadLettered, "{name} {}", entry.id);
                    assert_eq!(
                        entry.reason.map(Reason::as_str),
                        want["reason"].as_str(),
                        "{name} {}",
                        entry.id
                    );
                }
                "skipped" => assert_eq!(entry.outcome, Outcome::Skipped, "{name} {}", entry.id),
                other => panic!("{name}: unknown expected outcome {other}"),
            }
        }
        assert!(line.next().is_none(), "{name}: no extra prediction lines");
    }
}

#[tokio::test]
async fn the_sample_events_are_real_aws_event_shapes() {
    // The typed aws_lambda_events structs are strict; the good samples must satisfy them.
    let read = |file: &str| std::fs::read_to_string(root().join("events").join(file)).unwrap();
    for (file, records) in [
        ("kinesis.json", 100),
        ("kinesis-classifier.json", 14),
        ("kinesis-text.json", 14),
    ] {
        let typed: aws_lambda_events::event::kinesis::KinesisEvent =
            serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(typed.records.len(), records, "{file}");
    }
    for (file, records) in [("dynamodb.json", 20), ("dynamodb-categorical.json", 16)] {
        let typed: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(typed.records.len(), records, "{file}");
    }
}
