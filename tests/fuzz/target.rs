//! The three fuzz targets and the property they check: whatever the bytes, no panic, exactly one
//! outcome per record, no non-finite prediction, and every dead-letter message within its limits.
//!
//! Every input runs the real handler (`stream_infer::handle`) on an `App` whose prediction sink
//! is a buffer and whose dead-letter queue is the real SQS client over aws-smithy-mocks. Both
//! accept everything, so no record may end failed: a failure here is a record that Lambda would
//! retry for ever.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::SendMessageBatchResultEntry;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use base64::Engine;
use stream_infer::model::{Model, schema};
use stream_infer::{
    App, Config, DeadLetter, Deadline, Delivery, HandlerError, JsonLinesSink, Outcome, RetryPolicy,
    Sink, SqsQueue, handle,
};

use crate::util::root;

/// SQS's classic limit on one message body.
pub const MAX_BODY: usize = 256 * 1024;
/// SendMessageBatch's limits: entries per call and the summed size of their bodies.
pub const MAX_BATCH_ENTRIES: usize = 10;
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The rejection `message`: prose around quoted values that are each cut to 1 KiB.
pub const MAX_MESSAGE: usize = 4 * 1024;
/// An input that takes longer than this (dev profile) is reported as slow.
pub const SLOW: Duration = Duration::from_secs(5);

const DLQ: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/fuzz-dead-letters";

/// What a fuzz input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A whole Lambda event, as bytes.
    Event,
    /// One Kinesis record's payload, base64-encoded into a one-record event.
    Payload,
    /// A model artifact.
    Model,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Event, Target::Payload, Target::Model];

    /// The name of its corpus and artifacts directories.
    pub fn name(self) -> &'static str {
        match self {
            Target::Event => "event",
            Target::Payload => "payload",
            Target::Model => "model",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A broken property, in words.
#[derive(Debug, Clone)]
pub struct Violation(pub String);

/// What the app's sinks received during one run.
#[derive(Clone, Default)]
struct Capture {
    stdout: Arc<Mutex<Vec<u8>>>,
    /// The bodies of each SendMessageBatch call to the dead-letter queue.
    batches: Arc<Mutex<Vec<Vec<String>>>>,
}

impl Capture {
    fn clear(&self) {
        lock(&self.stdout).clear();
        lock(&self.batches).clear();
    }
}

/// A poisoned lock only means an earlier input panicked, which is reported already.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The configurations an event or payload runs under: the embedded model plain and with
/// `FEATURES_FIELD`, and the bundled classifier, text and categorical models.
const SETUPS: &[(&str, &[(&str, &str)])] = &[
    ("diabetes", &[]),
    ("nested", &[("FEATURES_FIELD", "features")]),
    ("classifier", &[("MODEL_URI", "model/classifier.json")]),
    ("text", &[("MODEL_URI", "model/text.json")]),
    ("categorical", &[("MODEL_URI", "model/categorical.json")]),
];

/// The apps, the runtime and the captured output, built once per fuzz run.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    capture: Capture,
    dead_letter: SqsQueue,
    apps: Vec<(&'static str, App)>,
    /// What the inputs reached: outcomes, reason codes, models loaded. A coverage-free fuzzer's
    /// only view of how deep its mutants go.
    stats: RefCell<BTreeMap<String, u64>>,
}

impl Harness {
    pub fn new() -> Harness {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let capture = Capture::default();
        let dead_letter = runtime.block_on(async { accepting_queue(&capture) });
        let mut harness = Harness {
            runtime,
            capture,
            dead_letter,
            apps: Vec::new(),
            stats: RefCell::default(),
        };
        for &(name, vars) in SETUPS {
            let config = Config::from_lookup(|var| {
                vars.iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap();
            let model = match vars.iter().find(|(k, _)| *k == "MODEL_URI") {
                Some((_, path)) => Model::from_path(&root().join(path)).unwrap(),
                None => Model::embedded(),
            };
            let app = harness.app(&config, model).unwrap();
            harness.apps.push((name, app));
        }
        harness
    }

    fn count(&self, what: impl Into<String>) {
        *self.stats.borrow_mut().entry(what.into()).or_default() += 1;
    }

    /// The counts so far, most frequent first, as one line.
    pub fn stats(&self) -> String {
        let stats = self.stats.borrow();
        let mut counts: Vec<(&String, &u64)> = stats.iter().collect();
        counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How many configurations an event runs under.
    pub fn setups(&self) -> usize {
        self.apps.len()
    }

    fn app(&self, config: &Config, model: Model) -> Result<App, stream_infer::InitError> {
        let sink = JsonLinesSink::new(Box::new(Writer(self.capture.stdout.clone())));
        Ok(App::new(config, model, None)?
            .with_sink(Sink::Stdout(sink))
            .with_dead_letter(DeadLetter::Sqs(self.dead_letter.clone())))
    }

    /// Runs `input` as `target`: under one setup (fuzzing picks one per input), or under every
    /// setup when `setup` is `None` (the corpus check and replay).
    pub fn run(&self, target: Target, input: &[u8], setup: Option<usize>) -> Result<(), Violation> {
        let chosen: Vec<usize> = match setup {
            Some(i) => vec![i % self.apps.len()],
            None => (0..self.apps.len()).collect(),
        };
        match target {
            Target::Event => {
                // Lambda hands the function text; bytes that are not UTF-8 never reach it.
                let text = String::from_utf8_lossy(input);
                for i in chosen {
                    let (name, app) = &self.apps[i];
                    self.event(app, &text, false)
                        .map_err(|v| Violation(format!("[{name}] {}", v.0)))?;
                }
                Ok(())
            }
            Target::Payload => {
                let event = payload_event(input);
                for i in chosen {
                    let (name, app) = &self.apps[i];
                    self.event(app, &event, true)
                        .map_err(|v| Violation(format!("[{name}] {}", v.0)))?;
                }
                Ok(())
            }
            Target::Model => self.model(input),
        }
    }

    /// Loads a model artifact, as it is and with its content hash recomputed (so that mutants
    /// reach the validation behind the checksum); a model that loads must predict finitely.
    fn model(&self, input: &[u8]) -> Result<(), Violation> {
        let text = String::from_utf8_lossy(input);
        let mut models = Vec::new();
        models.push(guard("Model::from_json", || {
            Model::from_json(&text, "fuzz").ok()
        })?);
        models.push(guard("rehashed model", || rehashed(&text))?);
        for (model, how) in models.into_iter().zip(["loaded", "loaded after rehash"]) {
            let Some(model) = model else {
                continue;
            };
            self.count(how);
            guard("Model::describe", || {
                let _ = model.describe();
            })?;
            let event = probe_event(&model);
            let config = Config::from_lookup(|_| None).unwrap();
            let Ok(app) = self.app(&config, model) else {
                continue;
            };
            self.event(&app, &event, true)?;
        }
        Ok(())
    }

    /// Runs the handler on one event and checks the ledger and what the sinks received.
    fn event(&self, app: &App, event: &str, must_decode: bool) -> Result<(), Violation> {
        self.capture.clear();
        let started = Instant::now();
        let result = guard("the handler", || {
            self.runtime.block_on(handle(app, event, &Deadline::none()))
        })?;
        if started.elapsed() > SLOW {
            return Err(Violation(format!(
                "slow: one event took {:.1?}",
                started.elapsed()
            )));
        }
        let handled = match result {
            Ok(handled) => handled,
            Err(HandlerError::Unreportable { count }) => {
                return Err(Violation(format!(
                    "{count} record(s) failed and cannot be reported, with sinks that accept everything"
                )));
            }
            Err(error) if must_decode => {
                self.count("event error");
                return Err(Violation(format!(
                    "a well-formed one-record event failed as a whole: {error}"
                )));
            }
            Err(_) => {
                self.count("event error");
                return Ok(());
            }
        };
        for entry in &handled.entries {
            match entry.reason {
                Some(reason) => self.count(reason.as_str()),
                None => self.count(format!("{:?}", entry.outcome).to_lowercase()),
            }
        }

        let records = records_in(event);
        if let Some(n) = records
            && handled.entries.len() < n
        {
            return fail(format!(
                "{n} records in, {} ledger entries out",
                handled.entries.len()
            ));
        }
        if must_decode && handled.entries.is_empty() {
            return fail("a one-record event has no ledger entry".into());
        }
        let failed: Vec<&str> = handled
            .entries
            .iter()
            .filter(|e| e.outcome == Outcome::Failed)
            .map(|e| e.id.as_str())
            .collect();
        if !failed.is_empty() || !handled.response.failures().is_empty() {
            return fail(format!(
                "records failed (Lambda would retry them for ever) with sinks that accept everything: {failed:?}, response {:?}",
                handled.response.failures()
            ));
        }
        for entry in &handled.entries {
            if entry.outcome == Outcome::DeadLettered && entry.reason.is_none() {
                return fail(format!("{} was dead-lettered without a reason", entry.id));
            }
        }

        let written = handled
            .entries
            .iter()
            .filter(|e| e.outcome == Outcome::Written)
            .count();
        let stdout = lock(&self.capture.stdout).clone();
        let lines: Vec<&[u8]> = stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        if lines.len() != written {
            return fail(format!(
                "{written} records written, {} prediction lines",
                lines.len()
            ));
        }
        for line in lines {
            check_prediction(line)?;
        }

        let dead_lettered = handled
            .entries
            .iter()
            .filter(|e| e.outcome == Outcome::DeadLettered)
            .count();
        let batches = lock(&self.capture.batches).clone();
        let messages: usize = batches.iter().map(Vec::len).sum();
        if messages != dead_lettered {
            return fail(format!(
                "{dead_lettered} records dead-lettered, {messages} dead-letter messages sent"
            ));
        }
        for batch in &batches {
            check_batch(batch)?;
        }
        Ok(())
    }
}

fn fail(message: String) -> Result<(), Violation> {
    Err(Violation(message))
}

/// Runs `work`, turning a panic into a violation that quotes the panic message.
fn guard<T>(what: &str, work: impl FnOnce() -> T) -> Result<T, Violation> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a panic without a message");
        Violation(format!("panic in {what}: {message}"))
    })
}

/// A dead-letter queue that accepts every entry and keeps each call's bodies.
fn accepting_queue(capture: &Capture) -> SqsQueue {
    let batches = capture.batches.clone();
    let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |r| {
        lock(&batches).push(
            r.entries()
                .iter()
                .map(|e| e.message_body().to_owned())
                .collect(),
        );
        let successful = r
            .entries()
            .iter()
            .map(|e| {
                SendMessageBatchResultEntry::builder()
                    .id(e.id())
                    .message_id("m")
                    .md5_of_message_body("x")
                    .build()
                    .unwrap()
            })
            .collect();
        SendMessageBatchOutput::builder()
            .set_successful(Some(successful))
            .set_failed(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()));
    let delivery = Delivery {
        concurrency: 1,
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        },
    };
    SqsQueue::new(client, DLQ.to_owned(), delivery)
}

/// A prediction line is JSON whose prediction is a finite number or a label, with finite
/// probabilities.
fn check_prediction(line: &[u8]) -> Result<(), Violation> {
    let text = String::from_utf8_lossy(line);
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        return fail(format!("a prediction line is not JSON: {text}"));
    };
    match &value["prediction"] {
        serde_json::Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {}
        serde_json::Value::String(_) => {}
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => {}
        other => return fail(format!("a prediction that is not a finite number: {other}")),
    }
    if let Some(probabilities) = value.get("probabilities") {
        let finite = probabilities.as_object().is_some_and(|map| {
            map.values().all(|p| {
                p.as_f64()
                    .is_some_and(|p| p.is_finite() && (0.0..=1.0).contains(&p))
            })
        });
        if !finite {
            return fail(format!("probabilities not in [0, 1]: {probabilities}"));
        }
    }
    Ok(())
}

/// One SendMessageBatch call within SQS's limits, each body a rejection within its own.
fn check_batch(batch: &[String]) -> Result<(), Violation> {
    if batch.len() > MAX_BATCH_ENTRIES {
        return fail(format!("a dead-letter batch of {} entries", batch.len()));
    }
    let total: usize = batch.iter().map(String::len).sum();
    if total > MAX_BATCH_BYTES {
        return fail(format!("a dead-letter batch of {total} bytes"));
    }
    for body in batch {
        if body.len() > MAX_BODY {
            return fail(format!("a dead-letter message of {} bytes", body.len()));
        }
        let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
            return fail(format!(
                "a dead-letter message is not JSON: {}",
                &body[..body.len().min(200)]
            ));
        };
        if !value["reason"].is_string() {
            return fail(format!("a dead-letter message without a reason: {value}"));
        }
        let message = value["message"].as_str().unwrap_or_default();
        if message.len() > MAX_MESSAGE {
            return fail(format!(
                "a rejection message of {} bytes (reason {}): {}…",
                message.len(),
                value["reason"],
                message.chars().take(200).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// The number of records an event holds, when that is unambiguous: one `Records` key whose
/// value is an array.
fn records_in(event: &str) -> Option<usize> {
    if event.matches("\"Records\"").count() != 1 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(event).ok()?;
    Some(value.get("Records")?.as_array()?.len())
}

/// A one-record Kinesis event carrying `payload`.
pub fn payload_event(payload: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(payload);
    serde_json::json!({"Records": [{
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/fuzz",
        "kinesis": {
            "sequenceNumber": "49590000000000000000000000000000000000000000000000000001",
            "partitionKey": "fuzz",
            "data": data,
            "approximateArrivalTimestamp": 1795000000.5,
        }
    }]})
    .to_string()
}

/// The artifact with its `version` recomputed from what it holds, loaded; `None` when the text
/// is not an artifact of a known format.
fn rehashed(text: &str) -> Option<Model> {
    let header: serde_json::Value = serde_json::from_str(text).ok()?;
    match header.get("format_version")?.as_u64()? {
        1 => {
            let mut artifact: stream_infer::model::Artifact = serde_json::from_str(text).ok()?;
            artifact.version = artifact.content_hash();
            Model::new(artifact, "fuzz (rehashed)").ok()
        }
        2 => {
            let mut artifact: schema::Artifact = serde_json::from_str(text).ok()?;
            artifact.version = Some(stream_infer::model::typed_content_hash(&artifact));
            Model::typed(artifact, "fuzz (rehashed)").ok()
        }
        _ => None,
    }
}

/// A Kinesis event whose records give the model's inputs ordinary, extreme and wrong values.
fn probe_event(model: &Model) -> String {
    use serde_json::json;
    let kinds: Vec<Option<schema::InputKind>> = match model.typed_model() {
        Some(typed) => typed
            .artifact()
            .inputs
            .iter()
            .map(|i| Some(i.kind))
            .collect(),
        None => vec![None; model.features().len()],
    };
    let fitting = |n: f64, text: &str| -> Vec<serde_json::Value> {
        kinds
            .iter()
            .map(|kind| match kind {
                Some(schema::InputKind::Text) => json!(text),
                Some(schema::InputKind::Category) => json!(text),
                _ => json!(n),
            })
            .collect()
    };
    let rows: Vec<Vec<serde_json::Value>> = vec![
        fitting(0.0, "a"),
        fitting(1.0, "hello world"),
        fitting(-2.5, ""),
        fitting(1e300, "the the the the the"),
        fitting(-1e300, "zzz unseen"),
        fitting(5e-324, "Ünïcödé ΣΊΣΥΦΟΣ"),
        vec![json!(null); kinds.len()],
        vec![json!("x"); kinds.len()],
    ];
    let records: Vec<serde_json::Value> = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let mut payload = serde_json::Map::new();
            payload.insert("id".into(), json!(format!("probe-{i}")));
            for (name, value) in model.features().iter().zip(row) {
                payload.insert(name.clone(), value);
            }
            let data = base64::engine::general_purpose::STANDARD
                .encode(serde_json::Value::Object(payload).to_string());
            json!({"eventSource": "aws:kinesis", "kinesis": {
                "sequenceNumber": format!("{i:056}"), "partitionKey": "p", "data": data}})
        })
        .collect();
    json!({ "Records": records }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checks_catch_what_they_are_for() {
        assert!(check_prediction(br#"{"prediction": 1.5}"#).is_ok());
        assert!(check_prediction(br#"{"prediction": "yes"}"#).is_ok());
        assert!(check_prediction(br#"{"prediction": null}"#).is_err());
        assert!(check_prediction(br#"{"prediction": 1, "probabilities": {"a": 1.5}}"#).is_err());
        assert!(check_prediction(b"not json").is_err());

        let rejection = |message: &str| {
            serde_json::json!({"reason": "not_json", "message": message}).to_string()
        };
        assert!(check_batch(&[rejection("short")]).is_ok());
        assert!(check_batch(&[rejection(&"m".repeat(MAX_MESSAGE + 1))]).is_err());
        assert!(check_batch(&[rejection(&"m".repeat(100)) + &" ".repeat(MAX_BODY)]).is_err());
        assert!(check_batch(&vec![rejection("x"); MAX_BATCH_ENTRIES + 1]).is_err());
        let big = rejection("b") + &" ".repeat(200 * 1024);
        assert!(
            check_batch(&vec![big; 6]).is_err(),
            "over 1 MiB in one call"
        );

        let caught = guard("a test", || panic!("boom {}", 7)).unwrap_err();
        assert_eq!(caught.0, "panic in a test: boom 7");
    }

    #[test]
    fn a_payload_event_carries_the_bytes() {
        let event = payload_event(&[0xff, 0x00, b'{']);
        let batch = stream_infer::decode_event(&event).unwrap();
        assert_eq!(batch.records.len(), 1);
        assert_eq!(records_in(&event), Some(1));
        assert!(event.contains("\"data\":\"/wB7\""));
    }
}
