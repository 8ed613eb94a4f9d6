//! Decoded inputs -> one row of `f64` in the model's feature order, with a reason when impossible.
//!
//! The payload is read in one streaming pass: keys are matched against the model's feature names
//! and numbers are written straight into the row, so no per-record map is built. A visitor cannot
//! return a typed error through serde, so the first [`DecodeError`] is parked in [`Slot`] and the
//! parse is aborted with a placeholder error that [`Slot::finish`] replaces.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::Value;
use crate::source::{DecodeError, Input, Text};

/// Where a record's features and key are found, and in which order the model wants them.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    names: Vec<String>,
    /// Keep every input's value as found (number, string, null, …) for the model's transforms
    /// to judge, instead of requiring a number for each.
    values: bool,
    features_field: Option<String>,
    id_field: String,
}

impl FeatureSpec {
    /// `features_field` names the object (Kinesis) or map attribute (DynamoDB) holding the
    /// features; `None` reads them from the top level. `id_field` names the record's key.
    pub fn new(names: Vec<String>, features_field: Option<String>, id_field: String) -> Self {
        FeatureSpec {
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
        input: &Input<'_>,
    ) -> Result<(Option<String>, Vec<Value<'static>>), DecodeError> {
        debug_assert!(self.values);
        let mut row = vec![f64::NAN; self.width()];
        let mut values = vec![Value::Missing; self.width()];
        let key = self.parse(input, &mut row, Some(&mut values))?;
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
    /// returns the record's key, when it has one. Inputs that carry no features are a caller bug.
    pub fn extract(
        &self,
        input: &Input<'_>,
        row: &mut [f64],
    ) -> Result<Option<String>, DecodeError> {
        debug_assert_eq!(row.len(), self.width());
        row.fill(f64::NAN);
        self.parse(input, row, None)
    }

    fn parse(
        &self,
        input: &Input<'_>,
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
        let text = match input {
            Input::Json(bytes) => {
                let mut de = serde_json::Deserializer::from_slice(bytes);
                let parsed = JsonTop(&mut slot)
                    .deserialize(&mut de)
                    .and_then(|()| de.end());
                slot.finish(parsed, bytes)?
            }
            Input::Image(image) => {
                let mut de = serde_json::Deserializer::from_str(image.get());
                let parsed = ImageTop(&mut slot)
                    .deserialize(&mut de)
                    .and_then(|()| de.end());
                slot.finish(parsed, image.get().as_bytes())?
            }
            Input::Skip(_) | Input::Invalid(_) => {
                unreachable!("extract is only called on inputs that carry features")
            }
        };
        Ok(text)
    }
}

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
            return Err(self.classify_syntax_error(e, text));
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

    /// A parse error inside a feature's value is usually a non-JSON number such as `NaN` or
    /// `Infinity` (Python's `json.dumps` writes them) or a number too large for `f64`.
    fn classify_syntax_error(&self, e: serde_json::Error, text: &[u8]) -> DecodeError {
        let detail = e.to_string();
        let Some(index) = self.current else {
            return DecodeError::NotJson { detail };
        };
        let token = value_token_at(text, e.line(), e.column());
        let feature = self.feature(index);
        let bare = token.trim_start_matches(['-', '+']).to_ascii_lowercase();
        if bare.starts_with("nan") || bare.starts_with("inf") {
            DecodeError::FeatureNotFinite {
                feature,
                value: token,
            }
        } else if detail.contains("number out of range") {
            DecodeError::FeatureOutOfRange {
                feature,
                value: token,
            }
        } else {
            DecodeError::NotJson { detail }
        }
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

/// The value text around a 1-based line and column: from after the last `:` to the next `,` or
/// `}` on that line.
fn value_token_at(text: &[u8], line: usize, column: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let Some(line_text) = text.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let at = column.min(line_text.len());
    let at = (0..=at)
        .rev()
        .find(|&i| line_text.is_char_boundary(i))
        .unwrap_or(0);
    let start = line_text[..at].rfind(':').map_or(0, |i| i + 1);
    let end = line_text[at..]
        .find([',', '}'])
        .map_or(line_text.len(), |i| at + i);
    line_text[start..end].trim().to_owned()
}

/// A record key from an `id` field: a string or a number, anything else is ignored.
fn key_of_json(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Rejects a non-object where an object was expected, naming what was found.
macro_rules! reject_non_maps {
    ($on_wrong:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "string"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "null"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            let on_wrong = $on_wrong;
            Err(on_wrong(self.0, "array"))
        }
    };
}

fn not_object<E: de::Error>(slot: &mut Slot<'_>, found: &'static str) -> E {
    slot.fail(DecodeError::NotObject { found })
}

fn features_field_not_object<E: de::Error>(slot: &mut Slot<'_>, found: &'static str) -> E {
    let field = slot.spec.features_field.clone().unwrap_or_default();
    slot.fail(DecodeError::FeaturesFieldNotObject {
        field,
        found: found.to_owned(),
    })
}

/// The top level of a Kinesis JSON payload.
struct JsonTop<'r, 's>(&'r mut Slot<'s>);

impl<'de> DeserializeSeed<'de> for JsonTop<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonTop<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    reject_non_maps!(not_object);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.0;
        let spec = slot.spec;
        let mut nested_seen = false;
        while let Some(Text(key)) = map.next_key()? {
            if spec.features_field.as_deref() == Some(key.as_ref()) {
                nested_seen = true;
                map.next_value_seed(JsonFeatures(&mut *slot))?;
            } else if let Some(index) = spec
                .features_field
                .is_none()
                .then(|| spec.position(&key))
                .flatten()
            {
                map.next_value_seed(JsonNumber(&mut *slot, index))?;
            } else if key == spec.id_field {
                slot.key = key_of_json(&map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let (Some(field), false) = (&spec.features_field, nested_seen) {
            let field = field.clone();
            return Err(slot.fail(DecodeError::FeaturesFieldMissing { field }));
        }
        Ok(())
    }
}

/// The object named by `FEATURES_FIELD` in a Kinesis JSON payload.
struct JsonFeatures<'r, 's>(&'r mut Slot<'s>);

impl<'de> DeserializeSeed<'de> for JsonFeatures<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonFeatures<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of features")
    }
    reject_non_maps!(features_field_not_object);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.0;
        while let Some(Text(key)) = map.next_key()? {
            match slot.spec.position(&key) {
                Some(index) => map.next_value_seed(JsonNumber(&mut *slot, index))?,
                None => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }
}

/// One feature value in a JSON payload.
struct JsonNumber<'r, 's>(&'r mut Slot<'s>, usize);

impl<'de> DeserializeSeed<'de> for JsonNumber<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.current = Some(self.1);
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonNumber<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let JsonNumber(slot, index) = self;
        slot.current = None;
        if !v.is_finite() {
            let feature = slot.feature(index);
            return Err(slot.fail(DecodeError::FeatureNotFinite {
                feature,
                value: v.to_string(),
            }));
        }
        slot.set(index, v);
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.current = None;
        if self.0.keep(self.1, Value::Null) {
            return Ok(());
        }
        let feature = self.0.feature(self.1);
        Err(self.0.fail(DecodeError::FeatureNull { feature }))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.current = None;
        if self.0.keep(self.1, Value::Bool(v)) {
            return Ok(());
        }
        let feature = self.0.feature(self.1);
        Err(self.0.fail(DecodeError::FeatureBoolean { feature }))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.current = None;
        if self.0.keep(self.1, Value::Str(Cow::Owned(v.to_owned()))) {
            return Ok(());
        }
        let feature = self.0.feature(self.1);
        let value = v.to_owned();
        Err(self.0.fail(DecodeError::FeatureString { feature, value }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.current = None;
        if self.0.keep(self.1, Value::Other("array")) {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let feature = self.0.feature(self.1);
        let found = "array";
        Err(self
            .0
            .fail(DecodeError::FeatureWrongType { feature, found }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.current = None;
        if self.0.keep(self.1, Value::Other("object")) {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let feature = self.0.feature(self.1);
        let found = "object";
        Err(self
            .0
            .fail(DecodeError::FeatureWrongType { feature, found }))
    }
}

/// The top level of a DynamoDB `NewImage`: attribute name -> attribute value.
struct ImageTop<'r, 's>(&'r mut Slot<'s>);

impl<'de> DeserializeSeed<'de> for ImageTop<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ImageTop<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DynamoDB attribute map")
    }
    reject_non_maps!(not_object);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.0;
        let spec = slot.spec;
        let mut nested_seen = false;
        while let Some(Text(key)) = map.next_key()? {
            if spec.features_field.as_deref() == Some(key.as_ref()) {
                nested_seen = true;
                map.next_value_seed(ImageFeaturesField(&mut *slot))?;
            } else if let Some(index) = spec
                .features_field
                .is_none()
                .then(|| spec.position(&key))
                .flatten()
            {
                map.next_value_seed(Attribute(&mut *slot, index))?;
            } else if key == spec.id_field {
                let value: serde_json::Value = map.next_value()?;
                slot.key = ["S", "N"]
                    .iter()
                    .find_map(|tag| value.get(tag).and_then(|v| v.as_str()))
                    .map(str::to_owned);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if let (Some(field), false) = (&spec.features_field, nested_seen) {
            let field = field.clone();
            return Err(slot.fail(DecodeError::FeaturesFieldMissing { field }));
        }
        Ok(())
    }
}

/// The map attribute named by `FEATURES_FIELD`: `{"M": {…}}`.
struct ImageFeaturesField<'r, 's>(&'r mut Slot<'s>);

impl<'de> DeserializeSeed<'de> for ImageFeaturesField<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ImageFeaturesField<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DynamoDB M attribute")
    }
    reject_non_maps!(features_field_not_object);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.0;
        let mut seen = false;
        while let Some(Text(tag)) = map.next_key()? {
            if tag == "M" && !seen {
                seen = true;
                map.next_value_seed(ImageFeatures(&mut *slot))?;
            } else {
                let field = slot.spec.features_field.clone().unwrap_or_default();
                let found = format!("attribute of type {tag}");
                return Err(slot.fail(DecodeError::FeaturesFieldNotObject { field, found }));
            }
        }
        if !seen {
            return Err(features_field_not_object(slot, "an empty attribute value"));
        }
        Ok(())
    }
}

/// The inside of the features map attribute: feature name -> attribute value.
struct ImageFeatures<'r, 's>(&'r mut Slot<'s>);

impl<'de> DeserializeSeed<'de> for ImageFeatures<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ImageFeatures<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DynamoDB attribute map")
    }
    reject_non_maps!(features_field_not_object);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.0;
        while let Some(Text(key)) = map.next_key()? {
            match slot.spec.position(&key) {
                Some(index) => map.next_value_seed(Attribute(&mut *slot, index))?,
                None => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }
}

/// One feature's DynamoDB attribute value, such as `{"N": "59"}`.
struct Attribute<'r, 's>(&'r mut Slot<'s>, usize);

impl<'de> DeserializeSeed<'de> for Attribute<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Attribute<'_, '_> {
    fn wrong<E: de::Error>(self, found: String) -> E {
        let attribute = self.0.feature(self.1);
        self.0.fail(DecodeError::AttributeWrongType {
            attribute,
            found,
            expected: "N",
        })
    }
}

impl<'de> Visitor<'de> for Attribute<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DynamoDB attribute value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.wrong("a bare JSON boolean".to_owned()))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.wrong("a bare JSON number".to_owned()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.wrong("a bare JSON number".to_owned()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.wrong("a bare JSON number".to_owned()))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.wrong("a bare JSON string".to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.wrong("a bare JSON null".to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.wrong("a bare JSON array".to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(Text(tag)) = map.next_key()? else {
            return Err(self.wrong("an empty attribute value".to_owned()));
        };
        let Attribute(slot, index) = self;
        let spec = slot.spec;
        let feature = spec.names[index].as_str();
        let error = match tag.as_ref() {
            "N" => {
                let Text(text) = map.next_value()?;
                match parse_n(&text) {
                    Ok(value) => {
                        slot.set(index, value);
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        return Ok(());
                    }
                    Err(make) => make(feature.to_owned(), text.into_owned()),
                }
            }
            "NULL" | "BOOL" | "S" if slot.values.is_some() => {
                let value: serde_json::Value = map.next_value()?;
                let value = match (tag.as_ref(), value) {
                    ("S", serde_json::Value::String(s)) => Value::Str(Cow::Owned(s)),
                    ("BOOL", serde_json::Value::Bool(b)) => Value::Bool(b),
                    ("NULL", _) => Value::Null,
                    _ => Value::Other("a malformed DynamoDB attribute"),
                };
                slot.keep(index, value);
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            "NULL" => DecodeError::FeatureNull {
                feature: feature.to_owned(),
            },
            "BOOL" => DecodeError::FeatureBoolean {
                feature: feature.to_owned(),
            },
            "S" => {
                let value: serde_json::Value = map.next_value()?;
                DecodeError::FeatureString {
                    feature: feature.to_owned(),
                    value: value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned),
                }
            }
            _ if slot.values.is_some() => {
                map.next_value::<IgnoredAny>()?;
                slot.keep(index, Value::Other("a list, map, set or binary attribute"));
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            other => DecodeError::AttributeWrongType {
                attribute: feature.to_owned(),
                found: other.to_owned(),
                expected: "N",
            },
        };
        Err(slot.fail(error))
    }
}

type MakeError = fn(String, String) -> DecodeError;

/// Parses a DynamoDB `N` string. Rust's parser also accepts `NaN` and `inf`, which DynamoDB never
/// stores, so non-finite results are rejected and told apart from overflow.
fn parse_n(text: &str) -> Result<f64, MakeError> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) if text.to_ascii_lowercase().contains(['n', 'i']) => {
            Err(|feature, value| DecodeError::FeatureNotFinite { feature, value })
        }
        Ok(_) => Err(|feature, value| DecodeError::FeatureOutOfRange { feature, value }),
        Err(_) => Err(|feature, value| DecodeError::FeatureNotNumeric { feature, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn spec(features_field: Option<&str>) -> FeatureSpec {
        FeatureSpec::new(
            vec!["age".into(), "bmi".into()],
            features_field.map(str::to_owned),
            "id".into(),
        )
    }

    fn json(spec: &FeatureSpec, text: &str) -> Result<(Option<String>, Vec<f64>), DecodeError> {
        let mut row = vec![0.0; spec.width()];
        let key = spec.extract(&Input::Json(text.as_bytes().to_vec()), &mut row)?;
        Ok((key, row))
    }

    fn image(spec: &FeatureSpec, text: &str) -> Result<(Option<String>, Vec<f64>), DecodeError> {
        let mut row = vec![0.0; spec.width()];
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        let key = spec.extract(&Input::Image(&raw), &mut row)?;
        Ok((key, row))
    }

    fn code(result: Result<(Option<String>, Vec<f64>), DecodeError>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn json_features_land_in_model_order_and_extras_are_ignored() {
        let s = spec(None);
        let (key, row) = json(
            &s,
            r#"{"bmi":32.1,"extra":[1,{"a":2}],"id":"p-7","age":59}"#,
        )
        .unwrap();
        assert_eq!(row, [59.0, 32.1]);
        assert_eq!(key.as_deref(), Some("p-7"));
    }

    #[test]
    fn json_numeric_ids_become_keys() {
        let (key, _) = json(&spec(None), r#"{"id":7,"age":1,"bmi":2}"#).unwrap();
        assert_eq!(key.as_deref(), Some("7"));
    }

    #[test]
    fn json_features_field_is_read_when_configured() {
        let s = spec(Some("features"));
        let (key, row) = json(&s, r#"{"id":7,"age":99,"features":{"age":59,"bmi":32.1}}"#).unwrap();
        assert_eq!(row, [59.0, 32.1]);
        assert_eq!(key.as_deref(), Some("7"));
    }

    #[test]
    fn json_rejections_have_their_own_codes() {
        let s = spec(None);
        assert_eq!(code(json(&s, "{not json")), "not_json");
        assert_eq!(code(json(&s, "[1,2]")), "not_object");
        assert_eq!(code(json(&s, "\"text\"")), "not_object");
        assert_eq!(code(json(&s, r#"{"age":1}"#)), "feature_missing");
        assert_eq!(code(json(&s, r#"{"age":null,"bmi":1}"#)), "feature_null");
        assert_eq!(code(json(&s, r#"{"age":true,"bmi":1}"#)), "feature_boolean");
        assert_eq!(code(json(&s, r#"{"age":"59","bmi":1}"#)), "feature_string");
        assert_eq!(
            code(json(&s, r#"{"age":[59],"bmi":1}"#)),
            "feature_wrong_type"
        );
        assert_eq!(
            code(json(&s, r#"{"age":NaN,"bmi":1}"#)),
            "feature_not_finite"
        );
        assert_eq!(
            code(json(&s, r#"{"age":1,"bmi":-Infinity}"#)),
            "feature_not_finite"
        );
        assert_eq!(
            code(json(&s, r#"{"age":1e400,"bmi":1}"#)),
            "feature_out_of_range"
        );
        assert_eq!(code(json(&s, r#"{"age":1,"bmi":2} trailing"#)), "not_json");
        let f = spec(Some("features"));
        assert_eq!(
            code(json(&f, r#"{"age":1,"bmi":2}"#)),
            "features_field_missing"
        );
        assert_eq!(
            code(json(&f, r#"{"features":[1]}"#)),
            "features_field_not_object"
        );
    }

    #[test]
    fn json_rejection_messages_name_the_feature_and_value() {
        let s = spec(None);
        let e = json(&s, r#"{"age": NaN, "bmi": 1}"#).unwrap_err();
        assert_eq!(e.to_string(), "feature `age` is NaN, not a finite number");
        let e = json(&s, r#"{"age":1,"bmi":1e400}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "feature `bmi` is 1e400, out of the range of a 64-bit float"
        );
        let e = json(&s, r#"{"age":"59","bmi":1}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"feature `age` is a string ("59"), not a number"#
        );
        let e = json(&s, r#"{"bmi":1}"#).unwrap_err();
        assert_eq!(e.to_string(), "feature `age` is missing");
    }

    #[test]
    fn image_features_are_read_from_n_attributes() {
        let s = spec(None);
        let (key, row) = image(
            &s,
            r#"{"id":{"S":"p-1"},"age":{"N":"59"},"bmi":{"N":"32.1"},"note":{"S":"x"}}"#,
        )
        .unwrap();
        assert_eq!(row, [59.0, 32.1]);
        assert_eq!(key.as_deref(), Some("p-1"));
        let (key, _) = image(&s, r#"{"id":{"N":"12"},"age":{"N":"1"},"bmi":{"N":"2"}}"#).unwrap();
        assert_eq!(key.as_deref(), Some("12"));
    }

    #[test]
    fn image_features_field_is_a_map_attribute() {
        let s = spec(Some("features"));
        let (_, row) = image(
            &s,
            r#"{"features":{"M":{"age":{"N":"59"},"bmi":{"N":"32.1"}}}}"#,
        )
        .unwrap();
        assert_eq!(row, [59.0, 32.1]);
        assert_eq!(
            code(image(&s, r#"{"features":{"S":"x"}}"#)),
            "features_field_not_object"
        );
        assert_eq!(
            code(image(&s, r#"{"age":{"N":"1"}}"#)),
            "features_field_missing"
        );
    }

    #[test]
    fn image_rejections_have_their_own_codes() {
        let s = spec(None);
        let with_age = |age: &str| format!(r#"{{"age":{age},"bmi":{{"N":"1"}}}}"#);
        assert_eq!(
            code(image(&s, &with_age(r#"{"N":"abc"}"#))),
            "feature_not_numeric"
        );
        assert_eq!(
            code(image(&s, &with_age(r#"{"N":"NaN"}"#))),
            "feature_not_finite"
        );
        assert_eq!(
            code(image(&s, &with_age(r#"{"N":"1e400"}"#))),
            "feature_out_of_range"
        );
        assert_eq!(
            code(image(&s, &with_age(r#"{"NULL":true}"#))),
            "feature_null"
        );
        assert_eq!(
            code(image(&s, &with_age(r#"{"BOOL":true}"#))),
            "feature_boolean"
        );
        assert_eq!(
            code(image(&s, &with_age(r#"{"S":"59"}"#))),
            "feature_string"
        );
        assert_eq!(
            code(image(&s, &with_age(r#"{"L":[]}"#))),
            "attribute_wrong_type"
        );
        assert_eq!(code(image(&s, &with_age("59"))), "attribute_wrong_type");
        assert_eq!(code(image(&s, r#"{"bmi":{"N":"1"}}"#)), "feature_missing");
        let e = image(&s, &with_age(r#"{"SS":["a"]}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "attribute `age` is of DynamoDB type SS, expected N"
        );
    }
}
