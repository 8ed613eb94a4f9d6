//! Kinesis Data Streams records: the envelope's `kinesis` object, and base64 `data` holding JSON.

use std::borrow::Cow;

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{DecodeError, Input, Meta, Payload, Record, Text, invalid, text};

/// The envelope's `kinesis` object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KinesisData<'a> {
    #[serde(borrow, default)]
    sequence_number: Option<Text<'a>>,
    #[serde(borrow, default)]
    partition_key: Option<Text<'a>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    approximate_arrival_timestamp: Option<f64>,
}

/// Decodes one Kinesis record's `kinesis` object into its metadata and JSON bytes.
pub(super) fn decode<'a>(mut meta: Meta<'a>, kinesis: Option<KinesisData<'a>>) -> Record<'a> {
    let Some(data) = kinesis else {
        let detail = "record has no `kinesis` object".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    };
    meta.sequence_number = text(data.sequence_number);
    meta.partition_key = text(data.partition_key);
    meta.event_time = data.approximate_arrival_timestamp;
    meta.payload = data.data.map(|d| Payload::KinesisData(d.get()));
    if meta.sequence_number.is_none() {
        let detail = "`kinesis.sequenceNumber` is missing".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    }
    let Some(encoded) = data.data else {
        let detail = "`kinesis.data` is missing".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    };
    // Base64 never needs JSON escapes, so the raw text between the quotes is the value itself.
    let Some(encoded) = encoded
        .get()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
    else {
        let detail = format!("`kinesis.data` is {}, not a string", encoded.get());
        return invalid(meta, DecodeError::NotBase64 { detail });
    };
    meta.payload = Some(Payload::KinesisData(encoded));
    // A producer may escape `/` as `\/`; only then is the string unescaped into a copy.
    let unescaped: Cow<'_, str> = if encoded.contains('\\') {
        match serde_json::from_str::<String>(data.data.map_or("", RawValue::get)) {
            Ok(s) => Cow::Owned(s),
            Err(e) => {
                let detail = e.to_string();
                return invalid(meta, DecodeError::NotBase64 { detail });
            }
        }
    } else {
        Cow::Borrowed(encoded)
    };
    match base64::engine::general_purpose::STANDARD.decode(unescaped.as_bytes()) {
        Ok(bytes) => Record {
            meta,
            input: Input::Json(bytes),
        },
        Err(e) => invalid(
            meta,
            DecodeError::NotBase64 {
                detail: e.to_string(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::source::{DecodeError, Input, Payload, decode_event};

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
        // "/w==" is the base64 of the byte 0xff; a JSON producer may write it as "\/w==".
        let record = one(r#"{"sequenceNumber":"1","data":"\/w=="}"#);
        match record.input {
            Input::Json(bytes) => assert_eq!(bytes, [0xff]),
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

    #[test]
    fn a_mistyped_kinesis_object_is_a_bad_envelope() {
        let e = error_of(r#"{"sequenceNumber":1,"data":"e30="}"#);
        assert_eq!(e.code(), "bad_envelope");
        assert!(e.to_string().contains("`kinesis` object"), "{e}");
    }
}
