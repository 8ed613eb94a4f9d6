//! Shared helpers: the project root, sample events, a capturing sink, the independent formula.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use stream_infer::config::Config;
use stream_infer::handler::App;
use stream_infer::model::Model;
use stream_infer::sink::{JsonLinesSink, Sink};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

/// An app on the embedded model whose JSON-lines sink writes into a buffer.
pub fn capturing_app(vars: &[(&str, &str)]) -> (App, Buffer) {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config =
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap();
    let mut app = App::with_model(&config, Model::embedded());
    let buffer = Buffer::default();
    app.sink = Sink::Stdout(JsonLinesSink::new(Box::new(buffer.clone())));
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
