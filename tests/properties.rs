//! The decoders never panic and always give one outcome per record, whatever the bytes.

use base64::Engine;
use proptest::prelude::*;
use stream_infer::FeatureSpec;
use stream_infer::decode_event;
use stream_infer::model::Model;
use stream_infer::{Verdict, score};

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        "[a-z0-9 ]{0,6}".prop_map(serde_json::Value::String),
        prop::sample::select(vec!["age", "bmi", "N", "S", "M", "NULL"])
            .prop_map(|s| serde_json::json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "age", "sex", "bmi", "bp", "s1", "features", "id", "N", "S", "M", "x"
                    ]),
                    inner
                ),
                0..8
            )
            .prop_map(|entries| serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect()
            )),
        ]
    })
}

fn check(event: &str, records: usize, features_field: Option<&str>) {
    let model = Model::embedded();
    let spec = FeatureSpec::new(
        model.features().to_vec(),
        features_field.map(str::to_owned),
        "id".into(),
    );
    let batch = decode_event(event).expect("a Records array is always a stream event");
    assert_eq!(batch.records.len(), records);
    let scored = score(batch, &spec, &model);
    assert_eq!(scored.records.len(), records);
    for verdict in scored.records.iter().map(|r| &r.verdict) {
        if let Verdict::Predicted { value, .. } = verdict {
            assert!(value.is_finite());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_in_kinesis_data_never_panic(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..6),
        nested in any::<bool>(),
    ) {
        let records: Vec<serde_json::Value> = payloads.iter().enumerate().map(|(i, bytes)| serde_json::json!({
            "eventSource": "aws:kinesis",
            "kinesis": {"sequenceNumber": i.to_string(), "data": base64::engine::general_purpose::STANDARD.encode(bytes)}
        })).collect();
        let event = serde_json::json!({"Records": records}).to_string();
        check(&event, payloads.len(), nested.then_some("features"));
    }

    #[test]
    fn arbitrary_json_in_kinesis_data_and_images_never_panics(
        docs in prop::collection::vec(arbitrary_json(), 1..6),
        dynamodb in any::<bool>(),
        nested in any::<bool>(),
    ) {
        let records: Vec<serde_json::Value> = docs.iter().enumerate().map(|(i, doc)| if dynamodb {
            serde_json::json!({"eventSource": "aws:dynamodb", "eventName": "INSERT",
                "dynamodb": {"SequenceNumber": i.to_string(), "NewImage": doc}})
        } else {
            let data = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
            serde_json::json!({"eventSource": "aws:kinesis", "kinesis": {"sequenceNumber": i.to_string(), "data": data}})
        }).collect();
        let event = serde_json::json!({"Records": records}).to_string();
        check(&event, docs.len(), nested.then_some("features"));
    }

    #[test]
    fn arbitrary_envelopes_never_panic(
        envelopes in prop::collection::vec(arbitrary_json(), 1..6),
        source in prop::sample::select(vec!["aws:kinesis", "aws:dynamodb"]),
    ) {
        // The first record fixes the source; the rest are arbitrary JSON values.
        let mut records = vec![serde_json::json!({"eventSource": source})];
        records.extend(envelopes.iter().cloned());
        let event = serde_json::json!({"Records": records}).to_string();
        check(&event, records.len(), None);
    }

    #[test]
    fn arbitrary_text_as_an_event_never_panics(text in ".{0,200}") {
        let _ = decode_event(&text);
    }
}
