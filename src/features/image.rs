//! The image format of DynamoDB Streams records: each feature is a DynamoDB attribute value such
//! as `{"N": "59"}`, and `FEATURES_FIELD` names a map attribute, `{"M": {…}}`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{Format, Part, Seed, Slot};
use crate::model::Value;
use crate::reason::clip;
use crate::source::{DecodeError, Text};

/// A DynamoDB `NewImage`: attribute name -> attribute value, the features being `N` attributes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Image;

impl Format for Image {
    const MAP: &'static str = "a DynamoDB attribute map";

    fn features_field<'de, D: Deserializer<'de>>(
        self,
        slot: &mut Slot<'_>,
        d: D,
    ) -> Result<(), D::Error> {
        d.deserialize_any(MapAttribute(slot))
    }

    fn feature<'de, D: Deserializer<'de>>(
        self,
        slot: &mut Slot<'_>,
        index: usize,
        d: D,
    ) -> Result<(), D::Error> {
        d.deserialize_any(Attribute(slot, index))
    }

    fn key(self, raw: &RawValue) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
        // DynamoDB writes numbers as strings, so an `N` key is its exact decimal text, as `S`.
        ["S", "N"]
            .iter()
            .find_map(|tag| value.get(tag).and_then(|v| v.as_str()))
            .map(str::to_owned)
    }
}

/// The map attribute named by `FEATURES_FIELD`: `{"M": {…}}`.
struct MapAttribute<'r, 's>(&'r mut Slot<'s>);

impl MapAttribute<'_, '_> {
    fn wrong<E: de::Error>(self, found: &'static str) -> E {
        self.0.features_field_not_object(found.to_owned())
    }
}

impl<'de> Visitor<'de> for MapAttribute<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DynamoDB M attribute")
    }
    reject_non_maps!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let slot = self.0;
        let mut seen = false;
        while let Some(Text(tag)) = map.next_key()? {
            if tag == "M" && !seen {
                seen = true;
                map.next_value_seed(Seed::new(&mut *slot, Image, Part::Features))?;
            } else if seen {
                let attribute = slot.spec.features_field.clone().unwrap_or_default();
                let detail = format!("it has a second type tag `{tag}` after `M`");
                return Err(slot.fail(DecodeError::AttributeMalformed { attribute, detail }));
            } else {
                let found = format!("attribute of type {tag}");
                return Err(slot.features_field_not_object(found));
            }
        }
        if !seen {
            let found = "an empty attribute value".to_owned();
            return Err(slot.features_field_not_object(found));
        }
        Ok(())
    }
}

/// One feature's DynamoDB attribute value, such as `{"N": "59"}`, and the feature's index.
struct Attribute<'r, 's>(&'r mut Slot<'s>, usize);

impl Attribute<'_, '_> {
    /// Rejects a bare JSON value where an attribute value belongs.
    fn wrong<E: de::Error>(self, found: &'static str) -> E {
        self.wrong_type(format!("a bare JSON {found}"))
    }

    fn wrong_type<E: de::Error>(self, found: String) -> E {
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
    reject_non_maps!();

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(Text(tag)) = map.next_key()? else {
            return Err(self.wrong_type("an empty attribute value".to_owned()));
        };
        let Attribute(slot, index) = self;
        let spec = slot.spec;
        let feature = spec.names[index].as_str();
        let error = match tag.as_ref() {
            "N" => match map.next_value()? {
                Tagged::Text(text) => match parse_n(&text) {
                    Ok(value) => {
                        slot.set(index, value);
                        None
                    }
                    Err(make) => Some(make(feature.to_owned(), clip(&text))),
                },
                Tagged::Json(found) => Some(malformed(feature, "N", found)),
            },
            "S" => match map.next_value()? {
                Tagged::Text(text) if slot.values.is_some() => {
                    slot.keep(index, Value::Str(Cow::Owned(text.into_owned())));
                    None
                }
                Tagged::Text(text) => Some(DecodeError::FeatureString {
                    feature: feature.to_owned(),
                    value: clip(&text),
                }),
                Tagged::Json(found) => Some(malformed(feature, "S", found)),
            },
            "NULL" | "BOOL" if slot.values.is_some() => {
                let value: serde_json::Value = map.next_value()?;
                let value = match (tag.as_ref(), value) {
                    ("BOOL", serde_json::Value::Bool(b)) => Value::Bool(b),
                    ("NULL", _) => Value::Null,
                    _ => Value::Other("a malformed DynamoDB attribute"),
                };
                slot.keep(index, value);
                None
            }
            "NULL" => Some(DecodeError::FeatureNull {
                feature: feature.to_owned(),
            }),
            "BOOL" => Some(DecodeError::FeatureBoolean {
                feature: feature.to_owned(),
            }),
            _ if slot.values.is_some() => {
                map.next_value::<IgnoredAny>()?;
                slot.keep(index, Value::Other("a list, map, set or binary attribute"));
                None
            }
            other => Some(DecodeError::AttributeWrongType {
                attribute: feature.to_owned(),
                found: other.to_owned(),
                expected: "N",
            }),
        };
        if let Some(error) = error {
            return Err(slot.fail(error));
        }
        // An attribute value has exactly one type tag: a second one (`{"N":"1","N":"2"}`, or
        // `{"N":"1","S":"x"}`) leaves the value ambiguous, as a duplicated field would.
        if let Some(Text(second)) = map.next_key::<Text<'_>>()? {
            let detail = format!("it has a second type tag `{second}` after `{tag}`");
            let attribute = feature.to_owned();
            return Err(slot.fail(DecodeError::AttributeMalformed { attribute, detail }));
        }
        Ok(())
    }
}

/// The value under a type tag that DynamoDB JSON always writes as a string (`N`, `S`): the text,
/// or what JSON value stood there instead.
enum Tagged<'de> {
    Text(Cow<'de, str>),
    Json(&'static str),
}

impl<'de> de::Deserialize<'de> for Tagged<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TaggedVisitor)
    }
}

struct TaggedVisitor;

impl<'de> Visitor<'de> for TaggedVisitor {
    type Value = Tagged<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DynamoDB JSON string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Json("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Json("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Json("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Json("number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tagged<'de>, E> {
        Ok(Tagged::Json("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Tagged<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Tagged::Json("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tagged<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Tagged::Json("object"))
    }
}

/// `{"N": 59}`: valid JSON, but DynamoDB JSON writes every `N` and `S` value as a string.
fn malformed(feature: &str, tag: &str, found: &str) -> DecodeError {
    DecodeError::AttributeMalformed {
        attribute: feature.to_owned(),
        detail: format!("`{tag}` holds a JSON {found}; DynamoDB JSON writes it as a string"),
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
    use serde_json::value::RawValue;

    use crate::features::tests::{code, spec};
    use crate::features::{FeatureSpec, Payload};
    use crate::source::DecodeError;

    fn image(spec: &FeatureSpec, text: &str) -> Result<(Option<String>, Vec<f64>), DecodeError> {
        let mut row = vec![0.0; spec.width()];
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        let key = spec.extract(Payload::Image(&raw), &mut row)?;
        Ok((key, row))
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

    #[test]
    fn image_values_of_the_wrong_json_shape_are_malformed_attributes() {
        let s = spec(None);
        let with_age = |age: &str| format!(r#"{{"age":{age},"bmi":{{"N":"1"}}}}"#);
        let e = image(&s, &with_age(r#"{"N":59}"#)).unwrap_err();
        assert_eq!(e.code(), "attribute_malformed");
        assert_eq!(
            e.to_string(),
            "attribute `age` is not a DynamoDB attribute value: `N` holds a JSON number; DynamoDB JSON writes it as a string"
        );
        let e = image(&s, &with_age(r#"{"S":{"a":1}}"#)).unwrap_err();
        assert_eq!(e.code(), "attribute_malformed");
        let e = image(&s, &with_age(r#"{"N":"1","N":"2"}"#)).unwrap_err();
        assert_eq!(e.code(), "attribute_malformed");
        assert!(e.to_string().contains("second type tag `N`"), "{e}");
    }

    #[test]
    fn image_duplicates_and_exact_number_keys() {
        let s = spec(None);
        let twice = r#"{"age":{"N":"1"},"bmi":{"N":"2"},"age":{"N":"3"}}"#;
        assert_eq!(code(image(&s, twice)), "duplicate_field");
        let nested = spec(Some("features"));
        let two_maps =
            r#"{"features":{"M":{"age":{"N":"1"},"bmi":{"N":"2"}}},"features":{"M":{}}}"#;
        assert_eq!(code(image(&nested, two_maps)), "duplicate_field");
        let two_tags = r#"{"features":{"M":{"age":{"N":"1"},"bmi":{"N":"2"}},"M":{}}}"#;
        assert_eq!(code(image(&nested, two_tags)), "attribute_malformed");
        let big = r#"{"id":{"N":"18446744073709551617"},"age":{"N":"1"},"bmi":{"N":"2"}}"#;
        let (key, _) = image(&s, big).unwrap();
        assert_eq!(key.as_deref(), Some("18446744073709551617"));
    }
}
