//! Stage timings for `stream-infer bench`: decode, features, predict and respond on one event,
//! in process, as medians over repeated runs. scripts/bench runs it beside the Python handler.
//!
//! What each figure means, for every kind of model:
//!
//! - `decode`: the event split into records and each envelope read (base64 for Kinesis).
//! - `score`: the decoded batch through the model: every payload read, the model's transforms
//!   (scalers, one-hot, tokenizing and TF-IDF for text) and the one evaluation of the batch.
//!   `decode + score` is the whole computation from event text to predictions.
//! - `predict`: the evaluation alone, on a feature matrix of the batch's shape. For a
//!   format_version 1 model that is a dense matrix of ones (its cost depends only on the shape).
//!   For a typed model it is the batch's real transformed features (a CSR matrix when the model
//!   reads text, whose cost depends on its nonzeros), built off the clock by [`reference_rows`].
//! - `features = score - predict`: reading the payloads and the transforms.
//! - `total`: the whole handler as the Lambda runs it (`handle_reported`), with the sink writing
//!   JSON lines to nowhere; `respond = total - decode - score` is the prediction lines, the
//!   ledger and the response, and with `--metrics` the spans, the `batch done` line and the
//!   EMF document.

use std::time::{Duration, Instant};

use base64::Engine as _;
use ndarray::Array2;
use serde::Serialize;
use serde_json::Value as Json;

use stream_infer::model::{Features, Model, Program, Typed, Value};
use stream_infer::{App, Call, Deadline, EventError, HandlerError, RecordError, Verdict};

/// Medians over `runs` runs of one event, in nanoseconds (see the module docs for each stage).
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub records: usize,
    pub bytes: usize,
    /// Records that reached the model's feature matrix.
    pub predicted: usize,
    pub runs: usize,
    pub decode_ns: u64,
    pub score_ns: u64,
    pub features_ns: u64,
    pub predict_ns: u64,
    pub respond_ns: u64,
    pub total_ns: u64,
}

/// Why an event could not be timed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The feature matrix built for the `predict` figure does not have the rows the handler
    /// evaluated, so that figure would not describe this batch.
    #[error(
        "the bench built {built} feature rows for the predict timing but the handler evaluated {evaluated}"
    )]
    ReferenceRows { built: usize, evaluated: usize },
}

fn median(mut samples: Vec<Duration>) -> u64 {
    samples.sort();
    samples[samples.len() / 2].as_nanos() as u64
}

/// The input of the `predict` timing.
enum Reference<'a> {
    /// A format_version 1 model: ones, in the shape of the batch's raw features.
    Ones(Array2<f64>),
    /// A typed model and the batch's real transformed features.
    Typed(&'a Typed, Features),
}

impl Reference<'_> {
    /// What one `predict` consumes, made before the clock starts: `Model::predict` takes its
    /// matrix by value.
    fn input(&self) -> Option<Array2<f64>> {
        match self {
            Reference::Ones(ones) => Some(ones.clone()),
            Reference::Typed(..) => None,
        }
    }

    /// The one evaluation being timed.
    fn predict(&self, model: &Model, input: Option<Array2<f64>>) {
        match (self, input) {
            (Reference::Typed(typed, features), _) => {
                std::hint::black_box(typed.scorer().evaluate(features).ok());
            }
            (Reference::Ones(_), Some(x)) => {
                std::hint::black_box(model.predict(x));
            }
            (Reference::Ones(_), None) => {}
        }
    }
}

/// True for a record whose features were part of the batch's one evaluation.
fn evaluated(verdict: &Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Predicted { .. }
            | Verdict::Classified { .. }
            | Verdict::Imputed { .. }
            | Verdict::Rejected(RecordError::PredictionNotFinite { .. })
    )
}

/// Times `event` on `app`, whose sink should write nowhere (the point is our code, not IO).
pub fn time_event(app: &App, event: &str, runs: usize) -> Result<Timing, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let runs = runs.max(1);

    // How many records reach the model, from one untimed pass through the pipeline.
    let batch = stream_infer::decode_event(event)?;
    let scored = stream_infer::score(batch, app.spec(), app.model());
    let records = scored.records.len();
    let rows = scored
        .records
        .iter()
        .filter(|r| evaluated(&r.verdict))
        .count();
    drop(scored);

    // The input of the predict timing, built once and off the clock.
    let reference = match app.model().typed_model() {
        Some(typed) => {
            let features = reference_rows(typed.program(), event);
            if features.nrows() != rows {
                return Err(BenchError::ReferenceRows {
                    built: features.nrows(),
                    evaluated: rows,
                });
            }
            Reference::Typed(typed, features)
        }
        // Prediction cost does not depend on the values, only on the matrix's shape.
        None => Reference::Ones(Array2::from_elem((rows, app.spec().width()), 1.0)),
    };

    let (mut decode, mut score, mut predict, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let start = Instant::now();
        let batch = stream_infer::decode_event(event)?;
        decode.push(start.elapsed());

        let start = Instant::now();
        let scored = stream_infer::score(batch, app.spec(), app.model());
        score.push(start.elapsed());
        drop(scored);

        let input = reference.input();
        let start = Instant::now();
        if rows > 0 {
            reference.predict(app.model(), input);
        }
        predict.push(start.elapsed());

        let start = Instant::now();
        let call = Call {
            request_id: "bench",
            trace: None,
            deadline: &Deadline::none(),
        };
        let handled = runtime.block_on(stream_infer::handle_reported(app, event, call))?;
        total.push(start.elapsed());
        std::hint::black_box(handled);
    }
    let (decode, score, predict, total) = (
        median(decode),
        median(score),
        median(predict),
        median(total),
    );
    Ok(Timing {
        records,
        bytes: event.len(),
        predicted: rows,
        runs,
        decode_ns: decode,
        score_ns: score,
        features_ns: score.saturating_sub(predict),
        predict_ns: predict,
        respond_ns: total.saturating_sub(decode + score),
        total_ns: total,
    })
}

/// The transformed features of every record of `event` that the model accepts, encoded by the
/// model's own program. The payloads are read here with serde_json (top-level fields, as the
/// bench's default configuration reads them), not by the handler's streaming reader: this
/// matrix is only the input of the `predict` timing, and `time_event` checks that it has as
/// many rows as the handler evaluated.
pub fn reference_rows(program: &Program, event: &str) -> Features {
    let mut batch = program.batch(0);
    let records = serde_json::from_str::<Json>(event)
        .ok()
        .and_then(|e| e.get("Records").and_then(Json::as_array).cloned())
        .unwrap_or_default();
    for record in &records {
        let Some(fields) = payload(record) else {
            continue;
        };
        let values: Vec<Value<'_>> = program
            .inputs()
            .iter()
            .map(|input| match fields.get(&input.name) {
                None => Value::Missing,
                Some(field) => field.value(),
            })
            .collect();
        // A record the model refuses is rejected by the handler too, and is not a row.
        let _ = program.encode(&values, &mut batch);
    }
    batch.finish()
}

/// A record's fields: a Kinesis record's JSON object, or a DynamoDB image's attributes. `None`
/// for a record the handler would not predict (bad base64 or JSON, a REMOVE).
fn payload(record: &Json) -> Option<Fields> {
    if let Some(data) = record.pointer("/kinesis/data").and_then(Json::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Json::Object(map) => Some(Fields::Json(map)),
            _ => None,
        }
    } else {
        match record.pointer("/dynamodb/NewImage")? {
            Json::Object(map) => Some(Fields::Image(map.clone())),
            _ => None,
        }
    }
}

enum Fields {
    Json(serde_json::Map<String, Json>),
    Image(serde_json::Map<String, Json>),
}

/// One field of a payload, tagged with its format so it converts to the model's [`Value`].
enum Field<'a> {
    Json(&'a Json),
    Attribute(&'a Json),
}

impl Fields {
    fn get(&self, name: &str) -> Option<Field<'_>> {
        match self {
            Fields::Json(map) => map.get(name).map(Field::Json),
            Fields::Image(map) => map.get(name).map(Field::Attribute),
        }
    }
}

impl<'a> Field<'a> {
    fn value(&self) -> Value<'a> {
        match *self {
            Field::Json(json) => match json {
                Json::Null => Value::Null,
                Json::Bool(b) => Value::Bool(*b),
                Json::Number(n) => n.as_f64().map_or(Value::Other("number"), Value::Number),
                Json::String(s) => Value::Str(s.as_str().into()),
                Json::Array(_) => Value::Other("array"),
                Json::Object(_) => Value::Other("object"),
            },
            Field::Attribute(attribute) => {
                let tagged = attribute.as_object().and_then(|m| m.iter().next());
                match tagged {
                    Some((tag, Json::String(n))) if tag == "N" => {
                        n.parse().map_or(Value::Other("N"), Value::Number)
                    }
                    Some((tag, Json::String(s))) if tag == "S" => Value::Str(s.as_str().into()),
                    Some((tag, Json::Bool(b))) if tag == "BOOL" => Value::Bool(*b),
                    Some((tag, _)) if tag == "NULL" => Value::Null,
                    _ => Value::Other("attribute"),
                }
            }
        }
    }
}
