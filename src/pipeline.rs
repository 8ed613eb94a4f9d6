//! decode -> features -> one predict: the pure middle of an invocation, with no AWS types or IO.

use ndarray::{Array1, Array2};

use crate::features::{FeatureSpec, Payload};
use crate::model::{self, Model, Output, Typed};
use crate::reason::Reason;
use crate::source::{Batch, DecodeError, Input, Meta, Record, SkipReason, Source};

/// What the pipeline concluded about one record, before any sink has seen it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Predicted: the record's key (`ID_FIELD`) when it has one, and the model's output.
    Predicted {
        /// The record's key.
        key: Option<String>,
        /// The prediction.
        value: f64,
    },
    /// A classifier's answer: the record's key, the class, and what the model says of each class.
    Classified {
        /// The record's key.
        key: Option<String>,
        /// The index of the predicted class in the model's classes.
        class: usize,
        /// One probability per class, in the model's class order, when the model gives them.
        probabilities: Option<Vec<f64>>,
        /// The inputs whose missing value was imputed.
        imputed: Vec<String>,
    },
    /// A regression from a typed model whose inputs were imputed: the key, the value, and which.
    Imputed {
        /// The record's key.
        key: Option<String>,
        /// The prediction.
        value: f64,
        /// The inputs whose missing value was imputed.
        imputed: Vec<String>,
    },
    /// Cannot be predicted, for this reason.
    Rejected(RecordError),
    /// Not predicted on purpose.
    Skipped(SkipReason),
}

/// One record after prediction: its envelope and its verdict.
#[derive(Debug)]
pub struct Scored<'a> {
    /// What the envelope said.
    pub meta: Meta<'a>,
    /// What the pipeline concluded.
    pub verdict: Verdict,
}

/// Why one record was not predicted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The envelope or payload could not be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The payload was read, but the model's transforms refuse a value.
    #[error(transparent)]
    Transform(#[from] model::RecordError),
    /// The inputs were valid but the model's output overflowed.
    #[error("the model's output is {value}, not a finite number (an input is too extreme)")]
    PredictionNotFinite {
        /// The output, as computed.
        value: f64,
    },
}

impl RecordError {
    /// The record's reason code.
    pub fn reason(&self) -> Reason {
        match self {
            RecordError::Decode(e) => e.reason(),
            RecordError::Transform(e) => match e {
                model::RecordError::Missing { .. } => Reason::FeatureMissing,
                model::RecordError::Null { .. } => Reason::FeatureNull,
                model::RecordError::NotNumber { .. } => Reason::FeatureNotNumber,
                model::RecordError::NotFinite { .. } => Reason::FeatureNotFinite,
                model::RecordError::NotString { .. } => Reason::TextNotString,
                model::RecordError::CategoryType { .. } => Reason::CategoryWrongType,
                model::RecordError::CategoryUnknown { .. } => Reason::CategoryUnknown,
                model::RecordError::TransformedNotFinite { .. } => Reason::TransformedNotFinite,
                model::RecordError::Arity { .. } | model::RecordError::BatchLayout { .. } => {
                    Reason::Internal
                }
            },
            RecordError::PredictionNotFinite { .. } => Reason::PredictionNotFinite,
        }
    }

    /// The reason code as text.
    pub fn code(&self) -> &'static str {
        self.reason().as_str()
    }
}

/// A batch after prediction: one [`Scored`] per input record, in input order.
#[derive(Debug)]
pub struct ScoredBatch<'a> {
    /// The event's source.
    pub source: Source,
    /// Every record, in input order.
    pub records: Vec<Scored<'a>>,
}

/// Extracts every valid record's features into one matrix, predicts it in a single call (none
/// when no record is valid), and pairs the predictions with their records.
pub fn score<'a>(batch: Batch<'a>, spec: &FeatureSpec, model: &Model) -> ScoredBatch<'a> {
    match model.typed_model() {
        Some(typed) => ScoredBatch {
            source: batch.source,
            records: scored(score_typed(batch.records, record_payload, spec, typed)),
        },
        None => score_with(batch, spec, |x| model.predict(x)),
    }
}

/// [`score`] on records that belong to no stream event: one [`Scored`] per record, in order,
/// from one model evaluation. The HTTP door's reference path (each instance a record), which its
/// tests compare [`score_payloads`] with.
#[cfg(test)]
pub(crate) fn score_records<'a>(
    records: Vec<Record<'a>>,
    spec: &FeatureSpec,
    model: &Model,
) -> Vec<Scored<'a>> {
    scored(match model.typed_model() {
        Some(typed) => score_typed(records, record_payload, spec, typed),
        None => score_rows(records, record_payload, spec, |x| model.predict(x)),
    })
}

/// [`score`] on the JSON payloads themselves (the HTTP door's instances, read straight from the
/// request body): one verdict per payload, in order, from one model evaluation. The tests compare
/// it with `score_records`, each instance a record.
pub(crate) fn score_payloads(
    payloads: &[&[u8]],
    spec: &FeatureSpec,
    model: &Model,
) -> Vec<Verdict> {
    let verdicts = match model.typed_model() {
        Some(typed) => score_typed(payloads.iter().copied(), json_payload, spec, typed),
        None => score_rows(payloads.iter().copied(), json_payload, spec, |x| {
            model.predict(x)
        }),
    };
    verdicts.into_iter().map(|(_, verdict)| verdict).collect()
}

/// How the scoring loops read what they score: a record's payload, or a bare JSON payload.
type Read<T> = for<'r> fn(&'r T) -> Result<Payload<'r>, Verdict>;

fn record_payload<'r>(record: &'r Record<'_>) -> Result<Payload<'r>, Verdict> {
    payload(&record.input)
}

fn json_payload<'r>(bytes: &'r &[u8]) -> Result<Payload<'r>, Verdict> {
    Ok(Payload::Json(bytes))
}

/// Records and their verdicts as [`Scored`] records.
fn scored<'a>(verdicts: Vec<(Record<'a>, Verdict)>) -> Vec<Scored<'a>> {
    verdicts
        .into_iter()
        .map(|(record, verdict)| Scored {
            meta: record.meta,
            verdict,
        })
        .collect()
}

/// A typed model: each record's inputs go through the model's transforms into one batch (dense,
/// or CSR when it reads text), which the estimator evaluates once.
fn score_typed<T>(
    records: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    read: Read<T>,
    spec: &FeatureSpec,
    typed: &Typed,
) -> Vec<(T, Verdict)> {
    let records = records.into_iter();
    let program = typed.program();
    let mut features = program.batch(records.len());
    let mut pending = Vec::with_capacity(records.len());
    let span = tracing::debug_span!("features", records = records.len()).entered();
    for record in records {
        let state = read(&record).and_then(|payload| {
            spec.extract_values(payload)
                .map_err(RecordError::from)
                .and_then(|(key, values)| {
                    let encoded = program.encode(&values, &mut features)?;
                    let imputed = encoded
                        .imputed
                        .iter()
                        .map(|&i| program.inputs()[i].name.clone())
                        .collect::<Vec<_>>();
                    Ok((key, imputed))
                })
                .map_err(Verdict::Rejected)
        });
        pending.push((record, state));
    }
    drop(span);
    let output = if features.is_empty() {
        None
    } else {
        let x = features.finish();
        let _span = tracing::debug_span!("predict", rows = x.nrows()).entered();
        // The features come from this model's own program, so their width always matches.
        typed.scorer().evaluate(&x).ok()
    };
    let mut row = 0;
    pending
        .into_iter()
        .map(|(record, state)| {
            let verdict = match state {
                Err(verdict) => verdict,
                Ok((key, imputed)) => {
                    let i = row;
                    row += 1;
                    typed_verdict(output.as_ref(), i, key, imputed)
                }
            };
            (record, verdict)
        })
        .collect()
}

fn typed_verdict(
    output: Option<&Output>,
    row: usize,
    key: Option<String>,
    imputed: Vec<String>,
) -> Verdict {
    match output {
        None => Verdict::Rejected(RecordError::PredictionNotFinite { value: f64::NAN }),
        Some(output) if !output.row_is_finite(row) => {
            let value = match output {
                Output::Values(values) => values[row],
                Output::Classes { decision, .. } => decision
                    .row(row)
                    .iter()
                    .copied()
                    .find(|v| !v.is_finite())
                    .unwrap_or(f64::NAN),
            };
            Verdict::Rejected(RecordError::PredictionNotFinite { value })
        }
        Some(Output::Values(values)) if imputed.is_empty() => Verdict::Predicted {
            key,
            value: values[row],
        },
        Some(Output::Values(values)) => Verdict::Imputed {
            key,
            value: values[row],
            imputed,
        },
        Some(Output::Classes {
            label_index,
            probabilities,
            ..
        }) => Verdict::Classified {
            key,
            class: label_index[row],
            probabilities: probabilities.as_ref().map(|p| p.row(row).to_vec()),
            imputed,
        },
    }
}

/// The payload of a record that carries features, or the verdict of one that does not.
fn payload<'i>(input: &'i Input<'_>) -> Result<Payload<'i>, Verdict> {
    match input {
        Input::Json(bytes) => Ok(Payload::Json(bytes)),
        Input::Image(image) => Ok(Payload::Image(image)),
        Input::Skip(reason) => Err(Verdict::Skipped(*reason)),
        Input::Invalid(error) => Err(Verdict::Rejected(error.clone().into())),
    }
}

/// [`score`] with the model as a function. It is `FnOnce`: the type says one evaluation per batch.
pub(crate) fn score_with<'a>(
    batch: Batch<'a>,
    spec: &FeatureSpec,
    predict: impl FnOnce(Array2<f64>) -> Array1<f64>,
) -> ScoredBatch<'a> {
    ScoredBatch {
        source: batch.source,
        records: scored(score_rows(batch.records, record_payload, spec, predict)),
    }
}

/// [`score_with`] on the records alone.
fn score_rows<T>(
    records: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
    read: Read<T>,
    spec: &FeatureSpec,
    predict: impl FnOnce(Array2<f64>) -> Array1<f64>,
) -> Vec<(T, Verdict)> {
    /// A record's verdict while the batch is being predicted: a row of the matrix, or final.
    enum Pending {
        Row { key: Option<String> },
        Done(Verdict),
    }
    let records = records.into_iter();
    let width = spec.width();
    let mut matrix = Vec::with_capacity(records.len() * width);
    let mut rows = 0;
    let mut pending = Vec::with_capacity(records.len());
    let span = tracing::debug_span!("features", records = records.len()).entered();
    for record in records {
        let state = match read(&record) {
            Err(verdict) => Pending::Done(verdict),
            Ok(payload) => {
                let start = matrix.len();
                matrix.resize(start + width, 0.0);
                match spec.extract(payload, &mut matrix[start..]) {
                    Ok(key) => {
                        rows += 1;
                        Pending::Row { key }
                    }
                    Err(error) => {
                        matrix.truncate(start);
                        Pending::Done(Verdict::Rejected(error.into()))
                    }
                }
            }
        };
        pending.push((record, state));
    }
    drop(span);
    let mut predictions = if rows == 0 {
        Array1::zeros(0)
    } else {
        let x = Array2::from_shape_vec((rows, width), matrix)
            .expect("one row of `width` values per predicted record");
        tracing::debug_span!("predict", rows).in_scope(|| predict(x))
    }
    .into_iter();
    pending
        .into_iter()
        .map(|(record, state)| {
            let verdict = match state {
                Pending::Done(verdict) => verdict,
                Pending::Row { key } => {
                    let value = predictions.next().expect("one prediction per row");
                    if value.is_finite() {
                        Verdict::Predicted { key, value }
                    } else {
                        Verdict::Rejected(RecordError::PredictionNotFinite { value })
                    }
                }
            };
            (record, verdict)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode_event;
    use base64::Engine;

    fn kinesis_event(payloads: &[&str]) -> String {
        let records: Vec<String> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let data = base64::engine::general_purpose::STANDARD.encode(p);
                format!(
                    r#"{{"eventSource":"aws:kinesis","kinesis":{{"sequenceNumber":"{i}","partitionKey":"k","data":"{data}"}}}}"#
                )
            })
            .collect();
        format!(r#"{{"Records":[{}]}}"#, records.join(","))
    }

    #[test]
    fn one_predict_call_serves_the_whole_batch_in_order() {
        let model = Model::embedded();
        let spec = FeatureSpec::new(model.features().to_vec(), None, "id".into());
        let good = r#"{"age":59,"sex":2,"bmi":32.1,"bp":101,"s1":157,"s2":93.2,"s3":38,"s4":4,"s5":4.8598,"s6":87}"#;
        let other = r#"{"age":48,"sex":1,"bmi":21.6,"bp":87,"s1":183,"s2":103.2,"s3":70,"s4":3,"s5":3.8918,"s6":69}"#;
        let event = kinesis_event(&[good, "not json", other]);
        let mut calls = 0;
        let scored = score_with(decode_event(&event).unwrap(), &spec, |x| {
            calls += 1;
            model.predict(x)
        });
        assert_eq!(calls, 1);

        let one = |row: Vec<f64>| model.predict(Array2::from_shape_vec((1, 10), row).unwrap())[0];
        let expected_first = one(vec![
            59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0,
        ]);
        let expected_last = one(vec![
            48.0, 1.0, 21.6, 87.0, 183.0, 103.2, 70.0, 3.0, 3.8918, 69.0,
        ]);
        assert_eq!(
            scored.records[0].verdict,
            Verdict::Predicted {
                key: None,
                value: expected_first
            }
        );
        assert!(
            matches!(&scored.records[1].verdict, Verdict::Rejected(e) if e.code() == "not_json")
        );
        assert_eq!(
            scored.records[2].verdict,
            Verdict::Predicted {
                key: None,
                value: expected_last
            }
        );
        assert_eq!(scored.records[2].meta.sequence_number.as_deref(), Some("2"));
    }

    #[test]
    fn extreme_but_finite_inputs_that_overflow_the_model_are_rejected_not_written() {
        let model = Model::embedded();
        let spec = FeatureSpec::new(model.features().to_vec(), None, "id".into());
        let huge = model
            .features()
            .iter()
            .map(|f| format!(r#""{f}":1e308"#))
            .collect::<Vec<_>>()
            .join(",");
        let huge = format!("{{{huge}}}");
        let event = kinesis_event(&[&huge]);
        let scored = score(decode_event(&event).unwrap(), &spec, &model);
        match &scored.records[0].verdict {
            Verdict::Rejected(e) => {
                assert_eq!(e.code(), "prediction_not_finite");
                assert!(e.to_string().contains("not a finite number"), "{e}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_batch_with_no_valid_record_does_not_predict() {
        let model = Model::embedded();
        let spec = FeatureSpec::new(model.features().to_vec(), None, "id".into());
        let event = kinesis_event(&["[]", "{}"]);
        let mut calls = 0;
        let scored = score_with(decode_event(&event).unwrap(), &spec, |x| {
            calls += 1;
            model.predict(x)
        });
        assert_eq!(calls, 0);
        assert!(
            scored
                .records
                .iter()
                .all(|r| matches!(r.verdict, Verdict::Rejected(_)))
        );
    }
}
