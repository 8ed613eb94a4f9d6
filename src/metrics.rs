//! CloudWatch metrics in Embedded Metric Format (EMF): one JSON document per invocation.
//!
//! The document is printed to stdout, where Lambda ships it to CloudWatch Logs and CloudWatch
//! extracts the metrics: no `PutMetricData` call, no added latency. The counts come from the
//! invocation's ledger, so they equal what the response and the summary line say.
//!
//! Written with serde rather than `metrics_cloudwatch_embedded`: that crate turns every label
//! into a dimension of one set and keeps counters across flushes, while an alarm here needs a
//! second, function-only dimension set and each document must hold exactly one invocation's
//! ledger (see the README's "Operating it"). Rejected records are counted as one metric per
//! reason code (`Rejected.<code>`) rather than under a `Reason` dimension: a dimension would need
//! a document per reason, while per-code metrics keep one document per invocation.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::io::Write;
use std::time::Duration;

use crate::ledger::{Handled, Outcome};
use crate::reason::Reason;

/// Where metrics go: the namespace and the function they describe, or nowhere (`METRICS=off`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    namespace: String,
    function: String,
}

/// How long each stage of one invocation took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stages {
    /// Splitting the event and reading each record's envelope.
    pub decode: Duration,
    /// Features and the one model evaluation.
    pub predict: Duration,
    /// Writing predictions, retries included.
    pub sink: Duration,
    /// Dead-lettering rejected records.
    pub dead_letter: Duration,
}

/// What the handler saw of one invocation, beyond its ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observed {
    pub stages: Stages,
    /// The oldest record's age when the invocation started, when records carry a timestamp.
    pub record_age: Option<Duration>,
    /// Retried sink and dead-letter requests, and how many of those were throttles.
    pub sink_retries: u64,
    pub sink_throttles: u64,
}

/// One invocation as the metrics document describes it.
#[derive(Debug, Clone, Default)]
pub struct Invocation<'a> {
    pub request_id: &'a str,
    pub trace_id: Option<&'a str>,
    pub model: &'a str,
    pub model_version: &'a str,
    pub observed: Observed,
    /// The whole handler, from the event's bytes to the response.
    pub handler: Duration,
    /// The first invocation of this process: it pays the model load.
    pub cold_start: bool,
    pub model_load: Option<Duration>,
}

/// One request to the HTTP door as its metrics document describes it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub request_id: &'a str,
    pub trace_id: Option<&'a str>,
    pub model: &'a str,
    pub model_version: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// The HTTP status answered.
    pub status: u16,
    /// Instances in a `POST /predict`.
    pub instances: usize,
    /// Instances answered with an error, by reason.
    pub rejected: &'a BTreeMap<Reason, usize>,
    /// From the event's bytes to the response.
    pub latency: Duration,
    pub cold_start: bool,
    pub model_load: Option<Duration>,
}

/// The metric names and units of every document, in order (reason metrics follow).
const COUNTS: [&str; 10] = [
    "Records",
    "Predicted",
    "Rejected",
    "Skipped",
    "Failed",
    "Dropped",
    "DeadLettered",
    "BatchSize",
    "SinkRetries",
    "SinkThrottles",
];
const MILLISECONDS: [&str; 5] = [
    "DecodeMs",
    "PredictMs",
    "SinkMs",
    "DeadLetterMs",
    "HandlerMs",
];

/// The dimension sets: the full one for dashboards, and the function alone for alarms, which
/// cannot know the model's name when the template is deployed.
const DIMENSIONS: &str = r#"[["FunctionName","Source","Model"],["FunctionName"]]"#;

impl Metrics {
    /// Metrics in `namespace` for the function named `function` (Lambda's
    /// `AWS_LAMBDA_FUNCTION_NAME`).
    pub fn new(namespace: impl Into<String>, function: impl Into<String>) -> Self {
        Metrics {
            namespace: namespace.into(),
            function: function.into(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The EMF document of one invocation, as one line of JSON. `timestamp_ms` is its time in
    /// milliseconds since the epoch.
    pub fn document(&self, handled: &Handled, run: &Invocation<'_>, timestamp_ms: u64) -> String {
        let summary = handled.summary();
        let dead_lettered = count(handled, Outcome::DeadLettered);
        let mut by_reason: BTreeMap<Reason, usize> = BTreeMap::new();
        for entry in &handled.entries {
            if let (Outcome::DeadLettered | Outcome::Dropped, Some(reason)) =
                (entry.outcome, entry.reason)
            {
                *by_reason.entry(reason).or_default() += 1;
            }
        }
        let counts = [
            summary.records,
            summary.predicted,
            summary.rejected,
            summary.skipped,
            summary.failed,
            summary.dropped,
            dead_lettered,
            summary.records,
            run.observed.sink_retries as usize,
            run.observed.sink_throttles as usize,
        ];
        let stages = &run.observed.stages;
        let times = [
            stages.decode,
            stages.predict,
            stages.sink,
            stages.dead_letter,
            run.handler,
        ];

        // Written straight into two strings (the `Metrics` directive and the values), in one
        // pass: this runs on every invocation. Names are ASCII constants or reason codes.
        let (mut names, mut values) = (String::with_capacity(1024), String::with_capacity(768));
        let mut metric = |name: &dyn Display, unit: &str, value: &dyn Display| {
            if !names.is_empty() {
                names.push(',');
            }
            let _ = write!(names, r#"{{"Name":"{name}","Unit":"{unit}"}}"#);
            let _ = write!(values, r#","{name}":{value}"#);
        };
        for (name, value) in COUNTS.iter().zip(counts) {
            metric(name, "Count", &value);
        }
        for (name, value) in MILLISECONDS.iter().zip(times) {
            metric(name, "Milliseconds", &millis(value));
        }
        for (reason, value) in &by_reason {
            metric(&format_args!("Rejected.{reason}"), "Count", value);
        }
        metric(&"ColdStart", "Count", &u8::from(run.cold_start));
        if let Some(age) = run.observed.record_age {
            metric(&"RecordAgeMs", "Milliseconds", &millis(age));
        }
        if let Some(load) = run.model_load {
            metric(&"ModelLoadMs", "Milliseconds", &millis(load));
        }

        let mut doc = String::with_capacity(names.len() + values.len() + 512);
        let _ = write!(
            doc,
            r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":{DIMENSIONS},"Metrics":[{names}]}}]}},"FunctionName":{},"Source":"{}","Model":{},"ModelVersion":{},"RequestId":{}"#,
            quoted(&self.namespace),
            quoted(&self.function),
            handled.source.as_str(),
            quoted(run.model),
            quoted(run.model_version),
            quoted(run.request_id),
        );
        if let Some(trace) = run.trace_id {
            let _ = write!(doc, r#","TraceId":{}"#, quoted(trace));
        }
        doc.push_str(&values);
        doc.push('}');
        doc
    }
}

impl Metrics {
    /// The EMF document of one HTTP request (`Source` dimension `http`), as one line of JSON:
    /// `Requests` (1), `Instances`, `Rejected` (and `Rejected.<code>` per reason), `LatencyMs`,
    /// `ColdStart`, `ModelLoadMs` on a cold start; the method, path and status as properties.
    pub fn request_document(&self, request: &Request<'_>, timestamp_ms: u64) -> String {
        let rejected: usize = request.rejected.values().sum();
        let (mut names, mut values) = (String::with_capacity(512), String::with_capacity(256));
        let mut metric = |name: &dyn Display, unit: &str, value: &dyn Display| {
            if !names.is_empty() {
                names.push(',');
            }
            let _ = write!(names, r#"{{"Name":"{name}","Unit":"{unit}"}}"#);
            let _ = write!(values, r#","{name}":{value}"#);
        };
        metric(&"Requests", "Count", &1);
        metric(&"Instances", "Count", &request.instances);
        metric(&"Rejected", "Count", &rejected);
        metric(&"LatencyMs", "Milliseconds", &millis(request.latency));
        for (reason, value) in request.rejected {
            metric(&format_args!("Rejected.{reason}"), "Count", value);
        }
        metric(&"ColdStart", "Count", &u8::from(request.cold_start));
        if let Some(load) = request.model_load {
            metric(&"ModelLoadMs", "Milliseconds", &millis(load));
        }
        let mut doc = String::with_capacity(names.len() + values.len() + 512);
        let _ = write!(
            doc,
            r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":{DIMENSIONS},"Metrics":[{names}]}}]}},"FunctionName":{},"Source":"http","Model":{},"ModelVersion":{},"RequestId":{},"Method":{},"Path":{},"Status":{}"#,
            quoted(&self.namespace),
            quoted(&self.function),
            quoted(request.model),
            quoted(request.model_version),
            quoted(request.request_id),
            quoted(request.method),
            quoted(request.path),
            request.status,
        );
        if let Some(trace) = request.trace_id {
            let _ = write!(doc, r#","TraceId":{}"#, quoted(trace));
        }
        doc.push_str(&values);
        doc.push('}');
        doc
    }
}

/// `text` as a JSON string, quotes and escapes included.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

/// Prints a metrics document on stdout as one line. A failed write (a closed or full stdout)
/// loses the metrics, never the batch: it is logged and the invocation goes on.
pub fn print(document: &str) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(document.as_bytes())
        .and_then(|()| out.write_all(b"\n"));
    if let Err(error) = written {
        tracing::warn!(%error, "could not write the metrics document to stdout");
    }
}

/// Now, in milliseconds since the epoch: a document's `_aws.Timestamp`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn count(handled: &Handled, outcome: Outcome) -> usize {
    handled
        .entries
        .iter()
        .filter(|e| e.outcome == outcome)
        .count()
}

/// Milliseconds with microsecond resolution.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Entry, StreamResponse};
    use crate::source::Source;
    use serde_json::{Value, json};

    fn handled() -> Handled {
        let entry = |id: &str, outcome, reason| Entry {
            id: id.into(),
            outcome,
            reason,
        };
        Handled {
            source: Source::Kinesis,
            entries: vec![
                entry("1", Outcome::Written, None),
                entry("2", Outcome::DeadLettered, Some(Reason::NotJson)),
                entry("3", Outcome::DeadLettered, Some(Reason::NotJson)),
                entry("4", Outcome::DeadLettered, Some(Reason::FeatureMissing)),
                entry("5", Outcome::Failed, None),
                entry("6", Outcome::Skipped, None),
            ],
            response: StreamResponse::Kinesis(Default::default()),
        }
    }

    #[test]
    fn a_document_follows_the_emf_structure_and_counts_the_ledger() {
        let metrics = Metrics::new("StreamInfer", "fn-1");
        let run = Invocation {
            request_id: "req-1",
            trace_id: Some("Root=1-abc"),
            model: "dia\"betes",
            model_version: "sha256:1",
            handler: Duration::from_micros(1500),
            cold_start: true,
            model_load: Some(Duration::from_millis(3)),
            observed: Observed {
                record_age: Some(Duration::from_secs(2)),
                sink_retries: 2,
                sink_throttles: 1,
                ..Observed::default()
            },
        };
        let doc: Value = serde_json::from_str(&metrics.document(&handled(), &run, 1_700)).unwrap();
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_700);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "StreamInfer");
        assert_eq!(
            directive["Dimensions"],
            json!([["FunctionName", "Source", "Model"], ["FunctionName"]])
        );
        assert_eq!(doc["Model"], "dia\"betes", "escaped, and read back whole");
        for dimension in ["FunctionName", "Source", "Model"] {
            assert!(doc[dimension].is_string(), "{dimension}");
        }
        // Every named metric is present as a number.
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &names {
            assert!(doc[*name].is_number(), "{name} is {}", doc[*name]);
        }
        let n = |name: &str| doc[name].as_f64().unwrap();
        assert_eq!(
            (n("Records"), n("Predicted"), n("Rejected")),
            (6.0, 1.0, 3.0)
        );
        assert_eq!(
            (n("Skipped"), n("Failed"), n("DeadLettered")),
            (1.0, 1.0, 3.0)
        );
        assert_eq!(
            (n("Rejected.not_json"), n("Rejected.feature_missing")),
            (2.0, 1.0)
        );
        assert_eq!((n("HandlerMs"), n("ModelLoadMs")), (1.5, 3.0));
        assert_eq!((n("ColdStart"), n("RecordAgeMs")), (1.0, 2000.0));
        assert_eq!((n("SinkRetries"), n("SinkThrottles")), (2.0, 1.0));
        assert_eq!(doc["ModelVersion"], "sha256:1");
        assert_eq!(doc["TraceId"], "Root=1-abc");
        assert!(
            !names.contains(&"ModelVersion"),
            "the version is a property"
        );
    }

    #[test]
    fn a_request_document_counts_the_request_under_source_http() {
        let metrics = Metrics::new("StreamInfer", "fn-http");
        let rejected = BTreeMap::from([(Reason::FeatureMissing, 2), (Reason::NotObject, 1)]);
        let request = Request {
            request_id: "req-9",
            trace_id: None,
            model: "diabetes",
            model_version: "sha256:2",
            method: "POST",
            path: "/predict",
            status: 200,
            instances: 10,
            rejected: &rejected,
            latency: Duration::from_micros(250),
            cold_start: false,
            model_load: None,
        };
        let doc: Value = serde_json::from_str(&metrics.request_document(&request, 5)).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "StreamInfer");
        assert_eq!(
            directive["Dimensions"],
            json!([["FunctionName", "Source", "Model"], ["FunctionName"]])
        );
        assert_eq!(
            (&doc["Source"], &doc["FunctionName"], &doc["Model"]),
            (&json!("http"), &json!("fn-http"), &json!("diabetes"))
        );
        for name in directive["Metrics"].as_array().unwrap() {
            let name = name["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name}");
        }
        let n = |name: &str| doc[name].as_f64().unwrap();
        assert_eq!(
            (n("Requests"), n("Instances"), n("Rejected"), n("LatencyMs")),
            (1.0, 10.0, 3.0, 0.25)
        );
        assert_eq!(
            (n("Rejected.feature_missing"), n("Rejected.not_object")),
            (2.0, 1.0)
        );
        assert_eq!(
            (n("Status"), &doc["Method"], &doc["Path"]),
            (200.0, &json!("POST"), &json!("/predict"))
        );
        assert!(doc.get("ModelLoadMs").is_none() && doc.get("TraceId").is_none());
    }

    #[test]
    fn a_warm_invocation_has_no_model_load_and_no_age_without_timestamps() {
        let metrics = Metrics::new("NS", "f");
        let doc: Value =
            serde_json::from_str(&metrics.document(&handled(), &Invocation::default(), 0)).unwrap();
        assert_eq!(doc["ColdStart"], 0);
        assert!(doc.get("ModelLoadMs").is_none());
        assert!(doc.get("RecordAgeMs").is_none());
    }
}
