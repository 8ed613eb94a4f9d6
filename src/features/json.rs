//! The JSON format of Kinesis payloads: each feature is a JSON value, and a syntax error inside
//! one is told apart as the non-finite or overflowing number it usually is.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{FeatureSpec, Fields, Format, Slot};
use crate::model::Value;
use crate::reason::clip;
use crate::source::DecodeError;

/// A Kinesis payload: a JSON object whose features are JSON numbers, at the top level or in a
/// plain object named by `FEATURES_FIELD`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Json;

impl Format for Json {
    const MAP: &'static str = "a JSON object";

    fn features_field<'de, D: Deserializer<'de>>(
        self,
        slot: &mut Slot<'_>,
        d: D,
    ) -> Result<(), D::Error> {
        d.deserialize_any(Fields::features(slot, self))
    }

    fn feature<'de, D: Deserializer<'de>>(
        self,
        slot: &mut Slot<'_>,
        index: usize,
        d: D,
    ) -> Result<(), D::Error> {
        // Until the value is read, a syntax error belongs to this feature.
        slot.current = Some(index);
        d.deserialize_any(FeatureValue(slot, index))
    }

    fn key(self, raw: &RawValue) -> Option<String> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'"' => serde_json::from_str(text).ok(),
            b'-' | b'0'..=b'9' => Some(text.to_owned()),
            _ => None,
        }
    }
}

/// The fast path for the common payload, by hand: a JSON object of plain fields whose features
/// are JSON numbers (at the top, or in the `FEATURES_FIELD` object), with the key as
/// [`Json::key`] reads it. `None` for anything else: a key or string with an escape, a feature
/// that is not a number or is not finite, a repeated field, a missing feature, a typed spec,
/// deep nesting or bytes that are not JSON; the caller then runs the serde path, which is the
/// reference and says what is wrong. `Some` is only ever what the serde path returns too, which
/// the tests below check on generated payloads. `row` must hold only NaN on entry.
pub(super) fn read_plain(
    spec: &FeatureSpec,
    bytes: &[u8],
    row: &mut [f64],
) -> Option<Option<String>> {
    debug_assert!(!spec.values);
    let mut scan = Scan { bytes, at: 0 };
    let mut plain = Plain {
        names: &spec.plain_names,
        row,
        filled: 0,
    };
    let id = spec.id_field.as_bytes();
    let nested = spec.features_field.as_deref().map(str::as_bytes);
    let (mut key, mut key_seen, mut nested_seen) = (None, false, false);
    // The order of the checks is that of `Fields::visit_map`, for names that are more than one.
    if scan.object()? {
        loop {
            let name = scan.name()?;
            if nested == Some(name) {
                if std::mem::replace(&mut nested_seen, true) {
                    return None;
                }
                plain.features(&mut scan)?;
            } else if let Some(index) = nested.is_none().then(|| plain.names.index(name)).flatten()
            {
                plain.feature(&mut scan, index)?;
            } else if name == id {
                if std::mem::replace(&mut key_seen, true) {
                    return None;
                }
                key = scan.key()?;
            } else {
                scan.skip(DEPTH)?;
            }
            if !scan.more()? {
                break;
            }
        }
    }
    scan.end()?;
    (plain.filled == plain.row.len() && nested_seen == nested.is_some()).then_some(key)
}

/// How deep [`read_plain`] follows arrays and objects it skips before leaving them to serde.
const DEPTH: usize = 16;

/// The feature names of a spec, each with its first 8 bytes as one integer, so that matching a
/// payload's key against them is mostly integer compares.
#[derive(Debug, Clone)]
pub(super) struct PlainNames {
    names: Vec<(usize, u64, Box<[u8]>)>,
}

impl PlainNames {
    pub(super) fn new(names: &[String]) -> Self {
        let names = names
            .iter()
            .map(|name| {
                let name = name.as_bytes();
                (name.len(), word(name), name.into())
            })
            .collect();
        PlainNames { names }
    }

    /// The index of the first feature called `name`, as [`FeatureSpec::position`] finds it.
    fn index(&self, name: &[u8]) -> Option<usize> {
        let (len, word) = (name.len(), word(name));
        self.names
            .iter()
            .position(|(l, w, full)| *l == len && *w == word && (len <= 8 || **full == *name))
    }
}

/// The first 8 bytes of `name`, zero-padded.
fn word(name: &[u8]) -> u64 {
    let mut bytes = [0; 8];
    let n = name.len().min(8);
    bytes[..n].copy_from_slice(&name[..n]);
    u64::from_le_bytes(bytes)
}

/// The row being filled by [`read_plain`].
struct Plain<'p> {
    names: &'p PlainNames,
    row: &'p mut [f64],
    /// How many features have their value.
    filled: usize,
}

impl Plain<'_> {
    fn feature(&mut self, scan: &mut Scan<'_>, index: usize) -> Option<()> {
        // A repeated feature is an error that serde's path names.
        if !self.row[index].is_nan() {
            return None;
        }
        self.row[index] = scan.number()?.value()?;
        self.filled += 1;
        Some(())
    }

    /// The object in `FEATURES_FIELD`: features and fields to skip.
    fn features(&mut self, scan: &mut Scan<'_>) -> Option<()> {
        if scan.object()? {
            loop {
                let name = scan.name()?;
                match self.names.index(name) {
                    Some(index) => self.feature(scan, index)?,
                    None => scan.skip(DEPTH)?,
                }
                if !scan.more()? {
                    break;
                }
            }
        }
        Some(())
    }
}

/// A cursor over a payload's bytes that reads only JSON it can check cheaply, and gives up with
/// `None` otherwise.
struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips JSON whitespace, then takes the next byte.
    fn next(&mut self) -> Option<u8> {
        while let Some(c) = self.peek() {
            self.at += 1;
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(c);
            }
        }
        None
    }

    /// The next value's first byte, after whitespace, not taken.
    fn value_start(&mut self) -> Option<u8> {
        let c = self.next()?;
        self.at -= 1;
        Some(c)
    }

    /// Opens an object: whether it has any member (otherwise its `}` is taken too).
    fn object(&mut self) -> Option<bool> {
        if self.next()? != b'{' {
            return None;
        }
        if self.value_start()? == b'}' {
            self.at += 1;
            return Some(false);
        }
        Some(true)
    }

    /// A member's name and its `:`. Like serde's key, it must be UTF-8.
    fn name(&mut self) -> Option<&'a [u8]> {
        if self.next()? != b'"' {
            return None;
        }
        let (name, ascii) = self.string()?;
        if !ascii {
            std::str::from_utf8(name).ok()?;
        }
        (self.next()? == b':').then_some(name)
    }

    /// After a member's value: whether another member follows.
    fn more(&mut self) -> Option<bool> {
        match self.next()? {
            b',' => Some(true),
            b'}' => Some(false),
            _ => None,
        }
    }

    /// Nothing but whitespace is left.
    fn end(&mut self) -> Option<()> {
        self.next().is_none().then_some(())
    }

    /// The rest of a string whose `"` was taken: its text, and whether that is ASCII. No
    /// escapes, and no control characters, which JSON forbids.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.at;
        let mut high = 0;
        loop {
            let c = self.peek()?;
            if c == b'"' {
                break;
            }
            if c == b'\\' || c < 0x20 {
                return None;
            }
            high |= c;
            self.at += 1;
        }
        let text = &self.bytes[start..self.at];
        self.at += 1;
        Some((text, high < 0x80))
    }

    /// A number, checked against JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<Number<'a>> {
        self.value_start()?;
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let mut number = Number {
            text: &[],
            negative,
            mantissa: 0,
            digits: 0,
            exponent: 0,
        };
        match self.peek()? {
            b'0' => {
                self.at += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits(&mut number);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let fraction = self.digits(&mut number);
            if fraction == 0 {
                return None;
            }
            number.exponent = -(fraction as i64);
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let negative = self.peek() == Some(b'-');
            if let Some(b'-' | b'+') = self.peek() {
                self.at += 1;
            }
            let from = self.at;
            let mut exponent: i64 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                // Saturates far beyond any exponent an `f64` can use.
                exponent = (exponent * 10 + i64::from(c - b'0')).min(1 << 40);
                self.at += 1;
            }
            if self.at == from {
                return None;
            }
            number.exponent += if negative { -exponent } else { exponent };
        }
        number.text = &self.bytes[start..self.at];
        Some(number)
    }

    /// Takes a run of digits into `number`'s mantissa (which wraps past 19 digits, when
    /// [`Number::value`] no longer reads it) and says how many there were.
    fn digits(&mut self, number: &mut Number<'_>) -> usize {
        let from = self.at;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            number.mantissa = number
                .mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(c - b'0'));
            self.at += 1;
        }
        number.digits += self.at - from;
        self.at - from
    }

    /// The record's key from `ID_FIELD`'s value, as [`Json::key`] reads it: a string's text or
    /// a number's literal text, and no key for anything else.
    fn key(&mut self) -> Option<Option<String>> {
        match self.value_start()? {
            b'"' => {
                self.at += 1;
                let (text, _) = self.string()?;
                Some(Some(std::str::from_utf8(text).ok()?.to_owned()))
            }
            b'-' | b'0'..=b'9' => {
                let text = self.number()?.text;
                Some(std::str::from_utf8(text).ok().map(str::to_owned))
            }
            _ => {
                // serde reads the value as a `RawValue`, which must be UTF-8.
                let start = self.at;
                self.skip(DEPTH)?;
                std::str::from_utf8(&self.bytes[start..self.at]).ok()?;
                Some(None)
            }
        }
    }

    /// Skips any value with at most `depth` levels of arrays and objects.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.value_start()? {
            b'"' => {
                self.at += 1;
                self.string()?;
            }
            b'-' | b'0'..=b'9' => {
                self.number()?;
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'{' if depth > 0 => {
                if self.object()? {
                    loop {
                        self.name()?;
                        self.skip(depth - 1)?;
                        if !self.more()? {
                            break;
                        }
                    }
                }
            }
            b'[' if depth > 0 => {
                self.at += 1;
                if self.value_start()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth - 1)?;
                    match self.next()? {
                        b',' => {}
                        b']' => break,
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }
}

/// A JSON number as [`Scan::number`] read it.
struct Number<'a> {
    text: &'a [u8],
    negative: bool,
    /// The decimal digits without the point, exact while `digits <= 19`.
    mantissa: u64,
    /// How many digits `mantissa` took, leading zeros included.
    digits: usize,
    /// The power of ten that scales `mantissa` to the number.
    exponent: i64,
}

impl Number<'_> {
    /// The number as the nearest `f64` (correctly rounded, as serde_json's `float_roundtrip`
    /// reads it), or `None` when it is out of `f64`'s range.
    fn value(&self) -> Option<f64> {
        /// The powers of ten that an `f64` holds exactly.
        const POWERS: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        if self.digits <= 19 {
            let m = self.mantissa;
            // An integer is one rounding of `m`; a mantissa and a power of ten that are both
            // exact `f64`s give one rounding of their product or quotient (Clinger's fast path).
            let exact = if self.exponent == 0 {
                Some(m as f64)
            } else if m <= 1 << 53 && (-22..=22).contains(&self.exponent) {
                let power = POWERS[self.exponent.unsigned_abs() as usize];
                Some(match self.exponent > 0 {
                    true => m as f64 * power,
                    false => m as f64 / power,
                })
            } else {
                None
            };
            if let Some(value) = exact {
                return Some(if self.negative { -value } else { value });
            }
        }
        // The text is JSON's grammar, a subset of Rust's, whose parse is correctly rounded too.
        let value: f64 = std::str::from_utf8(self.text).ok()?.parse().ok()?;
        value.is_finite().then_some(value)
    }
}

/// One feature's JSON value, and the feature's index in the spec.
struct FeatureValue<'r, 's>(&'r mut Slot<'s>, usize);

impl FeatureValue<'_, '_> {
    /// Keeps a value that is not a number for a typed spec; otherwise rejects it with the error
    /// that `make` builds from the feature's name.
    fn other<E: de::Error>(
        self,
        value: Value<'static>,
        make: impl FnOnce(String) -> DecodeError,
    ) -> Result<(), E> {
        let FeatureValue(slot, index) = self;
        slot.current = None;
        if slot.keep(index, value) {
            return Ok(());
        }
        let error = make(slot.feature(index));
        Err(slot.fail(error))
    }
}

impl<'de> Visitor<'de> for FeatureValue<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let FeatureValue(slot, index) = self;
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
        self.other(Value::Null, |feature| DecodeError::FeatureNull { feature })
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.other(Value::Bool(v), |feature| DecodeError::FeatureBoolean {
            feature,
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.other(Value::Str(Cow::Owned(v.to_owned())), |feature| {
            DecodeError::FeatureString {
                feature,
                value: clip(v),
            }
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.other(Value::Other("array"), |feature| {
            DecodeError::FeatureWrongType {
                feature,
                found: "array",
            }
        })?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.other(Value::Other("object"), |feature| {
            DecodeError::FeatureWrongType {
                feature,
                found: "object",
            }
        })?;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// A parse error, told apart when it sits inside `feature`'s value: there it is usually a
/// non-JSON number such as `NaN` or `Infinity` (Python's `json.dumps` writes them) or a number
/// too large for `f64`.
pub(super) fn syntax_error(
    e: serde_json::Error,
    text: &[u8],
    feature: Option<&str>,
) -> DecodeError {
    let detail = e.to_string();
    let Some(feature) = feature else {
        // Say what the bytes were ("binary data", "looks like gzip"), keeping the position.
        let detail = match crate::source::describe(text) {
            Some(what) => format!("{what}: {detail}"),
            None => detail,
        };
        return DecodeError::NotJson { detail };
    };
    let token = value_token_at(text, e.line(), e.column());
    let feature = feature.to_owned();
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
    clip(line_text[start..end].trim())
}

#[cfg(test)]
mod tests {
    use crate::features::tests::{code, spec};
    use crate::features::{FeatureSpec, Payload};
    use crate::source::DecodeError;

    mod plain;

    fn json(spec: &FeatureSpec, text: &str) -> Result<(Option<String>, Vec<f64>), DecodeError> {
        let mut row = vec![0.0; spec.width()];
        let key = spec.extract(Payload::Json(text.as_bytes()), &mut row)?;
        Ok((key, row))
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
    fn json_duplicates_of_fields_that_decide_the_row_are_rejected() {
        let s = spec(None);
        let twice = json(&s, r#"{"age":59,"bmi":32.1,"age":18}"#).unwrap_err();
        assert_eq!(twice.code(), "duplicate_field");
        assert_eq!(twice.to_string(), "field `age` appears more than once");
        let ids = json(&s, r#"{"id":"a","age":59,"bmi":1,"id":"b"}"#);
        assert_eq!(code(ids), "duplicate_field");
        // A field the model does not read may repeat: it changes nothing.
        let (_, row) = json(&s, r#"{"x":1,"age":59,"x":2,"bmi":1}"#).unwrap();
        assert_eq!(row, [59.0, 1.0]);

        let nested = spec(Some("features"));
        let two_objects = r#"{"features":{"age":1,"bmi":2},"features":{"age":3,"bmi":4}}"#;
        assert_eq!(code(json(&nested, two_objects)), "duplicate_field");
        let inside = r#"{"features":{"age":1,"bmi":2,"bmi":4}}"#;
        assert_eq!(code(json(&nested, inside)), "duplicate_field");
    }

    #[test]
    fn json_typed_inputs_reject_a_repeat_even_after_a_null() {
        let s = FeatureSpec::typed(vec!["age".into()], None, "id".into());
        let e = s
            .extract_values(Payload::Json(br#"{"age":null,"age":5}"#))
            .unwrap_err();
        assert_eq!(e.code(), "duplicate_field");
    }

    #[test]
    fn json_numeric_ids_keep_their_exact_decimal_text() {
        let s = spec(None);
        let key = |id: &str| {
            let text = format!(r#"{{"id":{id},"age":1,"bmi":2}}"#);
            json(&s, &text).unwrap().0.unwrap()
        };
        // Both are 1.8446744073709552e19 as floats; as keys they must stay two records.
        assert_eq!(key("18446744073709551616"), "18446744073709551616");
        assert_eq!(key("18446744073709551617"), "18446744073709551617");
        assert_eq!(key("-9007199254740993"), "-9007199254740993");
        assert_eq!(key("1.50"), "1.50");
        assert_eq!(key(r#""p\u002d7""#), "p-7");
        let (none, _) = json(&s, r#"{"id":[1],"age":1,"bmi":2}"#).unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn json_quoted_values_are_clipped_to_a_kibibyte() {
        let s = spec(None);
        let long = "x".repeat(1 << 20);
        let text = format!(r#"{{"age":"{long}","bmi":1}}"#);
        let e = json(&s, &text).unwrap_err();
        assert_eq!(e.code(), "feature_string");
        let message = e.to_string();
        assert!(message.len() < 1200, "{} bytes", message.len());
        assert!(message.contains("1048576 bytes in all"), "{message}");
        let digits = "9".repeat(5000);
        let e = json(&s, &format!(r#"{{"age":1{digits}e400,"bmi":1}}"#)).unwrap_err();
        assert_eq!(e.code(), "feature_out_of_range");
        assert!(e.to_string().len() < 1200);
    }

    #[test]
    fn json_syntax_errors_say_what_the_bytes_were_and_where() {
        let s = spec(None);
        let mut row = vec![0.0; 2];
        let bytes = b"{\"age\":1,\"bmi\":2,\x00\xff}";
        let e = s.extract(Payload::Json(bytes), &mut row).unwrap_err();
        assert_eq!(e.code(), "not_json");
        let message = e.to_string();
        assert!(message.contains("binary data"), "{message}");
        assert!(message.contains("line 1 column"), "{message}");
        let e = json(&s, r#"{"age":1,"bmi":2,}"#).unwrap_err();
        assert!(!e.to_string().contains("binary"), "{e}");
    }
}
