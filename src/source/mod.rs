//! Stream event decoding: one lenient pass over a Lambda event that yields one value per record.
//!
//! The typed `aws_lambda_events` structs reject a whole event when one field of one record is
//! malformed. Here each record's envelope is parsed on its own, where it stands in the event, so
//! a broken record becomes a [`DecodeError`] for that record alone. An event of an unusual shape
//! is first split into raw records (`decode_event_reference`), which gives the same result.
//!
//! A Kinesis record's data may be a KPL aggregate (`kpl.rs`), which becomes one record per user
//! record, and a payload may be compressed or start with a byte-order mark (`payload.rs`).

pub mod dynamodb;
#[cfg(test)]
mod equivalence;
pub mod kinesis;
mod kpl;
mod payload;
mod scan;
pub mod sqs;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::reason::Reason;

// For the `not_json` message built in `features` (`describe(bytes)` says "binary data", "looks
// like gzip", ...).
pub(crate) use payload::describe;
pub use payload::{DEFAULT_MAX_DECOMPRESSED_BYTES, DecodeLimits};

/// The event source a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Kinesis,
    Dynamodb,
    Sqs,
}

impl Source {
    /// The `eventSource` value AWS puts on every record.
    pub fn event_source(self) -> &'static str {
        match self {
            Source::Kinesis => "aws:kinesis",
            Source::Dynamodb => "aws:dynamodb",
            Source::Sqs => "aws:sqs",
        }
    }

    fn from_event_source(value: &str) -> Option<Source> {
        match value {
            "aws:kinesis" => Some(Source::Kinesis),
            "aws:dynamodb" => Some(Source::Dynamodb),
            "aws:sqs" => Some(Source::Sqs),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Kinesis => "kinesis",
            Source::Dynamodb => "dynamodb",
            Source::Sqs => "sqs",
        }
    }
}

/// What the envelope says about a record: kept for the sinks, the dead-letter queue and the
/// response. Borrowed from the event, which outlives the invocation's work.
#[derive(Debug, Clone, Default)]
pub struct Meta<'a> {
    /// Kinesis `sequenceNumber` or DynamoDB `SequenceNumber`: the id Lambda checkpoints on. For
    /// a user record of a KPL aggregate, the aggregate's: Lambda checkpoints whole records only.
    /// For an SQS message, its `messageId`: the id `batchItemFailures` names.
    pub sequence_number: Option<Cow<'a, str>>,
    /// A KPL user record's position in its aggregate; `None` for a record that was not aggregated.
    pub sub_sequence_number: Option<u64>,
    /// Kinesis `partitionKey`; for DynamoDB, the item's `Keys` as compact JSON; for SQS, the
    /// `MessageGroupId`.
    pub partition_key: Option<Cow<'a, str>>,
    pub source_arn: Option<Cow<'a, str>>,
    /// Arrival (Kinesis), creation (DynamoDB) or sent (SQS) time, in seconds since the epoch.
    pub event_time: Option<f64>,
    /// The record's payload as it arrived, kept for dead-lettering.
    pub payload: Option<Payload<'a>>,
}

/// A record's payload as it arrived, borrowed from the event (owned for a KPL user record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Kinesis `data`: base64 text (or, when it is not even a string, its raw JSON).
    KinesisData(&'a str),
    /// A DynamoDB `NewImage`, as DynamoDB JSON.
    Image(&'a str),
    /// The whole record, when its envelope could not be read.
    Record(&'a str),
    /// A KPL user record's data, as it was packed in the aggregate.
    UserRecord(Vec<u8>),
    /// An SQS message's `body` (unescaped), and whether it was declared base64.
    SqsBody { body: Cow<'a, str>, base64: bool },
}

impl Meta<'_> {
    /// The record's id in outputs: its sequence number, `<sequence number>:<sub-sequence
    /// number>` for a KPL user record, or `#index` when the envelope had no sequence number.
    pub fn id(&self, index: usize) -> Cow<'_, str> {
        match (&self.sequence_number, self.sub_sequence_number) {
            (Some(seq), None) => Cow::Borrowed(seq.as_ref()),
            (Some(seq), Some(sub)) => Cow::Owned(format!("{seq}:{sub}")),
            (None, _) => Cow::Owned(format!("#{index}")),
        }
    }
}

/// The part of a record that carries its features, not yet interpreted.
#[derive(Debug)]
pub enum Input<'a> {
    /// Kinesis `data`, base64-decoded (and decompressed, without a byte-order mark): expected to
    /// be a JSON object.
    Json(Vec<u8>),
    /// A DynamoDB `NewImage`: a map of DynamoDB attribute values.
    Image(&'a RawValue),
    /// A record that is not predicted on purpose, such as a DynamoDB REMOVE.
    Skip(SkipReason),
    /// A record that can never be predicted.
    Invalid(DecodeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A DynamoDB REMOVE: the item is gone, there is nothing to predict.
    Remove,
}

/// One record of a batch, decoded as far as its envelope goes.
#[derive(Debug)]
pub struct Record<'a> {
    pub meta: Meta<'a>,
    pub input: Input<'a>,
}

/// A decoded event: its source and every record, in order.
#[derive(Debug)]
pub struct Batch<'a> {
    pub source: Source,
    pub records: Vec<Record<'a>>,
}

/// Why one record cannot be predicted. Each variant has a stable [`code`](DecodeError::code).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("record envelope is malformed: {detail}")]
    BadEnvelope { detail: String },
    #[error("kinesis data is not valid base64: {detail}")]
    NotBase64 { detail: String },
    #[error("payload is not valid JSON: {detail}")]
    NotJson { detail: String },
    #[error("payload is a JSON {found}, not an object")]
    NotObject { found: &'static str },
    #[error("features field `{field}` is missing")]
    FeaturesFieldMissing { field: String },
    #[error("features field `{field}` is {found}, not an object")]
    FeaturesFieldNotObject { field: String, found: String },
    #[error("feature `{feature}` is missing")]
    FeatureMissing { feature: String },
    #[error("feature `{feature}` is null")]
    FeatureNull { feature: String },
    #[error("feature `{feature}` is a boolean, not a number")]
    FeatureBoolean { feature: String },
    #[error("feature `{feature}` is a string ({value:?}), not a number")]
    FeatureString { feature: String, value: String },
    #[error("feature `{feature}` is a JSON {found}, not a number")]
    FeatureWrongType {
        feature: String,
        found: &'static str,
    },
    #[error("feature `{feature}` has N value {value:?}, which is not a number")]
    FeatureNotNumeric { feature: String, value: String },
    #[error("feature `{feature}` is {value}, not a finite number")]
    FeatureNotFinite { feature: String, value: String },
    #[error("feature `{feature}` is {value}, out of the range of a 64-bit float")]
    FeatureOutOfRange { feature: String, value: String },
    #[error(
        "{event_name} record has no NewImage: the stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES"
    )]
    ImageMissing { event_name: String },
    #[error("attribute `{attribute}` is of DynamoDB type {found}, expected {expected}")]
    AttributeWrongType {
        attribute: String,
        found: String,
        expected: &'static str,
    },
    #[error("attribute `{attribute}` is not a DynamoDB attribute value: {detail}")]
    AttributeMalformed { attribute: String, detail: String },
    #[error("field `{field}` appears more than once")]
    DuplicateField { field: String },
    #[error("KPL aggregated record is corrupt: {detail}")]
    BadAggregate { detail: String },
    #[error("payload is too large: {detail}")]
    PayloadTooLarge { detail: String },
}

impl DecodeError {
    /// The record's reason code.
    pub fn reason(&self) -> Reason {
        match self {
            DecodeError::BadEnvelope { .. } => Reason::BadEnvelope,
            DecodeError::NotBase64 { .. } => Reason::NotBase64,
            DecodeError::NotJson { .. } => Reason::NotJson,
            DecodeError::NotObject { .. } => Reason::NotObject,
            DecodeError::FeaturesFieldMissing { .. } => Reason::FeaturesFieldMissing,
            DecodeError::FeaturesFieldNotObject { .. } => Reason::FeaturesFieldNotObject,
            DecodeError::FeatureMissing { .. } => Reason::FeatureMissing,
            DecodeError::FeatureNull { .. } => Reason::FeatureNull,
            DecodeError::FeatureBoolean { .. } => Reason::FeatureBoolean,
            DecodeError::FeatureString { .. } => Reason::FeatureString,
            DecodeError::FeatureWrongType { .. } => Reason::FeatureWrongType,
            DecodeError::FeatureNotNumeric { .. } => Reason::FeatureNotNumeric,
            DecodeError::FeatureNotFinite { .. } => Reason::FeatureNotFinite,
            DecodeError::FeatureOutOfRange { .. } => Reason::FeatureOutOfRange,
            DecodeError::ImageMissing { .. } => Reason::ImageMissing,
            DecodeError::AttributeWrongType { .. } => Reason::AttributeWrongType,
            DecodeError::AttributeMalformed { .. } => Reason::AttributeMalformed,
            DecodeError::DuplicateField { .. } => Reason::DuplicateField,
            DecodeError::BadAggregate { .. } => Reason::BadAggregate,
            DecodeError::PayloadTooLarge { .. } => Reason::PayloadTooLarge,
        }
    }

    /// The reason code as text, as written to the dead-letter queue.
    pub fn code(&self) -> &'static str {
        self.reason().as_str()
    }
}

/// The whole event is not a stream event: the only decode failure that fails an invocation.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not a stream event: {detail}")]
    NotStreamEvent { detail: String },
    #[error(
        "event has no record with a known eventSource (expected aws:kinesis, aws:dynamodb or aws:sqs; found {found})"
    )]
    UnknownSource { found: String },
}

/// A JSON string borrowed from the event when it has no escapes, copied only when it does.
/// (serde's own `Cow<str>` always copies inside an `Option`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

pub(crate) fn text(value: Option<Text<'_>>) -> Option<Cow<'_, str>> {
    value.map(|t| t.0)
}

/// A record's envelope with its source-specific object, read in one pass so the long strings in
/// it (base64 data, images) are scanned once more, not twice. A type error anywhere fails only
/// this record, which is then [`salvage`]d. A record of the common shape is read by hand into the
/// same value (`scan.rs`).
#[derive(Debug, Default, Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Text<'a>>,
    #[serde(rename = "eventSourceARN", borrow, default)]
    event_source_arn: Option<Text<'a>>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    kinesis: Option<kinesis::KinesisData<'a>>,
    #[serde(borrow, default)]
    dynamodb: Option<dynamodb::StreamRecord<'a>>,
    // SQS: the message's fields sit on the record itself. The two objects stay raw here and are
    // read only for an SQS batch, so they can never fail another source's record.
    #[serde(rename = "messageId", borrow, default)]
    message_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    body: Option<Text<'a>>,
    #[serde(borrow, default)]
    attributes: Option<&'a RawValue>,
    #[serde(rename = "messageAttributes", borrow, default)]
    message_attributes: Option<&'a RawValue>,
}

/// Just the `eventSource` of a record whose envelope did not parse.
#[derive(Deserialize)]
struct SourceOnly<'a> {
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// Splits a Lambda event into records and decodes each envelope. Fails only when the event is not
/// a stream event at all; every per-record problem becomes that record's [`Input::Invalid`].
/// Uses the default [`DecodeLimits`].
pub fn decode_event(event: &str) -> Result<Batch<'_>, EventError> {
    decode_event_with(event, DecodeLimits::default())
}

/// [`decode_event`] with the function's limits. A KPL aggregate becomes one record per user
/// record, in order, so the batch may hold more records than the event.
///
/// The event is read in one pass: each record's envelope is parsed where it stands in the event
/// ([`split`]). An event of any other shape than `{"Records":[...]}` takes the two-pass
/// [`decode_event_reference`], which gives the same batch and the same [`EventError`]s.
pub fn decode_event_with(event: &str, limits: DecodeLimits) -> Result<Batch<'_>, EventError> {
    match split(event) {
        Some(records) => decode_records(records, limits),
        None => decode_event_reference(event, limits),
    }
}

/// The two-pass decode: the event is split into raw records by serde, then each record's
/// envelope is parsed from its raw text. The fallback of [`decode_event_with`] for an event of
/// an unusual shape, and the reference its one-pass split is tested against.
pub(crate) fn decode_event_reference(
    event: &str,
    limits: DecodeLimits,
) -> Result<Batch<'_>, EventError> {
    let raw: Event<'_> = serde_json::from_str(event).map_err(|e| EventError::NotStreamEvent {
        detail: e.to_string(),
    })?;
    let records = raw
        .records
        .into_iter()
        .map(|record| (serde_json::from_str(record.get()), record.get()))
        .collect();
    decode_records(records, limits)
}

/// One record of the event: its envelope, or why it did not parse, and the record's own text.
type Split<'a> = (Result<Envelope<'a>, serde_json::Error>, &'a str);

/// Splits an event of the usual shape, `{"Records":[...]}` with only JSON whitespace around the
/// tokens, parsing each record's envelope in place: one pass over the event instead of two.
/// `None` for anything else (another top-level key, an escaped key, `Records` not an array, a
/// record that is not valid JSON, trailing text), which the two-pass path then reads and
/// reports exactly as before.
fn split(event: &str) -> Option<Vec<Split<'_>>> {
    let bytes = event.as_bytes();
    let mut pos = skip_whitespace(bytes, 0);
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        pos = skip_whitespace(bytes, expect(bytes, pos, token)?);
    }
    let mut records = Vec::new();
    if bytes.get(pos) == Some(&b']') {
        pos += 1;
    } else {
        loop {
            // `pos` is at the record's first byte, where serde's raw value would start too, so
            // the record's text and the positions in its errors are the same as in two passes.
            let rest = &event[pos..];
            let (envelope, len) = match scan::envelope(rest) {
                // The common shape, read by hand (`scan.rs`); anything else is serde's to read.
                Some((envelope, len)) => (Ok(envelope), len),
                None => parse(rest)?,
            };
            records.push((envelope, &rest[..len]));
            pos = skip_whitespace(bytes, pos + len);
            match bytes.get(pos)? {
                b',' => pos = skip_whitespace(bytes, pos + 1),
                b']' => {
                    pos += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    pos = skip_whitespace(bytes, pos);
    pos = skip_whitespace(bytes, expect(bytes, pos, b"}")?);
    (pos == bytes.len()).then_some(records)
}

/// The envelope of the record at the start of `rest` as serde reads it, or its error, and the
/// record's length. `None` when the record is not valid JSON: that is the event's error.
fn parse(rest: &str) -> Option<(Result<Envelope<'_>, serde_json::Error>, usize)> {
    let mut envelopes = serde_json::Deserializer::from_str(rest).into_iter::<Envelope<'_>>();
    match envelopes.next()? {
        Ok(envelope) => Some((Ok(envelope), envelopes.byte_offset())),
        Err(e) => {
            // Only the record's extent is read again.
            let mut raw = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
            raw.next()?.ok()?;
            Some((Err(e), raw.byte_offset()))
        }
    }
}

/// The position after JSON whitespace (space, tab, line feed, carriage return) from `pos`.
fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// The position after `token` when the bytes at `pos` are exactly `token`.
fn expect(bytes: &[u8], pos: usize, token: &[u8]) -> Option<usize> {
    bytes[pos..].starts_with(token).then_some(pos + token.len())
}

/// Decodes split records: finds the batch's source, then decodes or salvages each record.
fn decode_records(records: Vec<Split<'_>>, limits: DecodeLimits) -> Result<Batch<'_>, EventError> {
    let source = batch_source(&records)?;
    let mut out = Vec::with_capacity(records.len());
    for (envelope, raw) in records {
        match envelope {
            Ok(envelope) => decode_record(source, envelope, raw, limits, &mut out),
            Err(e) => out.push(salvage(source, raw, e)),
        }
    }
    Ok(Batch {
        source,
        records: out,
    })
}

/// The batch's source is the first known `eventSource`. An empty batch is treated as Kinesis:
/// both sources answer an empty batch with the same JSON.
fn batch_source(records: &[Split<'_>]) -> Result<Source, EventError> {
    if records.is_empty() {
        return Ok(Source::Kinesis);
    }
    let mut seen = Vec::new();
    // A record whose envelope failed still names its source, unless it is not an object at all.
    let sources = records.iter().map(|(envelope, raw)| match envelope {
        Ok(envelope) => envelope.event_source.clone(),
        Err(_) => serde_json::from_str::<SourceOnly<'_>>(raw)
            .ok()
            .and_then(|s| s.event_source),
    });
    for event_source in sources {
        if let Some(Text(name)) = &event_source {
            match Source::from_event_source(name) {
                Some(source) => return Ok(source),
                None if seen.len() < 3 => seen.push(format!("{name:?}")),
                None => {}
            }
        }
    }
    let found = if seen.is_empty() {
        "none".to_owned()
    } else {
        seen.join(", ")
    };
    Err(EventError::UnknownSource { found })
}

/// Decodes one record's envelope into `out`: one record, or a KPL aggregate's user records.
fn decode_record<'a>(
    source: Source,
    envelope: Envelope<'a>,
    raw: &'a str,
    limits: DecodeLimits,
    out: &mut Vec<Record<'a>>,
) {
    let mut meta = Meta {
        source_arn: text(envelope.event_source_arn),
        ..Meta::default()
    };
    let found = envelope
        .event_source
        .as_ref()
        .map_or("no eventSource", |t| t.0.as_ref());
    if found != source.event_source() {
        // The record still names itself by its own sequence number, whichever source it is from.
        let detail = format!("record from {found} in a {} batch", source.event_source());
        meta.sequence_number = match (envelope.kinesis, envelope.dynamodb) {
            (Some(kinesis), _) => kinesis.sequence_number(),
            (None, Some(dynamodb)) => dynamodb.sequence_number(),
            (None, None) => None,
        };
        meta.payload = Some(Payload::Record(raw));
        out.push(invalid(meta, DecodeError::BadEnvelope { detail }));
        return;
    }
    match source {
        Source::Kinesis => kinesis::decode(meta, envelope.kinesis, limits, out),
        Source::Dynamodb => out.push(dynamodb::decode(
            meta,
            text(envelope.event_name),
            envelope.dynamodb,
        )),
        Source::Sqs => {
            let message = sqs::Message {
                message_id: envelope.message_id,
                body: envelope.body,
                attributes: envelope.attributes,
                message_attributes: envelope.message_attributes,
            };
            out.push(sqs::decode(meta, message, limits));
        }
    }
}

/// A record whose envelope did not parse: keep what identity can still be read from it.
fn salvage<'a>(source: Source, raw: &'a str, error: serde_json::Error) -> Record<'a> {
    // `serde_json::Value` keeps the last of duplicated keys; the error has already said so.
    let value: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
    let (object, pointer) = match source {
        Source::Kinesis => ("kinesis", "/kinesis/sequenceNumber"),
        Source::Dynamodb => ("dynamodb", "/dynamodb/SequenceNumber"),
        Source::Sqs => ("attributes", "/messageId"),
    };
    let sequence_number = value
        .pointer(pointer)
        .and_then(|v| v.as_str())
        .map(|s| Cow::Owned(s.to_owned()));
    let meta = Meta {
        sequence_number,
        payload: Some(Payload::Record(raw)),
        ..Meta::default()
    };
    if let Some(field) = duplicate_field(&error) {
        return invalid(meta, DecodeError::DuplicateField { field });
    }
    // Name the source-specific object when it is the part that failed.
    let detail = match value.get(object) {
        Some(part) if !part.is_null() => {
            let text = part.to_string();
            let failed = match source {
                Source::Kinesis => serde_json::from_str::<kinesis::KinesisData<'_>>(&text).err(),
                Source::Dynamodb => serde_json::from_str::<dynamodb::StreamRecord<'_>>(&text).err(),
                // The message's own objects are read after the envelope, never fail it.
                Source::Sqs => None,
            };
            failed.map_or_else(|| error.to_string(), |e| format!("`{object}` object: {e}"))
        }
        _ => error.to_string(),
    };
    invalid(meta, DecodeError::BadEnvelope { detail })
}

/// The envelope field that serde found twice, with its object's name when it is inside one
/// (`kinesis.sequenceNumber`). Duplicates are rejected, never merged: which copy a reader would
/// keep differs between JSON libraries, so neither is trusted.
fn duplicate_field(error: &serde_json::Error) -> Option<String> {
    let message = error.to_string();
    let field = message
        .strip_prefix("duplicate field `")?
        .split_once('`')?
        .0;
    let object = if kinesis::FIELDS.contains(&field) {
        "kinesis."
    } else if dynamodb::FIELDS.contains(&field) {
        "dynamodb."
    } else if sqs::FIELDS.contains(&field) {
        "attributes."
    } else {
        ""
    };
    Some(format!("{object}{field}"))
}

/// Standard, padded base64 to bytes. SIMD decoding first; when it refuses the text, the `base64`
/// crate decodes it again, so its result and its error message stay the reference. (SIMD accepts
/// only canonical text, which `base64` decodes to the same bytes: `base64_simd_agrees_with_base64`.)
pub(crate) fn base64_decode(text: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64_simd::STANDARD
        .decode_to_vec(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
}

fn invalid(meta: Meta<'_>, error: DecodeError) -> Record<'_> {
    Record {
        meta,
        input: Input::Invalid(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_simd_agrees_with_base64() {
        use base64::Engine;
        let reference = |text: &[u8]| base64::engine::general_purpose::STANDARD.decode(text);
        let mut rng = fastrand::Rng::with_seed(0x00ba_5e64);
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let (mut accepted, mut refused) = (0, 0);
        for case in 0..200_000 {
            // Valid text of random bytes, then sometimes one byte changed, inserted or removed.
            let len = rng.usize(..if case % 10 == 0 { 300 } else { 40 });
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let mut text = base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into_bytes();
            match rng.u8(..6) {
                0 if !text.is_empty() => {
                    let at = rng.usize(..text.len());
                    text[at] = *rng.choice(b"=A/+ \n-_.\xff\x00Qw".iter()).unwrap();
                }
                1 => text.insert(
                    rng.usize(..=text.len()),
                    *rng.choice(b"=A \n".iter()).unwrap(),
                ),
                2 if !text.is_empty() => {
                    text.remove(rng.usize(..text.len()));
                }
                3 => {
                    // Random text over the alphabet and padding: non-canonical endings and all.
                    text = (0..rng.usize(..12))
                        .map(|_| match rng.usize(..alphabet.len() + 2) {
                            i if i < alphabet.len() => alphabet[i],
                            _ => b'=',
                        })
                        .collect();
                }
                _ => {}
            }
            let ours = base64_decode(&text);
            assert_eq!(
                format!("{ours:?}"),
                format!("{:?}", reference(&text)),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            match base64_simd::STANDARD.decode_to_vec(&text) {
                Ok(simd) => {
                    accepted += 1;
                    assert_eq!(Ok(simd), reference(&text));
                }
                Err(_) => refused += 1,
            }
        }
        assert!(
            accepted > 60_000 && refused > 60_000,
            "{accepted} {refused}"
        );
    }

    #[test]
    fn an_event_without_records_is_an_invocation_error() {
        let err = decode_event(r#"{"hello":"world"}"#).unwrap_err();
        assert!(matches!(err, EventError::NotStreamEvent { .. }), "{err}");
        assert!(err.to_string().contains("Records"), "{err}");
    }

    #[test]
    fn an_event_of_unknown_source_is_an_invocation_error() {
        let err = decode_event(r#"{"Records":[{"eventSource":"aws:sns"}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"event has no record with a known eventSource (expected aws:kinesis, aws:dynamodb or aws:sqs; found "aws:sns")"#
        );
    }

    #[test]
    fn an_empty_batch_decodes_to_no_records() {
        let batch = decode_event(r#"{"Records":[]}"#).unwrap();
        assert!(batch.records.is_empty());
    }

    #[test]
    fn a_record_of_another_source_is_rejected_alone() {
        let event = r#"{"Records":[
            {"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"1","partitionKey":"p","data":"e30="}},
            {"eventSource":"aws:dynamodb","eventName":"INSERT","dynamodb":{"SequenceNumber":"2"}}]}"#;
        let batch = decode_event(event).unwrap();
        assert_eq!(batch.source, Source::Kinesis);
        assert!(matches!(batch.records[0].input, Input::Json(_)));
        match &batch.records[1].input {
            Input::Invalid(e) => {
                assert_eq!(e.code(), "bad_envelope");
                assert!(
                    e.to_string()
                        .contains("aws:dynamodb in a aws:kinesis batch")
                );
            }
            other => panic!("expected invalid, got {other:?}"),
        }
        // It keeps its own sequence number, not `#1`, and its whole record for the dead letter.
        assert_eq!(batch.records[1].meta.id(1), "2");
        assert!(matches!(
            batch.records[1].meta.payload,
            Some(Payload::Record(r)) if r.contains("aws:dynamodb")
        ));
    }

    #[test]
    fn a_kinesis_record_in_a_dynamodb_batch_keeps_its_sequence_number() {
        let event = r#"{"Records":[
            {"eventSource":"aws:dynamodb","eventName":"REMOVE","dynamodb":{"SequenceNumber":"1"}},
            {"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"49","data":"e30="}},
            {"eventSource":"aws:sqs","messageId":"m"}]}"#;
        let batch = decode_event(event).unwrap();
        assert_eq!(batch.source, Source::Dynamodb);
        assert_eq!(batch.records[1].meta.id(1), "49");
        assert_eq!(batch.records[2].meta.id(2), "#2");
        assert!(matches!(
            batch.records[2].input,
            Input::Invalid(DecodeError::BadEnvelope { .. })
        ));
    }

    #[test]
    fn a_duplicated_envelope_field_is_rejected_by_name() {
        let cases = [
            (
                r#"{"eventSource":"aws:kinesis","eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"1","data":"e30="}}"#,
                "eventSource",
            ),
            (
                r#"{"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"2","data":"e30=","data":"eyJ9"}}"#,
                "kinesis.data",
            ),
            (
                r#"{"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"3","data":"e30="},"kinesis":{"sequenceNumber":"3","data":"e30="}}"#,
                "kinesis",
            ),
        ];
        let records: Vec<&str> = cases.iter().map(|(r, _)| *r).collect();
        let event = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let batch = decode_event(&event).unwrap();
        for ((_, field), record) in cases.iter().zip(&batch.records) {
            match &record.input {
                Input::Invalid(e @ DecodeError::DuplicateField { field: found }) => {
                    assert_eq!(found, field);
                    assert_eq!(e.code(), "duplicate_field");
                }
                other => panic!("expected duplicate_field for {field}, got {other:?}"),
            }
        }
        let sequence_numbers: Vec<_> = batch
            .records
            .iter()
            .map(|r| r.meta.sequence_number.as_deref())
            .collect();
        assert_eq!(sequence_numbers, [Some("1"), Some("2"), Some("3")]);

        let event = r#"{"Records":[{"eventSource":"aws:dynamodb","eventName":"INSERT",
            "dynamodb":{"SequenceNumber":"4","NewImage":{},"NewImage":{}}}]}"#;
        match &decode_event(event).unwrap().records[0].input {
            Input::Invalid(DecodeError::DuplicateField { field }) => {
                assert_eq!(field, "dynamodb.NewImage")
            }
            other => panic!("expected duplicate_field, got {other:?}"),
        }
    }

    #[test]
    fn a_batch_of_only_mistyped_records_still_knows_its_source() {
        let event = r#"{"Records":[
            {"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":1,"data":"e30="}}]}"#;
        let batch = decode_event(event).unwrap();
        assert_eq!(batch.source, Source::Kinesis);
        match &batch.records[0].input {
            Input::Invalid(e) => assert!(e.to_string().contains("`kinesis` object"), "{e}"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_record_with_a_mistyped_envelope_keeps_its_sequence_number() {
        let event = r#"{"Records":[
            {"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"1","data":"e30="}},
            {"eventSource":7,"kinesis":{"sequenceNumber":"2","data":"e30="}}]}"#;
        let batch = decode_event(event).unwrap();
        let bad = &batch.records[1];
        assert_eq!(bad.meta.sequence_number.as_deref(), Some("2"));
        assert!(matches!(
            &bad.input,
            Input::Invalid(DecodeError::BadEnvelope { .. })
        ));
    }
}
