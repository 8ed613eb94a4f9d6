//! Kinesis Data Streams records: the envelope's `kinesis` object, and base64 `data` holding JSON,
//! compressed JSON, or a KPL aggregate of user records.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::payload::{self, DecodeLimits};
use super::{DecodeError, Input, Meta, Payload, Record, Text, invalid, kpl, text};

/// The envelope's `kinesis` object. Built by serde, or by the scanner (`scan.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KinesisData<'a> {
    #[serde(borrow, default)]
    pub(super) sequence_number: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) partition_key: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) data: Option<Raw<'a>>,
    #[serde(default)]
    pub(super) approximate_arrival_timestamp: Option<f64>,
}

/// A JSON value's text as it stands in the event, as serde's `&RawValue` holds it; the scanner
/// can build one without a second parse.
#[derive(Debug, Clone, Copy)]
pub(super) struct Raw<'a>(pub(super) &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|raw| Raw(raw.get()))
    }
}

/// The fields of [`KinesisData`], to name a duplicated one by its object.
pub(super) const FIELDS: &[&str] = &[
    "sequenceNumber",
    "partitionKey",
    "data",
    "approximateArrivalTimestamp",
];

impl<'a> KinesisData<'a> {
    /// The record's `sequenceNumber`, when it has one.
    pub(super) fn sequence_number(self) -> Option<Cow<'a, str>> {
        text(self.sequence_number)
    }
}

/// Decodes one Kinesis record's `kinesis` object into `out`: its metadata and JSON bytes, or, for
/// a KPL aggregate, one record per user record.
pub(super) fn decode<'a>(
    mut meta: Meta<'a>,
    kinesis: Option<KinesisData<'a>>,
    limits: DecodeLimits,
    out: &mut Vec<Record<'a>>,
) {
    match bytes(&mut meta, kinesis) {
        Ok(bytes) if kpl::is_aggregate(&bytes) => unpack(meta, &bytes, limits, out),
        Ok(bytes) => out.push(match payload::open(bytes, limits) {
            Ok(json) => Record {
                meta,
                input: Input::Json(json),
            },
            Err(e) => invalid(meta, e),
        }),
        Err(e) => out.push(invalid(meta, e)),
    }
}

/// The user records of a KPL aggregate, each with the aggregate's sequence number, its own
/// sub-sequence number and its own partition key. A corrupt aggregate is one `bad_aggregate`.
fn unpack<'a>(meta: Meta<'a>, bytes: &[u8], limits: DecodeLimits, out: &mut Vec<Record<'a>>) {
    let aggregate = match kpl::decode(bytes) {
        Ok(aggregate) => aggregate,
        Err(detail) => {
            let detail = format!("{} bytes: {detail}", bytes.len());
            out.push(invalid(meta, DecodeError::BadAggregate { detail }));
            return;
        }
    };
    let keys = aggregate.partition_key_table;
    out.reserve(aggregate.records.len());
    for (sub, user) in aggregate.records.into_iter().enumerate() {
        // `kpl::decode` has checked every index against the table.
        let key = usize::try_from(user.partition_key_index)
            .ok()
            .and_then(|i| keys.get(i));
        let meta = Meta {
            sequence_number: meta.sequence_number.clone(),
            sub_sequence_number: Some(sub as u64),
            partition_key: key.map(|k| Cow::Owned(k.clone())),
            source_arn: meta.source_arn.clone(),
            event_time: meta.event_time,
            payload: Some(Payload::UserRecord(user.data.clone())),
        };
        out.push(match payload::open(user.data, limits) {
            Ok(json) => Record {
                meta,
                input: Input::Json(json),
            },
            Err(e) => invalid(meta, e),
        });
    }
}

/// The record's base64-decoded data, with its metadata filled in from the `kinesis` object.
fn bytes<'a>(
    meta: &mut Meta<'a>,
    kinesis: Option<KinesisData<'a>>,
) -> Result<Vec<u8>, DecodeError> {
    let Some(data) = kinesis else {
        let detail = "record has no `kinesis` object".to_owned();
        return Err(DecodeError::BadEnvelope { detail });
    };
    meta.sequence_number = text(data.sequence_number);
    meta.partition_key = text(data.partition_key);
    meta.event_time = data.approximate_arrival_timestamp;
    meta.payload = data.data.map(|d| Payload::KinesisData(d.0));
    if meta.sequence_number.is_none() {
        let detail = "`kinesis.sequenceNumber` is missing".to_owned();
        return Err(DecodeError::BadEnvelope { detail });
    }
    let Some(encoded) = data.data else {
        let detail = "`kinesis.data` is missing".to_owned();
        return Err(DecodeError::BadEnvelope { detail });
    };
    // Base64 never needs JSON escapes, so the raw text between the quotes is the value itself.
    let Some(encoded) = encoded
        .0
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
    else {
        let detail = format!("`kinesis.data` is {}, not a string", encoded.0);
        return Err(DecodeError::NotBase64 { detail });
    };
    meta.payload = Some(Payload::KinesisData(encoded));
    // A producer may escape `/` as `\/`; only then is the string unescaped into a copy.
    let unescaped: Cow<'_, str> = if encoded.contains('\\') {
        match serde_json::from_str::<String>(data.data.map_or("", |d| d.0)) {
            Ok(s) => Cow::Owned(s),
            Err(e) => {
                let detail = e.to_string();
                return Err(DecodeError::NotBase64 { detail });
            }
        }
    } else {
        Cow::Borrowed(encoded)
    };
    super::base64_decode(unescaped.as_bytes()).map_err(|e| DecodeError::NotBase64 {
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use crate::source::kpl::tests::aggregate;
    use crate::source::{
        DecodeError, DecodeLimits, Input, Payload, decode_event, decode_event_with,
    };

    fn one(kinesis: &str) -> crate::source::Record<'static> {
        let event = format!(
            r#"{{"Records":[{{"eventSource":"aws:kinesis","eventSourceARN":"arn:s","kinesis":{kinesis}}}]}}"#
        );
        let event: &'static str = Box::leak(event.into_boxed_str());
        decode_event(event).unwrap().records.pop().unwrap()
    }

    #[test]
    fn decodes_base64_data_and_metadata() {
        let record = one(
            r#"{"sequenceNumber":"49","partitionKey":"p-1","data":"eyJhIjoxfQ==","approximateArrivalTimestamp":1700000000.5}"#,
        );
        assert_eq!(record.meta.sequence_number.as_deref(), Some("49"));
        assert_eq!(record.meta.partition_key.as_deref(), Some("p-1"));
        assert_eq!(record.meta.source_arn.as_deref(), Some("arn:s"));
        assert_eq!(record.meta.event_time, Some(1700000000.5));
        assert_eq!(
            record.meta.payload,
            Some(Payload::KinesisData("eyJhIjoxfQ=="))
        );
        match record.input {
            Input::Json(bytes) => assert_eq!(bytes, br#"{"a":1}"#),
            other => panic!("expected JSON bytes, got {other:?}"),
        }
    }

    fn error_of(kinesis: &str) -> DecodeError {
        match one(kinesis).input {
            Input::Invalid(e) => e,
            other => panic!("expected an invalid record, got {other:?}"),
        }
    }

    #[test]
    fn data_that_is_not_base64_is_rejected() {
        let e = error_of(r#"{"sequenceNumber":"1","data":"not base64!"}"#);
        assert_eq!(e.code(), "not_base64");
    }

    #[test]
    fn escaped_slashes_in_data_are_unescaped() {
        // "eyI/ISI6MX0=" is the base64 of `{"?!":1}`; a JSON producer may write its `/` as `\/`.
        let record = one(r#"{"sequenceNumber":"1","data":"eyI\/ISI6MX0="}"#);
        match record.input {
            Input::Json(bytes) => assert_eq!(bytes, br#"{"?!":1}"#),
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    #[test]
    fn data_that_is_not_a_string_is_rejected() {
        let e = error_of(r#"{"sequenceNumber":"1","data":42}"#);
        assert_eq!(e.code(), "not_base64");
        assert!(e.to_string().contains("42, not a string"), "{e}");
    }

    #[test]
    fn missing_data_or_sequence_number_is_a_bad_envelope() {
        let e = error_of(r#"{"sequenceNumber":"1"}"#);
        assert_eq!(
            e.to_string(),
            "record envelope is malformed: `kinesis.data` is missing"
        );
        let e = error_of(r#"{"data":"e30="}"#);
        assert_eq!(
            e.to_string(),
            "record envelope is malformed: `kinesis.sequenceNumber` is missing"
        );
    }

    fn encode(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn batch(records: &[&str], limits: DecodeLimits) -> Vec<crate::source::Record<'static>> {
        let records: Vec<String> = records
            .iter()
            .map(|kinesis| {
                format!(r#"{{"eventSource":"aws:kinesis","eventSourceARN":"arn:s","kinesis":{kinesis}}}"#)
            })
            .collect();
        let event = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let event: &'static str = Box::leak(event.into_boxed_str());
        decode_event_with(event, limits).unwrap().records
    }

    fn json<'i>(input: &'i Input<'_>) -> &'i [u8] {
        match input {
            Input::Json(bytes) => bytes,
            other => panic!("expected JSON bytes, got {other:?}"),
        }
    }

    #[test]
    fn an_aggregate_becomes_one_record_per_user_record() {
        let aggregate = aggregate(&[
            ("k-a", br#"{"n":0}"#),
            ("k-b", &gzip(br#"{"n":1}"#)),
            ("k-a", b"\xEF\xBB\xBF{\"n\":2}"),
        ]);
        let records = batch(
            &[
                r#"{"sequenceNumber":"10","partitionKey":"p","data":"e30="}"#,
                &format!(
                    r#"{{"sequenceNumber":"11","partitionKey":"k-a","data":"{}","approximateArrivalTimestamp":7.5}}"#,
                    encode(&aggregate)
                ),
                r#"{"sequenceNumber":"12","partitionKey":"p","data":"e30="}"#,
            ],
            DecodeLimits::default(),
        );
        let ids: Vec<String> = records
            .iter()
            .enumerate()
            .map(|(i, r)| r.meta.id(i).into_owned())
            .collect();
        assert_eq!(ids, ["10", "11:0", "11:1", "11:2", "12"]);
        let keys: Vec<_> = records
            .iter()
            .map(|r| r.meta.partition_key.as_deref().unwrap())
            .collect();
        assert_eq!(keys, ["p", "k-a", "k-b", "k-a", "p"]);
        for (n, record) in records[1..4].iter().enumerate() {
            assert_eq!(json(&record.input), format!(r#"{{"n":{n}}}"#).as_bytes());
            assert_eq!(record.meta.sequence_number.as_deref(), Some("11"));
            assert_eq!(record.meta.sub_sequence_number, Some(n as u64));
            assert_eq!(record.meta.source_arn.as_deref(), Some("arn:s"));
            assert_eq!(record.meta.event_time, Some(7.5));
        }
        // Each user record keeps its own data, as it was packed, for the dead-letter queue.
        assert_eq!(
            records[2].meta.payload,
            Some(Payload::UserRecord(gzip(br#"{"n":1}"#)))
        );
        assert_eq!(records[0].meta.sub_sequence_number, None);
    }

    #[test]
    fn user_records_are_rejected_on_their_own() {
        let aggregate = aggregate(&[
            ("k", br#"{"n":0}"#),
            ("k", &gzip(&[b' '; 2048])),
            ("k", b"\x00\x01binary"),
            ("k", br#"{"n":3}"#),
        ]);
        let records = batch(
            &[&format!(
                r#"{{"sequenceNumber":"5","data":"{}"}}"#,
                encode(&aggregate)
            )],
            DecodeLimits {
                max_decompressed_bytes: 1024,
            },
        );
        assert_eq!(records.len(), 4);
        assert_eq!(json(&records[0].input), br#"{"n":0}"#);
        assert_eq!(json(&records[3].input), br#"{"n":3}"#);
        let codes: Vec<_> = records[1..3]
            .iter()
            .map(|r| match &r.input {
                Input::Invalid(e) => e.code(),
                other => panic!("expected invalid, got {other:?}"),
            })
            .collect();
        assert_eq!(codes, ["payload_too_large", "not_json"]);
    }

    #[test]
    fn a_corrupt_aggregate_is_one_bad_aggregate_record() {
        let mut bytes = aggregate(&[("k", br#"{"n":0}"#), ("k", br#"{"n":1}"#)]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        let records = batch(
            &[
                &format!(
                    r#"{{"sequenceNumber":"5","partitionKey":"k","data":"{}"}}"#,
                    encode(&bytes)
                ),
                r#"{"sequenceNumber":"6","data":"e30="}"#,
            ],
            DecodeLimits::default(),
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].meta.id(0), "5");
        assert_eq!(records[0].meta.partition_key.as_deref(), Some("k"));
        match &records[0].input {
            Input::Invalid(e) => {
                assert_eq!(e.code(), "bad_aggregate");
                let text = e.to_string();
                assert!(
                    text.starts_with(&format!(
                        "KPL aggregated record is corrupt: {} bytes: the MD5 trailer ",
                        bytes.len()
                    )),
                    "{text}"
                );
            }
            other => panic!("expected bad_aggregate, got {other:?}"),
        }
        assert_eq!(json(&records[1].input), b"{}");
    }

    #[test]
    fn compressed_data_and_a_byte_order_mark_are_read_as_json() {
        let records = batch(
            &[
                &format!(
                    r#"{{"sequenceNumber":"1","data":"{}"}}"#,
                    encode(&gzip(br#"{"a":1}"#))
                ),
                &format!(
                    r#"{{"sequenceNumber":"2","data":"{}"}}"#,
                    encode(b"\xEF\xBB\xBF{\"a\":2}")
                ),
                &format!(
                    r#"{{"sequenceNumber":"3","data":"{}"}}"#,
                    encode(&gzip(&[b' '; 100]))
                ),
            ],
            DecodeLimits {
                max_decompressed_bytes: 99,
            },
        );
        assert_eq!(json(&records[0].input), br#"{"a":1}"#);
        assert_eq!(json(&records[1].input), br#"{"a":2}"#);
        assert!(
            matches!(&records[2].input, Input::Invalid(e) if e.code() == "payload_too_large"),
            "{:?}",
            records[2].input
        );
    }

    #[test]
    fn a_mistyped_kinesis_object_is_a_bad_envelope() {
        let e = error_of(r#"{"sequenceNumber":1,"data":"e30="}"#);
        assert_eq!(e.code(), "bad_envelope");
        assert!(e.to_string().contains("`kinesis` object"), "{e}");
    }
}
