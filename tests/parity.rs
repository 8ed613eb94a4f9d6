//! scikit-learn parity: every supported estimator and pipeline, fitted by the pinned
//! scikit-learn, imported with `stream-infer import` and run with `stream-infer invoke`, must
//! predict what scikit-learn predicts on rows it did not see, within 1e-9 relative error.
//!
//! The cases (models, events and scikit-learn's answers) are made fresh by
//! tools/python/parity_cases.py in the project's .venv (scripts/setup installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::root;

fn python() -> PathBuf {
    let python = root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup (the parity tests need the pinned scikit-learn)",
        python.display()
    );
    python
}

fn close(got: f64, want: f64) -> bool {
    let diff = (got - want).abs();
    diff <= 1e-9 * got.abs().max(want.abs()) || diff < 1e-15
}

fn stream_infer(args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stream-infer"));
    command
        .args(args)
        .env("STREAM_INFER_PYTHON", python())
        .env_remove("MODEL_URI")
        .env_remove("SINK")
        .env_remove("FEATURES_FIELD")
        .env_remove("ID_FIELD")
        .env_remove("DEAD_LETTER_QUEUE_URL");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// Compares one invoke's prediction lines with scikit-learn's answers; returns how many matched.
fn compare(case: &str, event: &str, stdout: &str, expected: &Value) -> usize {
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (response, predictions) = lines.split_last().expect("invoke printed its response");
    assert_eq!(
        response["batchItemFailures"].as_array().map(Vec::len),
        Some(0),
        "{case} {event}"
    );
    let records = expected["records"].as_array().unwrap();
    assert_eq!(
        predictions.len(),
        records.len(),
        "{case} {event}: every record is predicted"
    );
    for (got, want) in predictions.iter().zip(records) {
        assert_eq!(got["key"], want["id"], "{case} {event}: order");
        let (g, w) = (&got["prediction"], &want["prediction"]);
        match (g.as_f64(), w.as_f64(), expected["kind"].as_str()) {
            (Some(g), Some(w), Some("regressor")) => {
                assert!(close(g, w), "{case} {event} {}: {g} vs {w}", want["id"]);
            }
            _ => assert_eq!(g, w, "{case} {event} {}: label", want["id"]),
        }
        match want["probabilities"].as_object() {
            None => assert!(
                got.get("probabilities").is_none(),
                "{case}: no probabilities"
            ),
            Some(want_p) => {
                let got_p = got["probabilities"].as_object().expect("probabilities");
                assert_eq!(got_p.len(), want_p.len(), "{case}");
                for (class, p) in want_p {
                    let (g, w) = (got_p[class].as_f64().unwrap(), p.as_f64().unwrap());
                    assert!(
                        close(g, w),
                        "{case} {event} {} p({class}): {g} vs {w}",
                        want["id"]
                    );
                }
            }
        }
    }
    predictions.len()
}

#[test]
fn imported_models_predict_what_scikit_learn_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(python())
        .arg(root().join("tools/python/parity_cases.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "parity_cases.py failed:\n{}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("import.json").exists())
        .collect();
    cases.sort();
    // The required cases are all among them.
    for required in [
        "diabetes_ols",
        "breast_cancer_logistic",
        "iris_multinomial",
        "column_transformer",
        "text_tfidf",
        "text_hashing",
    ] {
        assert!(
            cases.iter().any(|c| c.ends_with(required)),
            "missing case {required}"
        );
    }
    let mut checked = 0;
    for case_dir in &cases {
        let case = case_dir.file_name().unwrap().to_string_lossy().into_owned();
        let import: Value =
            serde_json::from_str(&std::fs::read_to_string(case_dir.join("import.json")).unwrap())
                .unwrap();
        let artifact = case_dir.join("stream-infer.json");
        let mut args = vec![
            "import".to_owned(),
            case_dir.join("model.joblib").display().to_string(),
            "--out".to_owned(),
            artifact.display().to_string(),
        ];
        args.extend(
            import["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned()),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = stream_infer(&args, &[]);
        assert!(
            out.status.success(),
            "{case}: import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(case_dir.join("expected.json")).unwrap())
                .unwrap();
        for event in ["event.json", "event-dynamodb.json"] {
            let path = case_dir.join(event);
            if !path.exists() {
                continue;
            }
            let out = stream_infer(
                &["invoke", &path.display().to_string()],
                &[("MODEL_URI", &artifact)],
            );
            assert!(
                out.status.success(),
                "{case} {event}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            checked += compare(
                &case,
                event,
                &String::from_utf8_lossy(&out.stdout),
                &expected,
            );
        }
    }
    assert!(checked > 200, "only {checked} predictions compared");
}

#[test]
fn import_refuses_what_it_cannot_serve_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("gb.joblib");
    let script = format!(
        "import joblib\nfrom sklearn.datasets import load_iris\nfrom sklearn.ensemble import GradientBoostingClassifier\nX, y = load_iris(return_X_y=True)\njoblib.dump(GradientBoostingClassifier(n_estimators=3).fit(X, y), {:?})\n",
        model.display().to_string()
    );
    let made = Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = stream_infer(
        &[
            "import",
            &model.display().to_string(),
            "--name",
            "gb",
            "--out",
            &dir.path().join("gb.json").display().to_string(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GradientBoostingClassifier is not supported"),
        "{stderr}"
    );
    assert!(stderr.contains("supported estimators"), "{stderr}");
    assert!(!dir.path().join("gb.json").exists());
}
