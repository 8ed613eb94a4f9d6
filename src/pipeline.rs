//! decode -> features -> one predict: the pure middle of an invocation, with no AWS types or IO.

use ndarray::Array2;

use crate::features::FeatureSpec;
use crate::model::Model;
use crate::source::{Batch, DecodeError, Input, Meta, SkipReason, Source};

/// What the pipeline concluded about one record, before any sink has seen it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Predicted { key: Option<String>, value: f64 },
    Rejected(DecodeError),
    Skipped(SkipReason),
}

/// A batch after prediction: each record's envelope and verdict, in input order.
#[derive(Debug)]
pub struct Scored<'a> {
    pub source: Source,
    pub records: Vec<Meta<'a>>,
    pub verdicts: Vec<Verdict>,
}

/// Extracts every valid record's features into one matrix, predicts it in a single call (none
/// when no record is valid), and zips the predictions back to their records.
pub fn score<'a>(batch: Batch<'a>, spec: &FeatureSpec, model: &Model) -> Scored<'a> {
    let width = spec.width();
    let mut matrix = Vec::with_capacity(batch.records.len() * width);
    let mut records = Vec::with_capacity(batch.records.len());
    let mut verdicts = Vec::with_capacity(batch.records.len());
    // Predicted verdicts are placeholders until the one predict call fills in their values.
    let mut predicted_rows = Vec::new();
    for record in batch.records {
        let verdict = match &record.input {
            Input::Skip(reason) => Verdict::Skipped(*reason),
            Input::Invalid(error) => Verdict::Rejected(error.clone()),
            input @ (Input::Json(_) | Input::Image(_)) => {
                let start = matrix.len();
                matrix.resize(start + width, 0.0);
                match spec.extract(input, &mut matrix[start..]) {
                    Ok(key) => {
                        predicted_rows.push(verdicts.len());
                        Verdict::Predicted {
                            key,
                            value: f64::NAN,
                        }
                    }
                    Err(error) => {
                        matrix.truncate(start);
                        Verdict::Rejected(error)
                    }
                }
            }
        };
        records.push(record.meta);
        verdicts.push(verdict);
    }
    if !predicted_rows.is_empty() {
        let x = Array2::from_shape_vec((predicted_rows.len(), width), matrix)
            .expect("one row of `width` values per predicted record");
        let predictions = model.predict(x);
        for (&index, value) in predicted_rows.iter().zip(predictions) {
            if let Verdict::Predicted { value: slot, .. } = &mut verdicts[index] {
                *slot = value;
            }
        }
    }
    Scored {
        source: batch.source,
        records,
        verdicts,
    }
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
        let before = model.predict_calls();
        let scored = score(decode_event(&event).unwrap(), &spec, &model);
        assert_eq!(model.predict_calls(), before + 1);

        let one = |row: Vec<f64>| model.predict(Array2::from_shape_vec((1, 10), row).unwrap())[0];
        let expected_first = one(vec![
            59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0,
        ]);
        let expected_last = one(vec![
            48.0, 1.0, 21.6, 87.0, 183.0, 103.2, 70.0, 3.0, 3.8918, 69.0,
        ]);
        assert_eq!(
            scored.verdicts[0],
            Verdict::Predicted {
                key: None,
                value: expected_first
            }
        );
        assert!(matches!(&scored.verdicts[1], Verdict::Rejected(e) if e.code() == "not_json"));
        assert_eq!(
            scored.verdicts[2],
            Verdict::Predicted {
                key: None,
                value: expected_last
            }
        );
        assert_eq!(scored.records[2].sequence_number.as_deref(), Some("2"));
    }

    #[test]
    fn a_batch_with_no_valid_record_does_not_predict() {
        let model = Model::embedded();
        let spec = FeatureSpec::new(model.features().to_vec(), None, "id".into());
        let event = kinesis_event(&["[]", "{}"]);
        let before = model.predict_calls();
        let scored = score(decode_event(&event).unwrap(), &spec, &model);
        assert_eq!(model.predict_calls(), before);
        assert!(scored
            .verdicts
            .iter()
            .all(|v| matches!(v, Verdict::Rejected(_))));
    }
}
