//! A prediction's JSON text written straight into a byte buffer: the bytes `serde_json` writes
//! for [`Prediction`], without its per-field dispatch and error plumbing.
//!
//! The structure (field order, which fields are left out) is the one `Prediction`'s `Serialize`
//! derive declares; strings are escaped exactly as `serde_json` escapes them (a string needing
//! no escape is copied, any other goes through `serde_json` itself) and floats are formatted
//! by the crate `serde_json` formats them with (`zmij`). The tests compare the two on generated
//! predictions, byte for byte.

use serde::Serialize;

use super::{Predicted, Prediction};
use crate::model::Label;

/// Appends `prediction`'s JSON text (no newline) to `out`.
pub(crate) fn write_prediction(out: &mut Vec<u8>, prediction: &Prediction<'_>) {
    out.extend_from_slice(b"{\"id\":");
    string(out, prediction.id);
    if let Some(key) = prediction.key {
        out.extend_from_slice(b",\"key\":");
        string(out, key);
    }
    out.extend_from_slice(b",\"prediction\":");
    match prediction.prediction {
        Predicted::Value(value) => float(out, value),
        Predicted::Label(label) => self::label(out, label),
    }
    if let Some(probabilities) = &prediction.probabilities {
        out.extend_from_slice(b",\"probabilities\":{");
        for (i, (class, p)) in probabilities
            .classes
            .iter()
            .zip(probabilities.values)
            .enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            // A map key is always a string: an integer class is written quoted.
            match class {
                Label::Str(s) => string(out, s),
                Label::Int(v) => quoted_integer(out, itoa::Buffer::new().format(*v)),
                Label::UInt(v) => quoted_integer(out, itoa::Buffer::new().format(*v)),
            }
            out.push(b':');
            float(out, *p);
        }
        out.push(b'}');
    }
    if !prediction.imputed.is_empty() {
        out.extend_from_slice(b",\"imputed\":[");
        for (i, name) in prediction.imputed.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, name);
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"model\":{\"name\":");
    string(out, prediction.model.name);
    out.extend_from_slice(b",\"version\":");
    string(out, prediction.model.version);
    out.extend_from_slice(b"},\"source\":\"");
    out.extend_from_slice(prediction.source.as_str().as_bytes());
    out.push(b'"');
    if let Some(partition_key) = prediction.partition_key {
        out.extend_from_slice(b",\"partition_key\":");
        string(out, partition_key);
    }
    if let Some(source_arn) = prediction.source_arn {
        out.extend_from_slice(b",\"source_arn\":");
        string(out, source_arn);
    }
    if let Some(event_time) = prediction.event_time {
        out.extend_from_slice(b",\"event_time\":");
        float(out, event_time);
    }
    out.push(b'}');
}

/// A JSON string. `serde_json` escapes exactly the control characters, `"` and `\`, and copies
/// every other byte (non-ASCII included); a string without those is copied here, any other is
/// handed to `serde_json`.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        s.serialize(&mut serde_json::Serializer::new(&mut *out))
            .expect("a string always serializes into memory");
    }
}

/// Whether any byte of `bytes` is one `serde_json` escapes. Checked 16 bytes at a time without
/// an early exit inside a block, which the compiler turns into vector compares; the last bytes
/// are padded with a byte that needs no escape into one more block.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    let block_escapes = |block: &[u8]| {
        block.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    };
    let mut blocks = bytes.chunks_exact(16);
    if blocks.any(block_escapes) {
        return true;
    }
    let rest = blocks.remainder();
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    block_escapes(&last)
}

/// A JSON number as `serde_json` writes an `f64`: `null` when it is not finite.
pub(crate) fn float(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn label(out: &mut Vec<u8>, label: &Label) {
    match label {
        Label::Str(s) => string(out, s),
        Label::Int(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
        Label::UInt(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
    }
}

fn quoted_integer(out: &mut Vec<u8>, digits: &str) {
    out.push(b'"');
    out.extend_from_slice(digits.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{ModelRef, Probabilities};
    use crate::source::Source;

    /// Characters that exercise every escape `serde_json` knows, and none: controls, quotes,
    /// backslashes, DEL, multi-byte UTF-8 (including U+2028, which JSON leaves unescaped).
    const ALPHABET: &[char] = &[
        'a', 'Z', '0', ' ', '-', ':', '#', '/', '"', '\\', '\u{0}', '\u{1}', '\u{8}', '\t', '\n',
        '\u{b}', '\u{c}', '\r', '\u{1b}', '\u{1f}', '\u{7f}', 'é', 'ß', '€', '\u{2028}', '😀',
    ];

    fn text(rng: &mut fastrand::Rng) -> String {
        // Mostly plain (the fast path), sometimes anything, at lengths around the 16-byte blocks.
        let len = match rng.u8(..4) {
            0 => rng.usize(..4),
            1 => rng.usize(14..36),
            _ => rng.usize(..80),
        };
        let plain = rng.bool();
        (0..len)
            .map(|_| match plain {
                true => ALPHABET[rng.usize(..8)],
                false => ALPHABET[rng.usize(..ALPHABET.len())],
            })
            .collect()
    }

    const FLOATS: &[f64] = &[
        0.0,
        -0.0,
        1.0,
        -1.0,
        152.0,
        1e21,
        1e-7,
        1e20,
        1e-6,
        123456789012345680000.0,
        0.1,
        1.0 / 3.0,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        9007199254740993.0,
        1795000000.123,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];

    fn float(rng: &mut fastrand::Rng) -> f64 {
        match rng.u8(..4) {
            0 => FLOATS[rng.usize(..FLOATS.len())],
            1 => f64::from_bits(rng.u64(..)),
            2 => rng.i32(..) as f64,
            _ => (rng.f64() - 0.5) * 10f64.powi(rng.i32(-30..30)),
        }
    }

    fn label(rng: &mut fastrand::Rng) -> Label {
        match rng.u8(..5) {
            0 => Label::Int(rng.i64(..)),
            1 => Label::Int(rng.i64(-3..3)),
            2 => Label::UInt(rng.u64(i64::MAX as u64 + 1..)),
            _ => Label::Str(text(rng)),
        }
    }

    /// What a generated prediction borrows from.
    struct Owned {
        strings: Vec<String>,
        classes: Vec<Label>,
        values: Vec<f64>,
        imputed: Vec<String>,
        label: Label,
        value: f64,
        event_time: f64,
    }

    fn owned(rng: &mut fastrand::Rng) -> Owned {
        let classes: Vec<Label> = (0..rng.usize(..5)).map(|_| label(rng)).collect();
        // Usually one probability per class; sometimes one fewer or one more (pairs are zipped).
        let count = match rng.u8(..8) {
            0 => classes.len().saturating_sub(1),
            1 => classes.len() + 1,
            _ => classes.len(),
        };
        Owned {
            strings: (0..6).map(|_| text(rng)).collect(),
            values: (0..count).map(|_| float(rng)).collect(),
            classes,
            imputed: (0..rng.usize(..4)).map(|_| text(rng)).collect(),
            label: label(rng),
            value: float(rng),
            event_time: float(rng),
        }
    }

    fn prediction<'a>(rng: &mut fastrand::Rng, o: &'a Owned) -> Prediction<'a> {
        let source = [Source::Kinesis, Source::Dynamodb, Source::Sqs][rng.usize(..3)];
        Prediction {
            id: &o.strings[0],
            sequenced: rng.bool(),
            key: rng.bool().then_some(&o.strings[1][..]),
            prediction: match rng.bool() {
                true => Predicted::Value(o.value),
                false => Predicted::Label(&o.label),
            },
            probabilities: rng.bool().then_some(Probabilities {
                classes: &o.classes,
                values: &o.values,
            }),
            imputed: &o.imputed,
            model: ModelRef {
                name: &o.strings[2],
                version: &o.strings[3],
            },
            source,
            partition_key: rng.bool().then_some(&o.strings[4][..]),
            source_arn: rng.bool().then_some(&o.strings[5][..]),
            event_time: rng.bool().then_some(o.event_time),
            trace_header: rng
                .bool()
                .then_some("Root=1-5759e988-bd862e3fe1be46a994272793"),
        }
    }

    #[test]
    fn lines_are_byte_for_byte_what_serde_json_writes() {
        let mut rng = fastrand::Rng::with_seed(0x5eed13);
        let mut out = Vec::new();
        for case in 0..20_000 {
            let owned = owned(&mut rng);
            let prediction = prediction(&mut rng, &owned);
            let expected = serde_json::to_string(&prediction).unwrap();
            out.clear();
            write_prediction(&mut out, &prediction);
            assert_eq!(
                String::from_utf8_lossy(&out),
                expected,
                "case {case}: {prediction:?}"
            );
            assert_eq!(prediction.to_json(), expected, "case {case}");
        }
    }

    #[test]
    fn every_float_is_written_as_serde_json_writes_it() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut out = Vec::new();
        let randoms = (0..200_000).map(|_| float(&mut rng));
        for value in FLOATS.iter().copied().chain(randoms) {
            out.clear();
            super::float(&mut out, value);
            assert_eq!(out, serde_json::to_vec(&value).unwrap(), "{value:e}");
        }
    }

    #[test]
    fn every_string_is_escaped_as_serde_json_escapes_it() {
        // Every single character below 0x80, at every position of a block and its remainder.
        let mut out = Vec::new();
        for byte in 0u8..0x80 {
            for len in [1, 15, 16, 17, 31, 32, 33] {
                for at in 0..len {
                    let mut s = vec![b'x'; len];
                    s[at] = byte;
                    let s = String::from_utf8(s).unwrap();
                    out.clear();
                    string(&mut out, &s);
                    assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
                }
            }
        }
    }
}
