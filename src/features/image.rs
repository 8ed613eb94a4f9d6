//! The image format of DynamoDB Streams records: each feature is a DynamoDB attribute value such
//! as `{"N": "59"}`, and `FEATURES_FIELD` names a map attribute, `{"M": {…}}`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::{Format, Part, Seed, Slot};
use crate::model::Value;
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

    fn key(self, value: &serde_json::Value) -> Option<String> {
        // DynamoDB writes numbers as strings, so an `N` key reads like an `S` one.
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
            "N" => {
                let Text(text) = map.next_value()?;
                match parse_n(&text) {
                    Ok(value) => {
                        slot.set(index, value);
                        None
                    }
                    Err(make) => Some(make(feature.to_owned(), text.into_owned())),
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
                None
            }
            "NULL" => Some(DecodeError::FeatureNull {
                feature: feature.to_owned(),
            }),
            "BOOL" => Some(DecodeError::FeatureBoolean {
                feature: feature.to_owned(),
            }),
            "S" => {
                let value: serde_json::Value = map.next_value()?;
                Some(DecodeError::FeatureString {
                    feature: feature.to_owned(),
                    value: value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned),
                })
            }
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
        // An attribute value has one entry; whatever follows it is not looked at.
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
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
}
