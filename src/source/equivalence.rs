//! The one-pass split of `decode_event_with` against the two-pass `decode_event_reference`, on
//! generated events: valid, mistyped, duplicated and escaped fields, records of every source,
//! KPL aggregates, whitespace variants, broken records and events of unusual shapes.

use base64::Engine;
use fastrand::Rng;

use super::kpl::tests::aggregate;
use super::{DecodeLimits, decode_event_reference, decode_event_with, parse, scan, split};

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

/// JSON whitespace, usually none.
fn ws(rng: &mut Rng) -> &'static str {
    if rng.u8(..4) == 0 {
        pick(rng, &[" ", "\n", "\t", "\r\n  ", "  \t"])
    } else {
        ""
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JSON string literal, sometimes with escapes (including a lone surrogate) or non-ASCII.
fn string(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            r#""abc""#,
            r#""p-1""#,
            r#""49590338271490256608559692538361571095921575989136""#,
            r#""a\u0041b""#,
            r#""q\"r""#,
            r#""\ud800""#,
            r#""zoë 🦀""#,
            r#""""#,
            r#""tab\tand\\slash\/""#,
        ],
    )
    .to_owned()
}

/// Any JSON value, nested up to `depth`.
fn value(rng: &mut Rng, depth: u8) -> String {
    match rng.u8(..if depth == 0 { 6 } else { 8 }) {
        0 => "null".to_owned(),
        1 => pick(rng, &["true", "false"]).to_owned(),
        2 => pick(rng, &["0", "-1", "1.5e3", "1795000000.123456", "7"]).to_owned(),
        3..=5 => string(rng),
        6 => {
            let items: Vec<String> = (0..rng.usize(..3)).map(|_| value(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let fields = (0..rng.usize(..3))
                .map(|i| (format!("\"k{i}\""), value(rng, depth - 1)))
                .collect();
            object(rng, fields)
        }
    }
}

/// An object of `fields` (key literals and values) with random whitespace, sometimes with one
/// field duplicated or an extra unknown field, in a shuffled order.
fn object(rng: &mut Rng, mut fields: Vec<(String, String)>) -> String {
    if !fields.is_empty() && rng.u8(..12) == 0 {
        let twin = fields[rng.usize(..fields.len())].clone();
        fields.push(twin);
    }
    if rng.u8(..4) == 0 {
        fields.push(("\"extra\"".to_owned(), value(rng, 2)));
    }
    if rng.u8(..3) == 0 {
        rng.shuffle(&mut fields);
    }
    let fields: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            let (a, b, c, d) = (ws(rng), ws(rng), ws(rng), ws(rng));
            format!("{a}{k}{b}:{c}{v}{d}")
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Keeps each field with probability 9/10; a dropped field tests "missing".
fn some_of(rng: &mut Rng, fields: Vec<(&str, String)>) -> Vec<(String, String)> {
    fields
        .into_iter()
        .filter(|_| rng.u8(..10) != 0)
        .map(|(k, v)| (format!("\"{k}\""), v))
        .collect()
}

/// Kinesis `data`: JSON, not JSON, not base64, escaped, mistyped, a KPL aggregate.
fn kinesis_data(rng: &mut Rng) -> String {
    match rng.u8(..12) {
        0..=3 => format!("\"{}\"", base64(br#"{"age":61,"bmi":22.5}"#)),
        4 => format!("\"{}\"", base64(b"not json")),
        5 => format!("\"{}\"", base64(br#"{"?!":1}"#).replace('/', "\\/")),
        6 => pick(
            rng,
            &[r#""not base64!""#, r#""e30""#, r#""e31=""#, r#"" e30=""#],
        )
        .to_owned(),
        7 => pick(rng, &["5", "null", "{}", r#""e\u0033=""#]).to_owned(),
        8 => {
            let packed = aggregate(&[("k1", br#"{"age":1}"#), ("k2", b"[1]")]);
            format!("\"{}\"", base64(&packed))
        }
        9 => format!("\"{}\"", base64(b"\xef\xbb\xbf{\"a\":1}")),
        _ => format!("\"{}\"", base64(b"\xf3\x28 binary")),
    }
}

fn kinesis(rng: &mut Rng) -> String {
    let sequence_number = match rng.u8(..6) {
        0 => pick(rng, &["49", "null", "[]"]).to_owned(),
        _ => string(rng),
    };
    let timestamp = match rng.u8(..6) {
        0 => string(rng),
        _ => pick(rng, &["1795000000.5", "1795000000.123456789", "1e3"]).to_owned(),
    };
    let fields = vec![
        ("sequenceNumber", sequence_number),
        ("partitionKey", string(rng)),
        ("data", kinesis_data(rng)),
        ("approximateArrivalTimestamp", timestamp),
        ("kinesisSchemaVersion", r#""1.0""#.to_owned()),
    ];
    let fields = some_of(rng, fields);
    object(rng, fields)
}

fn dynamodb(rng: &mut Rng) -> String {
    let image = match rng.u8(..5) {
        0 => value(rng, 2),
        _ => {
            let attributes = (0..rng.usize(..4))
                .map(|i| {
                    let v = pick(rng, &[r#"{"N":"1.5"}"#, r#"{"S":"x"}"#, r#"{"N":7}"#, "{}"]);
                    (format!("\"f{i}\""), v.to_owned())
                })
                .collect();
            object(rng, attributes)
        }
    };
    let fields = vec![
        ("SequenceNumber", string(rng)),
        (
            "Keys",
            object(rng, vec![("\"id\"".to_owned(), r#"{"S":"k"}"#.to_owned())]),
        ),
        ("NewImage", image),
        ("ApproximateCreationDateTime", "1795000000".to_owned()),
        ("StreamViewType", r#""NEW_IMAGE""#.to_owned()),
    ];
    let fields = some_of(rng, fields);
    object(rng, fields)
}

fn sqs_fields(rng: &mut Rng) -> Vec<(&'static str, String)> {
    let base64_body = rng.bool();
    let body = if base64_body {
        format!("\"{}\"", base64(br#"{"age":3}"#))
    } else {
        pick(rng, &[r#""{\"age\":3}""#, r#""not json""#, "5"]).to_owned()
    };
    let encoding = if base64_body || rng.u8(..4) == 0 {
        pick(
            rng,
            &[
                r#"{"content-transfer-encoding":{"stringValue":"base64","dataType":"String"}}"#,
                r#"{"Content-Transfer-Encoding":{"stringValue":"gzip","dataType":"String"}}"#,
            ],
        )
    } else {
        pick(rng, &["{}", "null", "[]"])
    };
    let attributes = pick(
        rng,
        &[
            r#"{"SentTimestamp":"1795000000000","MessageGroupId":"g"}"#,
            r#"{"SentTimestamp":"soon"}"#,
            r#"{"SentTimestamp":"1","SentTimestamp":"2"}"#,
            "7",
        ],
    );
    vec![
        ("messageId", string(rng)),
        ("body", body),
        ("attributes", attributes.to_owned()),
        ("messageAttributes", encoding.to_owned()),
    ]
}

/// One element of `Records`: a record of some source, or something that is not one.
fn record(rng: &mut Rng, source: &str) -> String {
    let mut fields = vec![
        ("eventSource", source.to_owned()),
        ("eventSourceARN", string(rng)),
        ("eventVersion", r#""1.0""#.to_owned()),
    ];
    match rng.u8(..10) {
        0..=3 => fields.push(("kinesis", kinesis(rng))),
        4..=5 => {
            let name = pick(
                rng,
                &[r#""INSERT""#, r#""MODIFY""#, r#""REMOVE""#, r#""PUT""#, "1"],
            );
            fields.push(("eventName", name.to_owned()));
            fields.push(("dynamodb", dynamodb(rng)));
        }
        6..=7 => fields.extend(sqs_fields(rng)),
        8 => return value(rng, 3),
        _ => fields.push(("kinesis", value(rng, 2))),
    }
    let fields = some_of(rng, fields);
    object(rng, fields)
}

/// A whole event: usually `{"Records":[...]}` with random whitespace, sometimes another shape.
fn event(rng: &mut Rng) -> String {
    // Mostly one source per event, as Lambda sends them, with a stranger now and then.
    let main = pick(
        rng,
        &[r#""aws:kinesis""#, r#""aws:dynamodb""#, r#""aws:sqs""#],
    );
    let records: Vec<String> = (0..rng.usize(..6))
        .map(|_| {
            let source = match rng.u8(..10) {
                0 => pick(
                    rng,
                    &[
                        r#""aws:sns""#,
                        r#""aws:kin\u0065sis""#,
                        "7",
                        r#""aws:kinesis""#,
                    ],
                ),
                _ => main,
            };
            record(rng, source)
        })
        .collect();
    let separators: Vec<String> = records
        .iter()
        .map(|r| format!("{}{r}{}", ws(rng), ws(rng)))
        .collect();
    let array = format!("[{}{}]", ws(rng), separators.join(","));
    let (a, b, c, d, e) = (ws(rng), ws(rng), ws(rng), ws(rng), ws(rng));
    let usual = format!(r#"{a}{{{b}"Records"{c}:{d}{array}{e}}}{}"#, ws(rng));
    match rng.u8(..24) {
        0 => format!(r#"{{"other":1,"Records":{array}}}"#),
        1 => format!(r#"{{"Records":{array},"other":[1]}}"#),
        2 => format!(r#"{{"Records":{array},"Records":[]}}"#),
        3 => format!(r#"{{"\u0052ecords":{array}}}"#),
        4 => pick(
            rng,
            &[r#"{"Records":{}}"#, r#"{"Records":null}"#, "[]", "{}", ""],
        )
        .to_owned(),
        5 => format!("{usual}x"),
        6 => format!("\u{feff}{usual}"),
        7 => format!(r#"{{"Records":[{}{}]}}"#, records.join(","), ","),
        8 => {
            // Cut anywhere, on a character boundary: a truncated event or record.
            let cut = rng.usize(..=usual.len());
            let cut = (0..=cut)
                .rev()
                .find(|&i| usual.is_char_boundary(i))
                .unwrap_or(0);
            usual[..cut].to_owned()
        }
        9 => usual.replacen(',', ",,", 1),
        _ => usual,
    }
}

#[test]
fn the_one_pass_split_decodes_every_event_as_the_two_pass_reference() {
    let seed = std::env::var("STREAM_INFER_SPLIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    let mut rng = Rng::with_seed(seed);
    let limits = DecodeLimits::default();
    let (mut one_pass, mut errors) = (0, 0);
    for case in 0..10_000 {
        let event = event(&mut rng);
        let new = format!("{:?}", decode_event_with(&event, limits));
        let reference = format!("{:?}", decode_event_reference(&event, limits));
        assert_eq!(new, reference, "case {case} (seed {seed}): {event}");
        one_pass += usize::from(split(&event).is_some());
        errors += usize::from(reference.contains("Invalid("));
    }
    // The comparison means something only if most events take the one-pass path and many hold
    // broken records.
    assert!(
        one_pass > 5_000,
        "only {one_pass} events took the one-pass path"
    );
    assert!(errors > 2_500, "only {errors} events had an invalid record");
}

/// The scanner (`scan.rs`) against serde on every record of `event` that serde can split out:
/// where the scanner reads a record, serde must read the same envelope and the same extent.
/// Returns how many records the scanner read and how many it left to serde.
fn scanned_as_serde(event: &str) -> (usize, usize) {
    let Ok(raw) = serde_json::from_str::<super::Event<'_>>(event) else {
        return (0, 0);
    };
    let (mut scanned, mut left) = (0, 0);
    for record in raw.records {
        let text = record.get();
        match scan::envelope(text) {
            Some((envelope, len)) => {
                let (reference, reference_len) = parse(text).expect("serde splits it");
                let reference = reference.unwrap_or_else(|e| {
                    panic!("the scanner read a record serde refuses ({e}): {text}")
                });
                assert_eq!(format!("{envelope:?}"), format!("{reference:?}"), "{text}");
                assert_eq!(len, reference_len, "{text}");
                scanned += 1;
            }
            None => left += 1,
        }
    }
    (scanned, left)
}

/// A string literal with one of its characters escaped (`\u` or, for `/`, `\/`).
fn escape_one(rng: &mut Rng, literal: &str) -> String {
    let inner = &literal[1..literal.len() - 1];
    let chars: Vec<char> = inner.chars().collect();
    if chars.is_empty() {
        return r#""\u0041""#.to_owned();
    }
    let at = rng.usize(..chars.len());
    let escaped = match chars[at] {
        '/' if rng.bool() => "\\/".to_owned(),
        c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
        c => c.to_string(),
    };
    let before: String = chars[..at].iter().collect();
    let after: String = chars[at + 1..].iter().collect();
    format!("\"{before}{escaped}{after}\"")
}

/// A number literal: JSON's forms, invalid ones, and ones out of range.
fn number_literal(rng: &mut Rng) -> String {
    match rng.u8(..4) {
        0 => pick(
            rng,
            &[
                "0",
                "-0",
                "1795000000",
                "1795000000.5",
                "1.795e9",
                "1E+2",
                "-1.5e-3",
                "0.1",
                "1e-400",
                "1e400",
                "01",
                "1.",
                ".5",
                "+1",
                "-",
                "1e",
                "1795000000.123456789",
                "123456789012345678901234567890",
                "18446744073709551616",
                "9007199254740993",
                "2.2250738585072011e-308",
            ],
        )
        .to_owned(),
        1 => format!("{}", rng.f64() * 1e10),
        2 => format!("{:e}", (rng.f64() - 0.5) * 1e-5),
        _ => format!(
            "{}.{:03}",
            1_795_000_000 + rng.u32(..1_000_000),
            rng.u16(..1000)
        ),
    }
}

/// Something other than a string where a string is expected, or a string where a number is.
fn mistyped(rng: &mut Rng) -> String {
    pick(rng, &["null", "7", "[]", "{}", "true", r#""1795000000.5""#]).to_owned()
}

/// Makes at most one change to one of `fields`: an escape in a string, a mistyped value, a
/// duplicate, an escaped or SQS key, a control character, a nested unknown field.
fn mutate(rng: &mut Rng, fields: &mut Vec<(String, String)>, change: u8) {
    let at = rng.usize(..fields.len());
    let value = &mut fields[at].1;
    match change {
        0 if value.starts_with('"') => *value = escape_one(rng, value),
        1 => *value = mistyped(rng),
        2 => {
            let twin = fields[at].clone();
            fields.push(twin);
        }
        3 => {
            let key = fields[at].0.clone();
            fields[at].0 = escape_one(rng, &key);
        }
        4 if value.len() > 2 && value.starts_with('"') => {
            let control = pick(rng, &["\u{1}", "\t", "\n", "\u{1f}"]);
            value.insert_str(1, control);
        }
        5 => fields.push(("\"extra\"".to_owned(), value_with_escapes(rng))),
        6 => fields.push((
            pick(rng, &[r#""body""#, r#""messageId""#, r#""attributes""#]).to_owned(),
            r#""x""#.to_owned(),
        )),
        _ => {}
    }
}

/// A nested unknown value, often with escapes, numbers and literals of every kind.
fn value_with_escapes(rng: &mut Rng) -> String {
    match rng.u8(..4) {
        0 => pick(
            rng,
            &[
                r#"{"a":[1,-2.5e3,true,false,null,"x\"y\\z\/\b\f\n\r\t\u00e9\ud83e\udd80"],"b":{}}"#,
                r#"[[[]],{"k":{"k":{"k":[0]}}},"",-0.0]"#,
                r#"{"bad":"\x"}"#,
                r#"{"bad":"\u12"}"#,
                r#"[1,]"#,
                r#"{"a" 1}"#,
                r#"[01]"#,
            ],
        )
        .to_owned(),
        1 => number_literal(rng),
        _ => value(rng, 3),
    }
}

fn fields(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (format!("\"{k}\""), v.clone()))
        .collect()
}

/// A Kinesis record as Lambda sends it, with at most one change in it or in its `kinesis`.
fn common_kinesis(rng: &mut Rng, i: usize) -> String {
    let payload = format!(
        r#"{{"age":{},"bmi":22.5,"id":"patient-{i:06}"}}"#,
        20 + i % 60
    );
    let timestamp = match rng.u8(..3) {
        0 => number_literal(rng),
        _ => format!("{}.{}", 1_795_000_000 + i, i % 1000),
    };
    let seq = format!("49590338271490256608559692538361571095921575989136{i:06}");
    let mut kinesis = fields(&[
        ("kinesisSchemaVersion", r#""1.0""#.to_owned()),
        ("partitionKey", format!("\"patient-{i:06}\"")),
        ("sequenceNumber", format!("\"{seq}\"")),
        ("data", format!("\"{}\"", base64(payload.as_bytes()))),
        ("approximateArrivalTimestamp", timestamp),
    ]);
    let mut record = fields(&[
        ("eventSource", r#""aws:kinesis""#.to_owned()),
        ("eventVersion", r#""1.0""#.to_owned()),
        ("eventID", format!("\"shardId-000000000000:{seq}\"")),
        ("eventName", r#""aws:kinesis:record""#.to_owned()),
        ("awsRegion", r#""us-east-1""#.to_owned()),
        (
            "eventSourceARN",
            r#""arn:aws:kinesis:us-east-1:123456789012:stream/in""#.to_owned(),
        ),
    ]);
    let change = rng.u8(..16);
    if rng.bool() {
        mutate(rng, &mut kinesis, change);
    } else {
        mutate(rng, &mut record, change);
    }
    let kinesis = common_object(rng, kinesis);
    record.push(("\"kinesis\"".to_owned(), kinesis));
    common_object(rng, record)
}

/// A DynamoDB Streams record as Lambda sends it, with at most one change.
fn common_dynamodb(rng: &mut Rng, i: usize) -> String {
    let keys = format!(r#"{{"id":{{"S":"patient-{i:06}"}}}}"#);
    let image = format!(
        r#"{{"id":{{"S":"patient-{i:06}"}},"age":{{"N":"{}"}}}}"#,
        i % 90
    );
    let mut dynamodb = fields(&[
        ("ApproximateCreationDateTime", number_literal(rng)),
        ("Keys", keys),
        ("NewImage", image.clone()),
        ("OldImage", image),
        ("SequenceNumber", format!("\"{}\"", 100_000_000 + i)),
        ("SizeBytes", "300".to_owned()),
        ("StreamViewType", r#""NEW_AND_OLD_IMAGES""#.to_owned()),
    ]);
    let name = pick(rng, &[r#""INSERT""#, r#""MODIFY""#, r#""REMOVE""#]);
    let mut record = fields(&[
        ("eventID", format!("\"{i:032x}\"")),
        ("eventName", name.to_owned()),
        ("eventVersion", r#""1.1""#.to_owned()),
        ("eventSource", r#""aws:dynamodb""#.to_owned()),
        ("awsRegion", r#""us-east-1""#.to_owned()),
        (
            "eventSourceARN",
            r#""arn:aws:dynamodb:us-east-1:123456789012:table/in/stream/x""#.to_owned(),
        ),
    ]);
    let change = rng.u8(..16);
    if rng.bool() {
        mutate(rng, &mut dynamodb, change);
    } else {
        mutate(rng, &mut record, change);
    }
    let dynamodb = common_object(rng, dynamodb);
    record.push(("\"dynamodb\"".to_owned(), dynamodb));
    common_object(rng, record)
}

/// An object of `fields`, compact, with whitespace everywhere, or with `object`'s random
/// whitespace and order.
fn common_object(rng: &mut Rng, fields: Vec<(String, String)>) -> String {
    match rng.u8(..6) {
        0 => object(rng, fields),
        1 => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\n\t {k} \r\n:\t{v}  "))
                .collect();
            format!("{{ \n{}\n }}", fields.join(" ,\r\n"))
        }
        _ => {
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

#[test]
fn the_scanner_reads_common_records_as_serde_and_leaves_the_rest_to_it() {
    let seed = std::env::var("STREAM_INFER_SCAN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5ca7_2026);
    let mut rng = Rng::with_seed(seed);
    let limits = DecodeLimits::default();
    let (mut scanned, mut left) = (0, 0);
    for case in 0..5_000 {
        let dynamodb = rng.u8(..3) == 0;
        let records: Vec<String> = (0..rng.usize(1..8))
            .map(|i| match rng.u8(..10) {
                0 => record(&mut rng, r#""aws:kinesis""#),
                _ if dynamodb => common_dynamodb(&mut rng, case * 8 + i),
                _ => common_kinesis(&mut rng, case * 8 + i),
            })
            .collect();
        let mut event = format!("{{\"Records\":[{}]}}", records.join(", \n"));
        if rng.u8(..50) == 0 {
            // A truncated event: no record after the cut is read by anyone.
            let cut = rng.usize(..event.len());
            let cut = (0..=cut)
                .rev()
                .find(|&i| event.is_char_boundary(i))
                .unwrap_or(0);
            event.truncate(cut);
        }
        let new = format!("{:?}", decode_event_with(&event, limits));
        let reference = format!("{:?}", decode_event_reference(&event, limits));
        assert_eq!(new, reference, "case {case} (seed {seed}): {event}");
        let (s, l) = scanned_as_serde(&event);
        scanned += s;
        left += l;
    }
    // Most records take the fast path, and every kind of change sends many to serde.
    assert!(scanned > 7_000, "only {scanned} records were scanned");
    assert!(left > 3_000, "only {left} records were left to serde");
}

#[test]
fn the_scanner_agrees_with_serde_on_the_random_events() {
    let mut rng = Rng::with_seed(0x5eed_2026);
    let (mut scanned, mut left) = (0, 0);
    for _ in 0..10_000 {
        let (s, l) = scanned_as_serde(&event(&mut rng));
        scanned += s;
        left += l;
    }
    assert!(scanned > 2_000, "only {scanned} records were scanned");
    assert!(left > 12_000, "only {left} records were left to serde");
}
