//! DynamoDB Streams records: the envelope's `dynamodb` object and its `NewImage` attribute map.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{DecodeError, Input, Meta, Payload, Record, SkipReason, Text, invalid, scan, text};

/// The envelope's `dynamodb` object. Built by serde, or by the scanner (`scan.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct StreamRecord<'a> {
    #[serde(borrow, default)]
    pub(super) sequence_number: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) keys: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub(super) new_image: Option<&'a RawValue>,
    #[serde(default)]
    pub(super) approximate_creation_date_time: Option<f64>,
}

/// The fields of [`StreamRecord`], to name a duplicated one by its object.
pub(super) const FIELDS: &[&str] = &[
    "SequenceNumber",
    "Keys",
    "NewImage",
    "ApproximateCreationDateTime",
];

impl<'a> StreamRecord<'a> {
    /// The record's `SequenceNumber`, when it has one.
    pub(super) fn sequence_number(self) -> Option<Cow<'a, str>> {
        text(self.sequence_number)
    }
}

/// Decodes one DynamoDB Streams record: INSERT and MODIFY carry a `NewImage` to predict on,
/// REMOVE is skipped.
pub(super) fn decode<'a>(
    mut meta: Meta<'a>,
    event_name: Option<Cow<'a, str>>,
    dynamodb: Option<StreamRecord<'a>>,
) -> Record<'a> {
    let Some(stream) = dynamodb else {
        let detail = "record has no `dynamodb` object".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    };
    meta.sequence_number = text(stream.sequence_number);
    // Compact JSON, so the key reads the same however the event was formatted. Keys as DynamoDB
    // writes them already are, and are borrowed as they stand.
    meta.partition_key = stream.keys.map(|keys| {
        if scan::is_compact(keys.get()) {
            Cow::Borrowed(keys.get())
        } else {
            serde_json::from_str::<serde_json::Value>(keys.get())
                .map_or_else(|_| Cow::Borrowed(keys.get()), |v| Cow::Owned(v.to_string()))
        }
    });
    meta.event_time = stream.approximate_creation_date_time;
    meta.payload = stream.new_image.map(|image| Payload::Image(image.get()));
    if meta.sequence_number.is_none() {
        let detail = "`dynamodb.SequenceNumber` is missing".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    }
    let event_name = event_name.as_deref().unwrap_or("");
    let input = match (event_name, stream.new_image) {
        ("REMOVE", _) => Input::Skip(SkipReason::Remove),
        ("INSERT" | "MODIFY", Some(image)) => Input::Image(image),
        ("INSERT" | "MODIFY", None) => Input::Invalid(DecodeError::ImageMissing {
            event_name: event_name.to_owned(),
        }),
        (other, _) => Input::Invalid(DecodeError::BadEnvelope {
            detail: format!("eventName {other:?} is not INSERT, MODIFY or REMOVE"),
        }),
    };
    Record { meta, input }
}

#[cfg(test)]
mod tests {
    use crate::source::{DecodeError, Input, SkipReason, decode_event};

    fn one(event_name: &str, dynamodb: &str) -> crate::source::Record<'static> {
        let event = format!(
            r#"{{"Records":[{{"eventSource":"aws:dynamodb","eventName":"{event_name}","dynamodb":{dynamodb}}}]}}"#
        );
        let event: &'static str = Box::leak(event.into_boxed_str());
        decode_event(event).unwrap().records.pop().unwrap()
    }

    #[test]
    fn insert_yields_the_new_image_and_metadata() {
        let record = one(
            "INSERT",
            r#"{"SequenceNumber":"111","Keys":{"id":{"S":"a"}},"NewImage":{"age":{"N":"59"}},"ApproximateCreationDateTime":1700000000}"#,
        );
        assert_eq!(record.meta.sequence_number.as_deref(), Some("111"));
        assert_eq!(
            record.meta.partition_key.as_deref(),
            Some(r#"{"id":{"S":"a"}}"#)
        );
        assert_eq!(record.meta.event_time, Some(1700000000.0));
        match record.input {
            Input::Image(image) => assert_eq!(image.get(), r#"{"age":{"N":"59"}}"#),
            other => panic!("expected an image, got {other:?}"),
        }
    }

    #[test]
    fn remove_is_skipped() {
        let record = one(
            "REMOVE",
            r#"{"SequenceNumber":"2","Keys":{"id":{"S":"a"}}}"#,
        );
        assert!(matches!(record.input, Input::Skip(SkipReason::Remove)));
    }

    #[test]
    fn a_missing_new_image_names_the_stream_view_type() {
        let record = one(
            "MODIFY",
            r#"{"SequenceNumber":"3","Keys":{"id":{"S":"a"}}}"#,
        );
        match record.input {
            Input::Invalid(e @ DecodeError::ImageMissing { .. }) => {
                assert_eq!(e.code(), "image_missing");
                assert!(e.to_string().contains("NEW_AND_OLD_IMAGES"), "{e}");
            }
            other => panic!("expected image_missing, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_event_name_is_a_bad_envelope() {
        let record = one("UPSERT", r#"{"SequenceNumber":"4","NewImage":{}}"#);
        assert!(matches!(
            record.input,
            Input::Invalid(DecodeError::BadEnvelope { .. })
        ));
    }
}
