//! A record's payload -> one row of `f64` in the model's order, with a reason when impossible.
//!
//! The payload is read in one streaming pass: keys are matched against the model's feature names
//! and numbers are written straight into the row, so no per-record map is built. Both payload
//! formats, a Kinesis JSON object and a DynamoDB image, are maps of fields with the features at
//! the top or in `FEATURES_FIELD`, so one map visitor ([`Fields`]) walks them; a [`Format`] says
//! only how a value is read ([`json`]: a JSON value, [`image`]: a DynamoDB attribute value).
//!
//! Kinesis payloads are first read by a hand-written fast path ([`json::read_plain`]) that takes
//! only plain objects of numbers and gives up on anything else; the serde walk then reads the
//! payload again and is the reference for both the rows and the errors.
//!
//! A visitor cannot return a typed error through serde, so the first [`DecodeError`] is parked in
//! [`Slot`] and the parse is aborted with a placeholder error that [`Slot::finish`] replaces.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::model::Value;
use crate::source::{DecodeError, Text};

/// Rejects any value but a map through the visitor's own `wrong(found)`, naming what was found.
/// (Declared before the format modules, which use it too.)
macro_rules! reject_non_maps {
    () => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
            Err(self.wrong("boolean"))
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
            Err(self.wrong("number"))
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
            Err(self.wrong("number"))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
            Err(self.wrong("number"))
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
            Err(self.wrong("string"))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
            Err(self.wrong("null"))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            Err(self.wrong("array"))
        }
    };
}

mod image;
mod json;

/// Where a record's features and key are found, and in which order the model wants them.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    names: Vec<String>,
    /// Keep every input's value as found (number, string, null, …) for the model's transforms
    /// to judge, instead of requiring a number for each.
    values: bool,
    features_field: Option<String>,
    id_field: String,
    /// `names`, prepared for the JSON fast path.
    plain_names: json::PlainNames,
}

/// A record's payload, the only inputs that carry features: records that are skipped or already
/// invalid never get here, so the caller builds this from the decoded input.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// Kinesis `data`, base64-decoded: expected to be a JSON object.
    Json(&'a [u8]),
    /// A DynamoDB `NewImage`: a map of DynamoDB attribute values.
    Image(&'a RawValue),
}

impl FeatureSpec {
    /// `features_field` names the object (Kinesis) or map attribute (DynamoDB) holding the
    /// features; `None` reads them from the top level. `id_field` names the record's key.
    pub fn new(names: Vec<String>, features_field: Option<String>, id_field: String) -> Self {
        FeatureSpec {
            plain_names: json::PlainNames::new(&names),
            names,
            values: false,
            features_field,
            id_field,
        }
    }

    /// A spec whose inputs are read as [`Value`]s: for models that declare typed inputs and
    /// transforms (missing values, categories, text).
    pub fn typed(names: Vec<String>, features_field: Option<String>, id_field: String) -> Self {
        FeatureSpec {
            values: true,
            ..FeatureSpec::new(names, features_field, id_field)
        }
    }

    /// Reads the record's inputs in spec order as [`Value`]s, and its key. Type checks are left
    /// to the model's transforms; only a payload that cannot be read at all is an error here.
    pub(crate) fn extract_values(
        &self,
        payload: Payload<'_>,
    ) -> Result<(Option<String>, Vec<Value<'static>>), DecodeError> {
        debug_assert!(self.values);
        let mut row = vec![f64::NAN; self.width()];
        let mut values = vec![Value::Missing; self.width()];
        let key = self.parse(payload, &mut row, Some(&mut values))?;
        Ok((key, values))
    }

    pub fn width(&self) -> usize {
        self.names.len()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn position(&self, key: &str) -> Option<usize> {
        // Models have a handful of features: a linear scan beats hashing every key.
        self.names.iter().position(|name| name == key)
    }

    /// Writes the record's features into `row` (of [`width`](Self::width)) in model order and
    /// returns the record's key, when it has one.
    pub(crate) fn extract(
        &self,
        payload: Payload<'_>,
        row: &mut [f64],
    ) -> Result<Option<String>, DecodeError> {
        debug_assert_eq!(row.len(), self.width());
        row.fill(f64::NAN);
        // Most payloads are plain JSON objects of numbers, read by hand; the serde path reads
        // the rest and is the reference for what the fast path returns.
        if let Payload::Json(bytes) = payload
            && !self.values
        {
            if let Some(key) = json::read_plain(self, bytes, row) {
                return Ok(key);
            }
            row.fill(f64::NAN);
        }
        self.parse(payload, row, None)
    }

    fn parse(
        &self,
        payload: Payload<'_>,
        row: &mut [f64],
        values: Option<&mut Vec<Value<'static>>>,
    ) -> Result<Option<String>, DecodeError> {
        let mut slot = Slot {
            spec: self,
            row,
            values,
            key: None,
            current: None,
            error: None,
        };
        // An image is already known to be UTF-8, so it is read as a `str` and not checked again.
        let (parsed, text) = match payload {
            Payload::Json(bytes) => (
                read_all(
                    serde_json::Deserializer::from_slice(bytes),
                    Fields::top(&mut slot, json::Json),
                ),
                bytes,
            ),
            Payload::Image(raw) => (
                read_all(
                    serde_json::Deserializer::from_str(raw.get()),
                    Fields::top(&mut slot, image::Image),
                ),
                raw.get().as_bytes(),
            ),
        };
        slot.finish(parsed, text)
    }
}

/// Visits the whole text, which must hold nothing after the payload's value.
fn read_all<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    visitor: impl Visitor<'de, Value = ()>,
) -> Result<(), serde_json::Error> {
    de.deserialize_any(visitor)?;
    de.end()
}

/// The state of one record's parse, shared by every visitor below it.
struct Slot<'s> {
    spec: &'s FeatureSpec,
    row: &'s mut [f64],
    /// Set for a typed spec: each input's value as found.
    values: Option<&'s mut Vec<Value<'static>>>,
    key: Option<String>,
    /// The feature whose value is being parsed, to name it in syntax errors.
    current: Option<usize>,
    error: Option<DecodeError>,
}

impl Slot<'_> {
    fn fail<E: de::Error>(&mut self, error: DecodeError) -> E {
        self.error.get_or_insert(error);
        E::custom("record rejected")
    }

    fn features_field_not_object<E: de::Error>(&mut self, found: String) -> E {
        let field = self.spec.features_field.clone().unwrap_or_default();
        self.fail(DecodeError::FeaturesFieldNotObject { field, found })
    }

    /// Rejects the record for a field that decides its prediction appearing twice: taking
    /// either occurrence would predict on a row the producer may not have meant.
    fn duplicate<E: de::Error>(&mut self, field: &str) -> E {
        let field = field.to_owned();
        self.fail(DecodeError::DuplicateField { field })
    }

    /// Whether the feature at `index` already has its value (features are only ever set once,
    /// from the first occurrence, and a second one is a [`DecodeError::DuplicateField`]).
    fn is_set(&self, index: usize) -> bool {
        match &self.values {
            Some(values) => !matches!(values[index], Value::Missing),
            None => !self.row[index].is_nan(),
        }
    }

    fn feature(&self, index: usize) -> String {
        self.spec.names[index].clone()
    }

    fn finish(
        self,
        parsed: Result<(), serde_json::Error>,
        text: &[u8],
    ) -> Result<Option<String>, DecodeError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if let Err(e) = parsed {
            let feature = self.current.map(|index| self.spec.names[index].as_str());
            return Err(json::syntax_error(e, text, feature));
        }
        if self.values.is_some() {
            return Ok(self.key);
        }
        if let Some(missing) = self.row.iter().position(|v| v.is_nan()) {
            return Err(DecodeError::FeatureMissing {
                feature: self.feature(missing),
            });
        }
        Ok(self.key)
    }

    fn set(&mut self, index: usize, value: f64) {
        self.row[index] = value;
        self.keep(index, Value::Number(value));
    }

    /// Keeps `value` for a typed spec and says whether it did (then nothing else is checked).
    fn keep(&mut self, index: usize, value: Value<'static>) -> bool {
        match &mut self.values {
            Some(values) => {
                values[index] = value;
                true
            }
            None => false,
        }
    }
}

/// How one payload format reads the values that the shared [`Fields`] walk finds.
trait Format: Copy {
    /// What a payload of this format is, for serde's "expected" messages.
    const MAP: &'static str;

    /// Reads the value of `FEATURES_FIELD`: the map of features, in whatever wraps it.
    fn features_field<'de, D: Deserializer<'de>>(
        self,
        slot: &mut Slot<'_>,
        d: D,
    ) -> Result<(), D::Error>;

    /// Reads one feature's value into the row (and, for a typed spec, the values).
    fn feature<'de, D: Deserializer<'de>>(
        self,
        slot: &mut Slot<'_>,
        index: usize,
        d: D,
    ) -> Result<(), D::Error>;

    /// The record's key from the raw value of `ID_FIELD`, when it holds a string or a number.
    /// A number is kept as its decimal text, exactly: ids beyond 2^53 or 2^64 stay distinct.
    fn key(self, raw: &RawValue) -> Option<String>;
}

/// A map of fields: the payload itself (`top`), or the map of features in `FEATURES_FIELD`.
/// Keys are matched against the spec here; the format reads the values.
struct Fields<'r, 's, F> {
    slot: &'r mut Slot<'s>,
    format: F,
    top: bool,
}

impl<'r, 's, F> Fields<'r, 's, F> {
    fn top(slot: &'r mut Slot<'s>, format: F) -> Self {
        Fields {
            slot,
            format,
            top: true,
        }
    }

    fn features(slot: &'r mut Slot<'s>, format: F) -> Self {
        Fields {
            slot,
            format,
            top: false,
        }
    }

    fn wrong<E: de::Error>(self, found: &'static str) -> E {
        if self.top {
            self.slot.fail(DecodeError::NotObject { found })
        } else {
            self.slot.features_field_not_object(found.to_owned())
        }
    }
}

impl<'de, F: Format> Visitor<'de> for Fields<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(F::MAP)
    }
    reject_non_maps!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Fields { slot, format, top } = self;
        let spec = slot.spec;
        // Features nested in `FEATURES_FIELD` are not also looked for at the top level.
        let nested = spec.features_field.as_deref().filter(|_| top);
        let features_here = !top || nested.is_none();
        let (mut nested_seen, mut key_seen) = (false, false);
        while let Some(Text(key)) = map.next_key()? {
            if nested == Some(key.as_ref()) {
                if std::mem::replace(&mut nested_seen, true) {
                    return Err(slot.duplicate(&key));
                }
                map.next_value_seed(Seed::new(&mut *slot, format, Part::FeaturesField))?;
            } else if let Some(index) = features_here.then(|| spec.position(&key)).flatten() {
                if slot.is_set(index) {
                    return Err(slot.duplicate(&key));
                }
                map.next_value_seed(Seed::new(&mut *slot, format, Part::Feature(index)))?;
            } else if top && key == spec.id_field {
                if std::mem::replace(&mut key_seen, true) {
                    return Err(slot.duplicate(&key));
                }
                slot.key = format.key(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let (Some(field), false) = (nested, nested_seen) {
            let field = field.to_owned();
            return Err(slot.fail(DecodeError::FeaturesFieldMissing { field }));
        }
        Ok(())
    }
}

/// Where a value below the top level sits, which decides how it is read.
#[derive(Clone, Copy)]
enum Part {
    /// The value of `FEATURES_FIELD`.
    FeaturesField,
    /// The map of features, inside whatever the format wraps it in.
    Features,
    /// One feature's value: the index of its name in the spec.
    Feature(usize),
}

/// The one seed of every value below the top level: serde asks for a seed per value it hands
/// over, and these differ only in whom the value goes to.
struct Seed<'r, 's, F> {
    slot: &'r mut Slot<'s>,
    format: F,
    part: Part,
}

impl<'r, 's, F> Seed<'r, 's, F> {
    fn new(slot: &'r mut Slot<'s>, format: F, part: Part) -> Self {
        Seed { slot, format, part }
    }
}

impl<'de, F: Format> DeserializeSeed<'de> for Seed<'_, '_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let Seed { slot, format, part } = self;
        match part {
            Part::FeaturesField => format.features_field(slot, d),
            Part::Features => d.deserialize_any(Fields::features(slot, format)),
            Part::Feature(index) => format.feature(slot, index, d),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Helpers for the tests of each format, which live beside the format.

    use super::*;

    pub(super) fn spec(features_field: Option<&str>) -> FeatureSpec {
        FeatureSpec::new(
            vec!["age".into(), "bmi".into()],
            features_field.map(str::to_owned),
            "id".into(),
        )
    }

    pub(super) fn code(result: Result<(Option<String>, Vec<f64>), DecodeError>) -> &'static str {
        result.unwrap_err().code()
    }
}
