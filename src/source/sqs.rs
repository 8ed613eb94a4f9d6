//! SQS messages: the `body` as JSON text, or as base64 of JSON bytes (possibly compressed) when
//! the message attribute `content-transfer-encoding` says `base64`; the `messageId` is the
//! record's id, and a queue whose ARN ends in `.fifo` orders its messages by `MessageGroupId`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::payload::{self, DecodeLimits};
use super::{DecodeError, Input, Meta, Payload, Record, Source, Text, invalid, text};

/// The message attribute that declares a base64 body (its name is matched without regard to
/// ASCII case; its one accepted value is `base64`, in any case).
pub const ENCODING_ATTRIBUTE: &str = "content-transfer-encoding";

/// The system attributes read from a message's `attributes` object; the rest are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attributes<'a> {
    /// Epoch milliseconds, as a string.
    #[serde(borrow, default)]
    sent_timestamp: Option<Text<'a>>,
    /// Set on FIFO queues (and on fair standard queues, where it does not order anything).
    #[serde(borrow, default)]
    message_group_id: Option<Text<'a>>,
}

/// The fields of the `attributes` object that are read, to name a duplicated one by its object.
pub(super) const FIELDS: &[&str] = &["SentTimestamp", "MessageGroupId"];

/// One entry of `messageAttributes`; only a string value is ever read.
#[derive(Deserialize)]
struct MessageAttribute<'a> {
    #[serde(rename = "stringValue", borrow, default)]
    string_value: Option<Text<'a>>,
}

/// The parts of a record's envelope that an SQS message uses, as read by the shared envelope.
pub(super) struct Message<'a> {
    pub(super) message_id: Option<Text<'a>>,
    pub(super) body: Option<Text<'a>>,
    pub(super) attributes: Option<&'a RawValue>,
    pub(super) message_attributes: Option<&'a RawValue>,
}

/// Decodes one SQS message: its metadata, and the JSON bytes of its body.
pub(super) fn decode<'a>(
    mut meta: Meta<'a>,
    message: Message<'a>,
    limits: DecodeLimits,
) -> Record<'a> {
    meta.sequence_number = text(message.message_id);
    if let Err(e) = read_attributes(&mut meta, message.attributes) {
        return invalid(meta, e);
    }
    let base64 = match encoding(message.message_attributes) {
        Ok(base64) => base64,
        Err(e) => return invalid(meta, e),
    };
    let body = text(message.body);
    meta.payload = body.clone().map(|body| Payload::SqsBody { body, base64 });
    if meta.sequence_number.is_none() {
        let detail = "`messageId` is missing".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    }
    let Some(body) = body else {
        let detail = "`body` is missing".to_owned();
        return invalid(meta, DecodeError::BadEnvelope { detail });
    };
    let bytes = if base64 {
        match super::base64_decode(body.trim().as_bytes()) {
            Ok(bytes) => bytes,
            Err(e) => {
                let detail = format!("body declared base64 by `{ENCODING_ATTRIBUTE}`: {e}");
                return invalid(meta, DecodeError::NotBase64 { detail });
            }
        }
    } else {
        body.into_owned().into_bytes()
    };
    match payload::open(bytes, limits) {
        Ok(json) => Record {
            meta,
            input: Input::Json(json),
        },
        Err(e) => invalid(meta, e),
    }
}

/// `SentTimestamp` becomes the record's event time, `MessageGroupId` its partition key.
fn read_attributes<'a>(meta: &mut Meta<'a>, raw: Option<&'a RawValue>) -> Result<(), DecodeError> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Ok(());
    };
    let attributes: Attributes<'a> =
        serde_json::from_str(raw.get()).map_err(|e| match super::duplicate_field(&e) {
            Some(field) => DecodeError::DuplicateField { field },
            None => DecodeError::BadEnvelope {
                detail: format!("`attributes` object: {e}"),
            },
        })?;
    meta.partition_key = text(attributes.message_group_id);
    if let Some(Text(sent)) = attributes.sent_timestamp {
        let millis: u64 = sent.parse().map_err(|_| DecodeError::BadEnvelope {
            detail: format!("`attributes.SentTimestamp` is {sent:?}, not epoch milliseconds"),
        })?;
        meta.event_time = Some(millis as f64 / 1000.0);
    }
    Ok(())
}

/// Whether the message declares a base64 body. Any other declared encoding is refused rather
/// than guessed at.
fn encoding(raw: Option<&RawValue>) -> Result<bool, DecodeError> {
    let Some(raw) = raw.filter(|r| r.get() != "null" && r.get() != "{}") else {
        return Ok(false);
    };
    let attributes: BTreeMap<Cow<'_, str>, MessageAttribute<'_>> = serde_json::from_str(raw.get())
        .map_err(|e| DecodeError::BadEnvelope {
            detail: format!("`messageAttributes` object: {e}"),
        })?;
    let declared = attributes
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(ENCODING_ATTRIBUTE));
    match declared {
        None => Ok(false),
        Some((
            _,
            MessageAttribute {
                string_value: Some(Text(value)),
            },
        )) if value.eq_ignore_ascii_case("base64") => Ok(true),
        Some((name, attribute)) => {
            let value = attribute
                .string_value
                .as_ref()
                .map_or("no string value", |t| t.0.as_ref());
            Err(DecodeError::BadEnvelope {
                detail: format!(
                    "message attribute `{name}` is {value:?}; the only encoding understood is \"base64\""
                ),
            })
        }
    }
}

/// Whether an SQS source ARN names a FIFO queue: FIFO queue names end in `.fifo`.
pub fn is_fifo_arn(arn: &str) -> bool {
    arn.rsplit(':')
        .next()
        .is_some_and(|name| name.ends_with(".fifo"))
}

/// The FIFO message group a record belongs to: its `MessageGroupId`, when the batch is from a
/// FIFO queue. `None` for standard queues (whose group ids order nothing) and other sources.
pub(crate) fn fifo_group<'m>(source: Source, meta: &'m Meta<'m>) -> Option<&'m str> {
    let fifo = source == Source::Sqs && meta.source_arn.as_deref().is_some_and(is_fifo_arn);
    if fifo {
        meta.partition_key.as_deref()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::{fifo_group, is_fifo_arn};
    use crate::source::{DecodeError, Input, Payload, Source, decode_event};

    const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:scores";

    fn message(fields: &str) -> String {
        format!(
            r#"{{"eventSource":"aws:sqs","eventSourceARN":"{ARN}","awsRegion":"us-east-1","receiptHandle":"h",{fields}}}"#
        )
    }

    fn one(fields: &str) -> crate::source::Record<'static> {
        let event = format!(r#"{{"Records":[{}]}}"#, message(fields));
        let event: &'static str = Box::leak(event.into_boxed_str());
        let batch = decode_event(event).unwrap();
        assert_eq!(batch.source, Source::Sqs);
        batch.records.into_iter().next().unwrap()
    }

    fn json(record: &crate::source::Record<'_>) -> String {
        match &record.input {
            Input::Json(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            other => panic!("expected JSON bytes, got {other:?}"),
        }
    }

    fn error(record: crate::source::Record<'_>) -> DecodeError {
        match record.input {
            Input::Invalid(e) => e,
            other => panic!("expected an invalid record, got {other:?}"),
        }
    }

    #[test]
    fn a_json_body_is_the_payload_and_the_message_id_the_id() {
        let record = one(
            r#""messageId":"m-1","body":"{\"age\":59}","md5OfBody":"x","attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1700000000250","SenderId":"A"},"messageAttributes":{}"#,
        );
        assert_eq!(json(&record), r#"{"age":59}"#);
        assert_eq!(record.meta.id(0), "m-1");
        assert_eq!(record.meta.event_time, Some(1_700_000_000.25));
        assert_eq!(record.meta.source_arn.as_deref(), Some(ARN));
        assert_eq!(record.meta.partition_key, None);
        assert_eq!(
            record.meta.payload,
            Some(Payload::SqsBody {
                body: r#"{"age":59}"#.into(),
                base64: false
            })
        );
    }

    #[test]
    fn a_base64_body_is_decoded_when_the_attribute_says_so() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(br#"{"age":61}"#);
        let record = one(&format!(
            r#""messageId":"m-2","body":"{encoded}","attributes":{{}},"messageAttributes":{{"Content-Transfer-Encoding":{{"stringValue":"BASE64","stringListValues":[],"binaryListValues":[],"dataType":"String"}}}}"#
        ));
        assert_eq!(json(&record), r#"{"age":61}"#);
        // Without the attribute the same body is text, and not JSON.
        let record = one(&format!(r#""messageId":"m-3","body":"{encoded}""#));
        assert_eq!(json(&record), encoded);
    }

    #[test]
    fn a_gzipped_base64_body_is_decompressed() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(br#"{"age":7}"#).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let record = one(&format!(
            r#""messageId":"m","body":"{encoded}","messageAttributes":{{"content-transfer-encoding":{{"stringValue":"base64","dataType":"String"}}}}"#
        ));
        assert_eq!(json(&record), r#"{"age":7}"#);
    }

    #[test]
    fn a_byte_order_mark_before_the_body_is_skipped() {
        let record = one(r#""messageId":"m","body":"\ufeff{\"age\":1}""#);
        assert_eq!(json(&record), r#"{"age":1}"#);
    }

    #[test]
    fn a_body_declared_base64_that_is_not_is_rejected() {
        let e = error(one(
            r#""messageId":"m","body":"{\"age\":1}","messageAttributes":{"content-transfer-encoding":{"stringValue":"base64","dataType":"String"}}"#,
        ));
        assert_eq!(e.code(), "not_base64");
        assert!(e.to_string().contains("content-transfer-encoding"), "{e}");
    }

    #[test]
    fn an_unknown_declared_encoding_is_refused() {
        let e = error(one(
            r#""messageId":"m","body":"x","messageAttributes":{"content-transfer-encoding":{"stringValue":"quoted-printable","dataType":"String"}}"#,
        ));
        assert_eq!(e.code(), "bad_envelope");
        assert!(e.to_string().contains("\"quoted-printable\""), "{e}");
    }

    #[test]
    fn bad_bodies_keep_their_id_and_are_rejected_alone() {
        let event = format!(
            r#"{{"Records":[{},{},{},{}]}}"#,
            message(r#""messageId":"a","body":"{\"age\":""#),
            message(r#""messageId":"b","body":7"#),
            message(r#""messageId":"c","attributes":{"SentTimestamp":"yesterday"},"body":"{}""#),
            message(r#""body":"{}""#),
        );
        let batch = decode_event(&event).unwrap();
        let found: Vec<(String, &str)> = batch
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| match &r.input {
                Input::Invalid(e) => (r.meta.id(i).into_owned(), e.code()),
                // The truncated JSON is left for the feature reader to refuse as not_json.
                Input::Json(_) => (r.meta.id(i).into_owned(), "json"),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            found,
            [
                ("a".to_owned(), "json"),
                ("b".to_owned(), "bad_envelope"),
                ("c".to_owned(), "bad_envelope"),
                ("#3".to_owned(), "bad_envelope"),
            ]
        );
        // The salvaged record still knows its message id.
        assert_eq!(batch.records[1].meta.sequence_number.as_deref(), Some("b"));
    }

    #[test]
    fn fifo_queues_are_told_by_their_arn() {
        assert!(is_fifo_arn(
            "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
        ));
        assert!(!is_fifo_arn("arn:aws:sqs:us-east-1:123456789012:orders"));
        assert!(!is_fifo_arn("arn:aws:sqs:us-east-1:123456789012:fifo"));
        assert!(!is_fifo_arn(
            "arn:aws:sqs:us-east-1:123456789012:orders.fifo-copy"
        ));
        assert!(!is_fifo_arn(""));
    }

    #[test]
    fn only_a_fifo_queue_gives_records_a_message_group() {
        let fields = r#""messageId":"m","body":"{}","attributes":{"MessageGroupId":"g-1","SequenceNumber":"1","MessageDeduplicationId":"d"}"#;
        let standard = one(fields);
        assert_eq!(standard.meta.partition_key.as_deref(), Some("g-1"));
        assert_eq!(fifo_group(Source::Sqs, &standard.meta), None);

        let event = format!(
            r#"{{"Records":[{}]}}"#,
            message(fields).replace(ARN, "arn:aws:sqs:us-east-1:1:q.fifo")
        );
        let batch = decode_event(&event).unwrap();
        assert_eq!(fifo_group(Source::Sqs, &batch.records[0].meta), Some("g-1"));
        assert_eq!(fifo_group(Source::Kinesis, &batch.records[0].meta), None);
    }
}
