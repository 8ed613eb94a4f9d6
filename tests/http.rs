//! The HTTP door over real HTTP: `cargo lambda watch` runs the Lambda binary with `DOOR=http`
//! and serves it as a Function URL at `/lambda-url/stream-infer-lambda/…` on 127.0.0.1; the
//! test sends requests there and checks status codes, headers and bodies. One watch process
//! serves every request (the classifier model, so that labels and probabilities show).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use stream_infer::model::Model;

use crate::util::{root, start_watch};

/// The instances of `events/kinesis-classifier.json`, and what the stream predicted for each
/// (`events/expected/kinesis-classifier.json`): the HTTP door must answer the same.
fn classifier_cases() -> Vec<(Value, Value)> {
    use base64::Engine;
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/kinesis-classifier.json")).unwrap(),
    )
    .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/expected/kinesis-classifier.json")).unwrap(),
    )
    .unwrap();
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["records"].as_array().unwrap())
        .filter(|(_, want)| want["outcome"] == "predicted")
        .map(|(record, want)| {
            let data = record["kinesis"]["data"].as_str().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            let instance: Value = serde_json::from_slice(&bytes).unwrap();
            let answer = json!({
                "key": want["key"],
                "prediction": want["prediction"],
                "probabilities": want["probabilities"],
            });
            (instance, answer)
        })
        .collect()
}

/// An answer equal to the stream's: the same key and label, probabilities within 1e-9 (as in
/// tests/golden.rs: a batch of another size may round the last bit differently).
fn assert_same_answer(got: &Value, want: &Value) {
    assert_eq!(got["key"], want["key"], "{got} vs {want}");
    assert_eq!(got["prediction"], want["prediction"], "{got} vs {want}");
    let (got_p, want_p) = (
        got["probabilities"].as_object().unwrap(),
        want["probabilities"].as_object().unwrap(),
    );
    assert_eq!(got_p.len(), want_p.len(), "{got} vs {want}");
    for (class, p) in want_p {
        let diff = (got_p[class].as_f64().unwrap() - p.as_f64().unwrap()).abs();
        assert!(diff <= 1e-9, "{class}: {got} vs {want}");
    }
    assert_eq!(got.as_object().unwrap().len(), 3, "no other field: {got}");
}

struct Reply {
    status: u16,
    content_type: Option<String>,
    allow: Option<String>,
    body: Value,
}

struct Door {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Door {
    async fn send(&self, method: &str, path: &str, body: Option<String>) -> Reply {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        // The first request waits for cargo-lambda to compile the function.
        let response = tokio::time::timeout(Duration::from_secs(900), self.client.request(request))
            .await
            .expect("the Function URL answered in time")
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (status, content_type, allow) = (
            response.status().as_u16(),
            header("content-type"),
            header("allow"),
        );
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: the body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Reply {
            status,
            content_type,
            allow,
            body,
        }
    }
}

#[tokio::test]
async fn the_function_url_answers_predictions_metadata_and_errors() {
    let model_path = root().join("model/classifier.json");
    let env = vec![
        "DOOR=http".to_owned(),
        format!("MODEL_URI={}", model_path.display()),
        "HTTP_MAX_INSTANCES=5".to_owned(),
    ];
    let (_watch, port) = start_watch(env);
    let door = Door {
        client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        base: format!("http://127.0.0.1:{port}/lambda-url/stream-infer-lambda"),
    };
    let model = Model::from_path(&model_path).unwrap();
    let model_ref = json!({"name": model.name(), "version": model.version()});
    let cases = classifier_cases();
    assert!(cases.len() >= 3, "the sample has good instances");

    // GET /health first: 200 once the model is loaded (this request waits for the build).
    let health = door.send("GET", "/health", None).await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body, json!({"status": "ok", "model": model_ref}));

    // One good instance: the label and probabilities the stream gives for it.
    let (instance, answer) = &cases[0];
    let reply = door
        .send("POST", "/predict", Some(instance.to_string()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(reply.body["model"], model_ref);
    assert_eq!(reply.body["predictions"].as_array().unwrap().len(), 1);
    assert_same_answer(&reply.body["predictions"][0], answer);

    // One bad instance: 200, its error in its place, with the stream's reason code.
    let mut bad = instance.clone();
    bad.as_object_mut().unwrap().remove("mean_radius");
    let reply = door.send("POST", "/predict", Some(bad.to_string())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let error = &reply.body["predictions"][0]["error"];
    assert_eq!(error["reason"], "feature_missing", "{}", reply.body);
    assert!(
        error["message"].as_str().unwrap().contains("mean_radius"),
        "{error}"
    );

    // A mixed batch: every instance answered in order, good ones as on the stream.
    let batch = json!({"instances": [cases[1].0, bad, "text", cases[2].0]});
    let reply = door.send("POST", "/predict", Some(batch.to_string())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let predictions = reply.body["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 4);
    assert_same_answer(&predictions[0], &cases[1].1);
    assert_eq!(predictions[1]["error"]["reason"], "feature_missing");
    assert_eq!(predictions[2]["error"]["reason"], "not_object");
    assert_same_answer(&predictions[3], &cases[2].1);
    assert_eq!(reply.body["model"], model_ref);

    // GET /model: what `stream-infer model show` prints.
    let reply = door.send("GET", "/model", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, model.describe());

    // Whole-request errors: a real status, a JSON body, the JSON content type.
    let six = json!({"instances": vec![cases[0].0.clone(); 6]});
    for (method, path, body, status, reason) in [
        (
            "POST",
            "/predict",
            Some("{not json".to_owned()),
            400,
            "not_json",
        ),
        (
            "POST",
            "/predict",
            Some("[1,2]".to_owned()),
            400,
            "wrong_shape",
        ),
        (
            "POST",
            "/predict",
            Some(six.to_string()),
            413,
            "too_many_instances",
        ),
        ("GET", "/nowhere", None, 404, "not_found"),
        ("GET", "/predict", None, 405, "method_not_allowed"),
        ("DELETE", "/model", None, 405, "method_not_allowed"),
    ] {
        let reply = door.send(method, path, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert_eq!(reply.body["error"]["reason"], reason, "{method} {path}");
        assert!(reply.body["error"]["message"].is_string());
        assert_eq!(
            reply.content_type.as_deref(),
            Some("application/json"),
            "{method} {path}"
        );
        let allow = match (status, path) {
            (405, "/predict") => Some("POST"),
            (405, _) => Some("GET"),
            _ => None,
        };
        assert_eq!(reply.allow.as_deref(), allow, "{method} {path}");
    }
}
