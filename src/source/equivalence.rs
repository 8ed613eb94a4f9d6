//! The one-pass split of `decode_event_with` against the two-pass `decode_event_reference`, on
//! generated events: valid, mistyped, duplicated and escaped fields, records of every source,
//! KPL aggregates, whitespace variants, broken records and events of unusual shapes.

use base64::Engine;
use fastrand::Rng;

use super::kpl::tests::aggregate;
use super::{DecodeLimits, decode_event_reference, decode_event_with, split};

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
