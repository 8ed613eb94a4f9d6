//! The JSON format of Kinesis payloads: each feature is a JSON value, and a syntax error inside
//! one is told apart as the non-finite or overflowing number it usually is.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Fields, Format, Slot};
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
