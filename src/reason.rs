//! Why a record was not predicted or not written: the one set of reason codes.
//!
//! Every dead-lettered record carries exactly one of these, serialized snake_case, in the
//! dead-letter message, the log line and the ledger.

use serde::Serialize;

/// A stable, machine-readable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The record's envelope could not be read.
    BadEnvelope,
    /// Kinesis `data` is not valid base64.
    NotBase64,
    /// The payload is not valid JSON.
    NotJson,
    /// The payload is JSON but not an object.
    NotObject,
    /// `FEATURES_FIELD` is absent from the payload.
    FeaturesFieldMissing,
    /// `FEATURES_FIELD` is not an object.
    FeaturesFieldNotObject,
    /// A feature the model needs is absent.
    FeatureMissing,
    /// A feature is `null`.
    FeatureNull,
    /// A numeric feature is a boolean.
    FeatureBoolean,
    /// A numeric feature is a string.
    FeatureString,
    /// A feature is an array or object.
    FeatureWrongType,
    /// A DynamoDB `N` value that is not a number.
    FeatureNotNumeric,
    /// `NaN` or an infinity.
    FeatureNotFinite,
    /// A number beyond the range of an `f64`.
    FeatureOutOfRange,
    /// A DynamoDB INSERT or MODIFY without a `NewImage`.
    ImageMissing,
    /// A DynamoDB attribute of the wrong type.
    AttributeWrongType,
    /// A number input that is not a number.
    FeatureNotNumber,
    /// A text input that is not a string.
    TextNotString,
    /// A category input that is neither a string nor a number.
    CategoryWrongType,
    /// A category the model was not trained on, where the model says to reject it.
    CategoryUnknown,
    /// A value that overflowed in the model's transforms.
    TransformedNotFinite,
    /// The model's output overflowed (an extreme but finite input).
    PredictionNotFinite,
    /// A field that decides the prediction (a feature, `FEATURES_FIELD`, `ID_FIELD`, or an
    /// envelope field) appears twice in one object.
    DuplicateField,
    /// A KPL-aggregated Kinesis record whose framing, protobuf or MD5 trailer is corrupt.
    BadAggregate,
    /// A compressed payload that expands beyond `MAX_DECOMPRESSED_BYTES`.
    PayloadTooLarge,
    /// A DynamoDB attribute value that is valid JSON but not DynamoDB JSON (`{"N": 59}`).
    AttributeMalformed,
    /// A bug in stream-infer: the record is dead-lettered rather than lost.
    Internal,
    /// The sink refused the record for good (a validation error).
    SinkRejected,
}

impl Reason {
    /// The code as written to the dead-letter queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadEnvelope => "bad_envelope",
            Reason::NotBase64 => "not_base64",
            Reason::NotJson => "not_json",
            Reason::NotObject => "not_object",
            Reason::FeaturesFieldMissing => "features_field_missing",
            Reason::FeaturesFieldNotObject => "features_field_not_object",
            Reason::FeatureMissing => "feature_missing",
            Reason::FeatureNull => "feature_null",
            Reason::FeatureBoolean => "feature_boolean",
            Reason::FeatureString => "feature_string",
            Reason::FeatureWrongType => "feature_wrong_type",
            Reason::FeatureNotNumeric => "feature_not_numeric",
            Reason::FeatureNotFinite => "feature_not_finite",
            Reason::FeatureOutOfRange => "feature_out_of_range",
            Reason::ImageMissing => "image_missing",
            Reason::AttributeWrongType => "attribute_wrong_type",
            Reason::FeatureNotNumber => "feature_not_number",
            Reason::TextNotString => "text_not_string",
            Reason::CategoryWrongType => "category_wrong_type",
            Reason::CategoryUnknown => "category_unknown",
            Reason::TransformedNotFinite => "transformed_not_finite",
            Reason::PredictionNotFinite => "prediction_not_finite",
            Reason::DuplicateField => "duplicate_field",
            Reason::BadAggregate => "bad_aggregate",
            Reason::PayloadTooLarge => "payload_too_large",
            Reason::AttributeMalformed => "attribute_malformed",
            Reason::Internal => "internal",
            Reason::SinkRejected => "sink_rejected",
        }
    }
}

/// The most bytes of a record's own value that a message quotes: a reason names the value, it
/// does not carry it (the dead-letter message's `payload` does, within SQS's limit).
pub(crate) const QUOTE_LIMIT: usize = 1024;

/// `value` for quoting in a message: whole when within [`QUOTE_LIMIT`] bytes, otherwise cut at a
/// character boundary and marked with the full length.
pub(crate) fn clip(value: &str) -> String {
    if value.len() <= QUOTE_LIMIT {
        return value.to_owned();
    }
    let mut end = QUOTE_LIMIT;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &value[..end], value.len())
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serialized_code_is_the_display_code() {
        for reason in [
            Reason::NotJson,
            Reason::FeaturesFieldNotObject,
            Reason::SinkRejected,
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{reason}\""));
        }
    }

    #[test]
    fn long_values_are_clipped_at_a_character_boundary() {
        assert_eq!(clip("short"), "short");
        let exact = "x".repeat(QUOTE_LIMIT);
        assert_eq!(clip(&exact), exact);
        // A two-byte character straddles the limit: the cut falls before it.
        let long = format!("{}é{}", "x".repeat(QUOTE_LIMIT - 1), "y".repeat(5000));
        let clipped = clip(&long);
        assert!(clipped.starts_with(&"x".repeat(QUOTE_LIMIT - 1)));
        assert!(clipped.ends_with(&format!("… ({} bytes in all)", long.len())));
        assert!(clipped.len() < QUOTE_LIMIT + 40, "{}", clipped.len());
    }
}
