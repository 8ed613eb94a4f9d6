//! The fast path of the one-pass split: a Kinesis or DynamoDB record of the common shape, read by
//! hand into the same [`Envelope`] serde would build, or `None` to let serde read it.
//!
//! serde_json walks every string a byte at a time; here the end of a string is found with
//! `memchr`, so a record's long base64 `data` costs a vectorized search. The scanner accepts
//! only what it reads exactly as serde does: plain strings (no escape, no control character) in
//! the fields it keeps, each known field once, numbers of JSON's grammar that parse to a finite
//! float, and any valid JSON in the fields it skips. Anything else (an escape in a kept string,
//! a duplicated field, a `null`, a mistyped field, an SQS field, broken JSON) returns `None`,
//! and serde reads the whole record, so its error and its salvage stay the reference's.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::dynamodb::StreamRecord;
use super::kinesis::{KinesisData, Raw};
use super::{Envelope, Text, expect, skip_whitespace};

/// Nesting deeper than this in a skipped value is left to serde.
const MAX_DEPTH: u32 = 64;

/// The envelope of the record that starts at `text`'s first byte, and the record's length in
/// bytes, when the record has the common shape; `None` for anything else.
pub(super) fn envelope(text: &str) -> Option<(Envelope<'_>, usize)> {
    let mut scan = Scanner { text, pos: 0 };
    let mut envelope = Envelope::default();
    scan.object(|scan, key| match key {
        "eventSource" => set(&mut envelope.event_source, scan.text_field()?),
        "eventSourceARN" => set(&mut envelope.event_source_arn, scan.text_field()?),
        "eventName" => set(&mut envelope.event_name, scan.text_field()?),
        "kinesis" => set(&mut envelope.kinesis, scan.kinesis()?),
        "dynamodb" => set(&mut envelope.dynamodb, scan.dynamodb()?),
        // SQS messages keep their fields on the record; serde reads them.
        "messageId" | "body" | "attributes" | "messageAttributes" => None,
        _ => scan.skip_value(),
    })?;
    Some((envelope, scan.pos))
}

/// Whether `text` is already the compact JSON that serde_json's `Value` writes back for it: no
/// whitespace, strings without escapes or control characters, each object's keys in strictly
/// increasing order (as `Value`'s map orders them, and so without duplicates), and no numbers
/// (which `Value` may write differently: `1e2` as `100.0`). DynamoDB `Keys` always are.
pub(super) fn is_compact(text: &str) -> bool {
    let mut scan = Scanner { text, pos: 0 };
    scan.compact_value(0).is_some() && scan.pos == text.len()
}

/// Fills a field once; a second value is a duplicate, which serde reports.
fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn whitespace(&mut self) {
        self.pos = skip_whitespace(self.text.as_bytes(), self.pos);
    }

    /// Steps over `token` when the text at the position is exactly `token`.
    fn eat(&mut self, token: &[u8]) -> Option<()> {
        self.pos = expect(self.text.as_bytes(), self.pos, token)?;
        Some(())
    }

    /// An object: `each` reads the value of every key (positioned at its first byte). The keys
    /// must be plain strings: an escaped key might name a known field.
    fn object(&mut self, mut each: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b"{")?;
        self.whitespace();
        if self.eat(b"}").is_some() {
            return Some(());
        }
        loop {
            let key = self.plain_string()?;
            self.whitespace();
            self.eat(b":")?;
            self.whitespace();
            each(self, key)?;
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.whitespace();
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes or control characters, without its quotes.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b"\"")?;
        let start = self.pos;
        let rest = &self.text.as_bytes()[start..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' || has_control(&rest[..end]) {
            return None;
        }
        self.pos = start + end + 1;
        Some(&self.text[start..start + end])
    }

    fn text_field(&mut self) -> Option<Text<'a>> {
        self.plain_string().map(|s| Text(Cow::Borrowed(s)))
    }

    /// A JSON number that serde would read as the same finite `f64`: JSON's grammar checked here,
    /// the value parsed by the standard library, which rounds correctly as serde_json's
    /// `float_roundtrip` does (and as `u64 as f64` does for an integer).
    fn number(&mut self) -> Option<f64> {
        let start = self.pos;
        self.number_extent()?;
        // A long literal is rare; serde reads it.
        if self.pos - start > 40 {
            return None;
        }
        let value: f64 = self.text[start..self.pos].parse().ok()?;
        value.is_finite().then_some(value)
    }

    /// Moves past a number of JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    /// A digit right after a leading `0` is left for the caller, which then finds no `,` or `}`.
    fn number_extent(&mut self) -> Option<()> {
        self.eat(b"-");
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b".").is_some() {
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// A string of any content, validated as serde validates a string it ignores: no control
    /// characters, and only JSON's escapes (a `\u` needs four hex digits, nothing more).
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b"\"")?;
        let bytes = self.text.as_bytes();
        loop {
            let rest = &bytes[self.pos..];
            let end = memchr::memchr2(b'"', b'\\', rest)?;
            if has_control(&rest[..end]) {
                return None;
            }
            self.pos += end + 1;
            if rest[end] == b'"' {
                return Some(());
            }
            match self.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                b'u' => {
                    let hex = bytes.get(self.pos + 1..self.pos + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.pos += 5;
                }
                _ => return None,
            }
        }
    }

    /// Any JSON value, validated as serde validates a value it ignores. Iterative: `objects`
    /// holds, per open container, whether it is an object.
    fn skip_value(&mut self) -> Option<()> {
        let mut objects: u64 = 0;
        let mut depth = 0;
        loop {
            // At a value's first byte.
            match self.peek()? {
                b'"' => self.skip_string()?,
                b't' => self.eat(b"true")?,
                b'f' => self.eat(b"false")?,
                b'n' => self.eat(b"null")?,
                b'-' | b'0'..=b'9' => self.number_extent()?,
                open @ (b'{' | b'[') => {
                    self.pos += 1;
                    self.whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.eat(&[close]).is_none() {
                        if depth == MAX_DEPTH {
                            return None;
                        }
                        objects = objects << 1 | u64::from(open == b'{');
                        depth += 1;
                        if open == b'{' {
                            self.key()?;
                        }
                        continue;
                    }
                }
                _ => return None,
            }
            // After a value: close what ends here, or move to the next element.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let in_object = objects & 1 == 1;
                self.whitespace();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        self.whitespace();
                        if in_object {
                            self.key()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                self.pos += 1;
                objects >>= 1;
                depth -= 1;
            }
        }
    }

    /// A key of a skipped object and its colon, up to its value's first byte.
    fn key(&mut self) -> Option<()> {
        self.skip_string()?;
        self.whitespace();
        self.eat(b":")?;
        self.whitespace();
        Some(())
    }

    /// A value serde keeps as raw text: read by serde itself, which finds its end as it checks it.
    /// `null` is `None` to serde, not a raw `null`; serde reads that record.
    fn raw_value(&mut self) -> Option<&'a RawValue> {
        let rest = &self.text[self.pos..];
        if rest.starts_with('n') {
            return None;
        }
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        let raw = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(raw)
    }

    /// A value of [`is_compact`]'s kind.
    fn compact_value(&mut self, depth: u32) -> Option<()> {
        if depth == MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.plain_string().map(drop),
            b't' => self.eat(b"true"),
            b'f' => self.eat(b"false"),
            b'n' => self.eat(b"null"),
            b'[' => {
                self.pos += 1;
                if self.eat(b"]").is_some() {
                    return Some(());
                }
                loop {
                    self.compact_value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => return self.eat(b"]"),
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                if self.eat(b"}").is_some() {
                    return Some(());
                }
                let mut last = None;
                loop {
                    let key = self.plain_string()?;
                    if last.is_some_and(|last| last >= key) {
                        return None;
                    }
                    last = Some(key);
                    self.eat(b":")?;
                    self.compact_value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => return self.eat(b"}"),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// The `kinesis` object, with its `data` a plain string.
    fn kinesis(&mut self) -> Option<KinesisData<'a>> {
        let mut kinesis = KinesisData::default();
        self.object(|scan, key| match key {
            "sequenceNumber" => set(&mut kinesis.sequence_number, scan.text_field()?),
            "partitionKey" => set(&mut kinesis.partition_key, scan.text_field()?),
            "data" => {
                let start = scan.pos;
                scan.plain_string()?;
                set(&mut kinesis.data, Raw(&scan.text[start..scan.pos]))
            }
            "approximateArrivalTimestamp" => {
                set(&mut kinesis.approximate_arrival_timestamp, scan.number()?)
            }
            _ => scan.skip_value(),
        })?;
        Some(kinesis)
    }

    /// The `dynamodb` object; its `Keys` and `NewImage` are read by serde as raw values.
    fn dynamodb(&mut self) -> Option<StreamRecord<'a>> {
        let mut stream = StreamRecord::default();
        self.object(|scan, key| match key {
            "SequenceNumber" => set(&mut stream.sequence_number, scan.text_field()?),
            "Keys" => set(&mut stream.keys, scan.raw_value()?),
            "NewImage" => set(&mut stream.new_image, scan.raw_value()?),
            "ApproximateCreationDateTime" => {
                set(&mut stream.approximate_creation_date_time, scan.number()?)
            }
            _ => scan.skip_value(),
        })?;
        Some(stream)
    }
}

/// Whether `bytes` holds a control character, which a JSON string may not. A minimum over all
/// bytes, without an early exit, so it compiles to vector instructions (16 or 32 bytes a step).
fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(u8::MAX, |min, &b| min.min(b)) < 0x20
}

#[cfg(test)]
mod tests {
    use fastrand::Rng;

    use super::{Scanner, envelope, is_compact};

    /// The scanner's number where it reads one, serde's `f64` otherwise; `None` when refused.
    fn number(text: &str) -> Option<f64> {
        let mut scan = Scanner { text, pos: 0 };
        let value = scan.number()?;
        (scan.pos == text.len()).then_some(value)
    }

    #[test]
    fn numbers_read_as_serde_reads_them() {
        let mut rng = Rng::with_seed(0x0f64);
        let (mut read, mut cases) = (0, 0);
        let mut check = |text: &str| {
            cases += 1;
            if let Some(ours) = number(text) {
                read += 1;
                let theirs: f64 = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("serde refuses {text:?} ({e})"));
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{text}");
            }
        };
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "0.0",
            "1e5",
            "1E+5",
            "1e-5",
            "-0.0e0",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "1e308",
            "1.7976931348623157e308",
            "4.9e-324",
            "2.2250738585072011e-308",
            "1e-400",
            "0.30000000000000004",
            "1795000000.123456789",
        ] {
            check(text);
        }
        for _ in 0..200_000 {
            let text = match rng.u8(..4) {
                0 => format!("{}", f64::from_bits(rng.u64(..))),
                1 => format!("{:e}", f64::from_bits(rng.u64(..))),
                2 => format!("{}", rng.i64(..)),
                _ => {
                    // Random digits with a sign, a fraction and an exponent of any length.
                    let digits = |rng: &mut Rng, max| -> String {
                        let n = rng.usize(max);
                        (0..n).map(|_| char::from(b'0' + rng.u8(..10))).collect()
                    };
                    let mut text = String::new();
                    if rng.bool() {
                        text.push('-');
                    }
                    text += &digits(&mut rng, 1..25);
                    if rng.bool() {
                        text += ".";
                        text += &digits(&mut rng, 0..20);
                    }
                    if rng.bool() {
                        text += pick(&mut rng, &["e", "E", "e+", "e-", "E-"]);
                        text += &digits(&mut rng, 0..4);
                    }
                    text
                }
            };
            check(&text);
        }
        assert!(read > 100_000 && read < cases, "{read} of {cases}");
    }

    fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
        items[rng.usize(..items.len())]
    }

    /// A JSON value of strings, literals, numbers, arrays and objects (keys from a few, so
    /// sometimes sorted, sometimes duplicated), sometimes with whitespace or escapes.
    fn json(rng: &mut Rng, depth: u8) -> String {
        match rng.u8(..if depth == 0 { 4 } else { 6 }) {
            0 => pick(rng, &["true", "false", "null", "1", "1.5", "-0"]).to_owned(),
            1 | 2 => pick(
                rng,
                &[
                    r#""a""#,
                    r#""patient-000042""#,
                    r#""é🦀""#,
                    r#""\u0041""#,
                    r#""""#,
                ],
            )
            .to_owned(),
            3 => pick(rng, &[r#""x\"y""#, "\"\u{1}\"", r#""/""#]).to_owned(),
            4 => {
                let items: Vec<String> =
                    (0..rng.usize(..3)).map(|_| json(rng, depth - 1)).collect();
                format!("[{}]", items.join(pick(rng, &[",", ",", ", "])))
            }
            _ => {
                let fields: Vec<String> = (0..rng.usize(..4))
                    .map(|_| {
                        let key = pick(rng, &["id", "S", "N", "a", "b", "sk", "\u{e9}"]);
                        format!("\"{key}\":{}", json(rng, depth - 1))
                    })
                    .collect();
                format!("{{{}}}", fields.join(pick(rng, &[",", ",", " ,"])))
            }
        }
    }

    #[test]
    fn compact_keys_are_what_value_writes() {
        let mut rng = Rng::with_seed(0x6e75);
        let mut compact = 0;
        for _ in 0..100_000 {
            let text = json(&mut rng, 3);
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                assert!(!is_compact(&text), "{text}");
                continue;
            };
            if is_compact(&text) {
                compact += 1;
                assert_eq!(value.to_string(), text);
            }
        }
        assert!(compact > 20_000, "only {compact} compact texts");
        for text in [r#"{"id":{"S":"a"}}"#, r#"{"pk":{"S":"a"},"sk":{"N":"1"}}"#] {
            assert!(is_compact(text), "{text}");
        }
        for text in [
            r#"{"sk":{"S":"a"},"pk":{"S":"b"}}"#,
            r#"{"a":1}"#,
            r#"{"a":"b","a":"b"}"#,
        ] {
            assert!(!is_compact(text), "{text}");
        }
    }

    #[test]
    fn the_common_kinesis_record_is_read_by_hand() {
        let record = r#"{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"p-1","sequenceNumber":"49","data":"eyJhIjoxfQ==","approximateArrivalTimestamp":1795000000.25},"eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-0:49","eventName":"aws:kinesis:record","eventSourceARN":"arn:s"} ,"#;
        let (envelope, len) = envelope(record).expect("the common shape");
        assert_eq!(&record[len..], " ,");
        let kinesis = envelope.kinesis.unwrap();
        assert_eq!(kinesis.data.unwrap().0, r#""eyJhIjoxfQ==""#);
        assert_eq!(kinesis.approximate_arrival_timestamp, Some(1795000000.25));
        assert_eq!(kinesis.sequence_number.unwrap().0, "49");
        assert_eq!(envelope.event_source_arn.unwrap().0, "arn:s");
    }

    #[test]
    fn anything_serde_must_judge_is_left_to_it() {
        for record in [
            // An escape in a kept string, a duplicate, a null, a mistyped field, an SQS field.
            r#"{"eventSource":"aws:kin\u0065sis"}"#,
            r#"{"kinesis":{"data":"e30\u003d"}}"#,
            r#"{"kinesis":{"data":"e30=","data":"e30="}}"#,
            r#"{"eventSource":"aws:kinesis","eventSource":"aws:kinesis"}"#,
            r#"{"eventSource":null}"#,
            r#"{"kinesis":null}"#,
            r#"{"kinesis":{"approximateArrivalTimestamp":"1"}}"#,
            r#"{"kinesis":{"sequenceNumber":49}}"#,
            r#"{"dynamodb":{"NewImage":null}}"#,
            r#"{"body":"{}"}"#,
            r#"{"d\u0061ta":"x"}"#,
            // Broken JSON, in a kept or a skipped field.
            "{\"eventSource\":\"a\u{1}\"}",
            r#"{"x":[1,]}"#,
            r#"{"x":"\q"}"#,
            r#"{"x":01}"#,
            r#"{"x":1e400,"kinesis":{"approximateArrivalTimestamp":1e400}}"#,
            r#"{"x":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a":1"#,
        ] {
            assert!(envelope(record).is_none(), "{record}");
        }
        // Escapes, numbers and nesting in a field it skips are fine.
        let record = r#"{"x":{"y":[1,-2.5e-3,"\"\\\/\u00e9",{},[],true,null]},"eventSource":"aws:dynamodb","dynamodb":{"Keys":{"id":{"S":"a"}},"SequenceNumber":"1"}}"#;
        let (envelope, len) = envelope(record).expect("a skipped value of any shape");
        assert_eq!(len, record.len());
        let keys = envelope.dynamodb.unwrap().keys.unwrap();
        assert_eq!(keys.get(), r#"{"id":{"S":"a"}}"#);
    }
}
