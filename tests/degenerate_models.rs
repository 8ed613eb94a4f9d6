//! Degenerate models as a user meets them: `stream-infer invoke --model` refuses each at start,
//! exits non-zero, and logs the init error code that the Lambda would report.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use stream_infer::model::{Artifact, EMBEDDED, schema, typed_content_hash};

use crate::util::root;

fn invoke(model: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stream-infer"));
    command
        .args(["invoke", "events/kinesis.json", "--model"])
        .arg(model)
        .current_dir(root());
    for var in [
        "MODEL_URI",
        "SINK",
        "FEATURES_FIELD",
        "ID_FIELD",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.output().unwrap()
}

/// The `error_type` of the logged init failure, if stderr has one.
fn error_type(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|line| Some(line.get("error_type")?.as_str()?.to_owned()))
}

/// The embedded model with `edit` applied to its JSON, re-versioned so the checksum passes:
/// only the degenerate part can refuse it.
fn linear(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(EMBEDDED).unwrap();
    edit(&mut doc);
    let mut artifact: Artifact = serde_json::from_value(doc).unwrap();
    artifact.version = artifact.content_hash();
    artifact.to_json()
}

/// The bundled classifier with `edit` applied, re-versioned.
fn typed(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let text = std::fs::read_to_string(root().join("model/classifier.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut doc);
    let mut artifact: schema::Artifact = serde_json::from_value(doc).unwrap();
    artifact.version = Some(typed_content_hash(&artifact));
    serde_json::to_string_pretty(&artifact).unwrap()
}

#[test]
fn invoke_refuses_degenerate_models_with_their_init_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let ten = |v: f64| json!({"v": 1, "dim": [10], "data": vec![v; 10]});
    let cases = [
        (
            "zero_scale",
            linear(|d| d["preprocessing"]["scale"][3] = json!(0.0)),
            "ModelScaleZero",
            "preprocessing.scale[3] (feature `bp`) is zero",
        ),
        (
            "duplicate_feature",
            linear(|d| d["features"][4] = json!("bmi")),
            "ModelDuplicateFeature",
            "feature `bmi` is listed twice, at features[2] and features[4]",
        ),
        (
            "zero_features",
            linear(|d| {
                d["features"] = json!([]);
                d["preprocessing"] = json!({"kind": "none"});
                d["estimator"]["model"]["params"] = json!({"v": 1, "dim": [0], "data": []});
            }),
            "ModelZeroFeatures",
            "lists no features",
        ),
        (
            "poisson_identity",
            linear(|d| {
                d["estimator"] = json!({
                    "kind": "tweedie", "family": "poisson", "power": 1.0, "alpha": 0.0,
                    "model": {"coef": ten(0.01), "intercept": 1.0, "link": "Identity"},
                });
            }),
            "ModelGlmLink",
            "estimator.model.link is \"Identity\", which a poisson GLM cannot use",
        ),
        (
            "infinite_intercept",
            EMBEDDED.replacen(
                "\"intercept\": 151.88700564971768",
                "\"intercept\": 1e999",
                1,
            ),
            "ModelNonFinite",
            "too large for a 64-bit float",
        ),
        (
            "duplicate_class",
            typed(|d| d["estimator"]["classes"] = json!(["benign", "benign"])),
            "ModelDuplicateLabel",
            "class benign is listed twice",
        ),
    ];
    for (name, text, code, message) in cases {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        let out = invoke(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was served:\n{stderr}");
        assert!(out.stdout.is_empty(), "{name} printed predictions");
        assert_eq!(
            error_type(&stderr).as_deref(),
            Some(code),
            "{name}:\n{stderr}"
        );
        assert!(
            stderr.contains(message),
            "{name}: no `{message}` in\n{stderr}"
        );
        assert!(
            stderr.contains(&path.display().to_string()),
            "{name}: {stderr}"
        );
    }

    // The same files, unedited, serve: the refusals above come from the edits alone.
    for (name, text) in [
        ("sound_linear", linear(|_| {})),
        ("sound_typed", typed(|_| {})),
    ] {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        let out = invoke(&path);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
