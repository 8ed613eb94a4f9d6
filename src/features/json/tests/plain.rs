//! The JSON fast path against the serde path on generated payloads: `extract` (fast path, then
//! serde on anything it leaves) must give what serde alone gives, bit for bit, for every payload.

use std::cell::Cell;

use fastrand::Rng;

use crate::features::json::read_plain;
use crate::features::{FeatureSpec, Payload};

/// Feature names: short ones, and two long ones that share their first 8 bytes.
const NAMES: [&str; 5] = [
    "age",
    "bmi",
    "s1",
    "blood_pressure_mean",
    "blood_pressure_max",
];

/// What a payload gives: the key and the row's bits, or the error's `Debug`.
type Outcome = Result<(Option<String>, Vec<u64>), String>;

fn outcome(result: Result<Option<String>, crate::source::DecodeError>, row: &[f64]) -> Outcome {
    match result {
        Ok(key) => Ok((key, row.iter().map(|v| v.to_bits()).collect())),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// The serde path alone: the reference.
fn serde_path(spec: &FeatureSpec, bytes: &[u8]) -> Outcome {
    let mut row = vec![f64::NAN; spec.width()];
    let result = spec.parse(Payload::Json(bytes), &mut row, None);
    outcome(result, &row)
}

/// What the pipeline runs: the fast path, and serde when it gives up.
fn extract(spec: &FeatureSpec, bytes: &[u8]) -> Outcome {
    let mut row = vec![0.5; spec.width()];
    let result = spec.extract(Payload::Json(bytes), &mut row);
    outcome(result, &row)
}

thread_local! {
    /// Whether the payload being generated may be broken (half are plain, to reach the fast path).
    static NOISY: Cell<bool> = const { Cell::new(true) };
}

/// True once in `n` draws, in a payload that may be broken.
fn rare(rng: &mut Rng, n: u32) -> bool {
    NOISY.get() && rng.u32(0..n) == 0
}

/// `name` with its second character written as a `\u` escape.
fn escaped(name: &str) -> String {
    format!("{}\\u{:04x}{}", &name[..1], name.as_bytes()[1], &name[2..])
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

fn digits(rng: &mut Rng, n: usize) -> String {
    let mut text: String = (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect();
    if text.starts_with('0') && n > 1 {
        text.replace_range(..1, "7");
    }
    text
}

fn random_f64(rng: &mut Rng) -> f64 {
    loop {
        let v = f64::from_bits(rng.u64(..));
        if v.is_finite() {
            return v;
        }
    }
}

/// A number in one of the forms producers write, or a near miss of JSON's grammar.
fn number(rng: &mut Rng) -> String {
    let form = if rare(rng, 30) { 13 } else { rng.u8(0..13) };
    match form {
        0 => rng.i64(-1000..1000).to_string(),
        1 => rng.u64(..).to_string(),
        2 => rng.i64(..).to_string(),
        // Integers beyond u64, which serde reads as floats.
        3 => {
            let (sign, n) = (pick(rng, &["", "-"]), rng.usize(20..42));
            format!("{sign}{}", digits(rng, n))
        }
        4 => format!("{:?}", random_f64(rng)),
        5 => format!("{:e}", random_f64(rng)),
        6 => format!("{:E}", random_f64(rng) * 1e-3),
        // 17 significant digits, as shortest round trips need at most.
        7 => format!("{:.16e}", random_f64(rng)),
        // Subnormals, and the exact decimal expansion of a float (past any fast path).
        8 => format!("{:e}", f64::from_bits(rng.u64(1..1 << 52))),
        9 => format!("{:.40e}", random_f64(rng)),
        10 => {
            let int = match rng.bool() {
                true => "0".to_owned(),
                false => {
                    let n = rng.usize(1..25);
                    digits(rng, n)
                }
            };
            let fraction = match rng.u8(0..3) {
                0 => String::new(),
                _ => {
                    let n = rng.usize(1..25);
                    format!(".{}", digits(rng, n).replace('7', "0"))
                }
            };
            let exponent = match rng.u8(0..3) {
                0 => String::new(),
                _ => format!(
                    "{}{}{}",
                    pick(rng, &["e", "E"]),
                    pick(rng, &["", "+", "-"]),
                    rng.u32(0..400)
                ),
            };
            format!("{}{int}{fraction}{exponent}", pick(rng, &["", "", "-"]))
        }
        // Around the edges of an exact mantissa (2^53) and power of ten (1e22).
        11 => format!("{}e{}", (1u64 << 53) - 3 + rng.u64(0..6), rng.i32(-25..=25)),
        12 => pick(
            rng,
            &[
                "0",
                "-0",
                "-0.0",
                "0.0",
                "0e0",
                "-0e-5",
                "1e308",
                "1.7976931348623157e308",
                "1.7976931348623158e308",
                "1.7976931348623159e308",
                "1e309",
                "-1e309",
                "2e-324",
                "3e-324",
                "2.4703282292062327e-324",
                "2.4703282292062328e-324",
                "1e-400",
                "0e999999",
                "1e-99999999999999999999",
                "1e99999999999999999999",
                "0e99999999999999999999",
                "9007199254740993",
                "9007199254740993.0",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775808",
                "-9223372036854775809",
                "0.1",
                "1E+2",
                "1e-0",
                "4.9406564584124654e-324",
                "2.2250738585072011e-308",
                "1234567890123456789",
                "12345678901234567890",
                "0.30000000000000004",
                "1.00000000000000011102230246251565404236316680908203125",
            ],
        )
        .to_owned(),
        _ => pick(
            rng,
            &[
                "01",
                "1.",
                "+1",
                ".5",
                "1e",
                "1e+",
                "-",
                "--1",
                "NaN",
                "Infinity",
                "-Infinity",
                "0x10",
                "1_000",
                "1.5.2",
                "00.1",
                "-01",
                "1e5.5",
                "1ee5",
                "-.5",
                "1.e5",
            ],
        )
        .to_owned(),
    }
}

/// A string value, now and then with an escape, a control character or bytes that are not UTF-8.
fn string(rng: &mut Rng) -> Vec<u8> {
    let form = match rare(rng, 3) {
        true => rng.u8(2..7),
        false => [0, 1, 7][rng.usize(..3)],
    };
    let text: &[u8] = match form {
        0 => b"",
        1 => "caf\u{e9} \u{1f600}".as_bytes(),
        2 => br#"a\"b"#,
        3 => br"\u00e9\n",
        4 => b"tab\there",
        5 => b"bad \xff byte",
        6 => br"\x",
        _ => b"patient-000042",
    };
    [b"\"", text, b"\""].concat()
}

/// Any value, for fields that the model does not read.
fn value(rng: &mut Rng, depth: usize) -> Vec<u8> {
    let choice = if depth == 0 {
        rng.u8(0..6)
    } else {
        rng.u8(0..9)
    };
    match choice {
        0 | 1 => number(rng).into_bytes(),
        2 => string(rng),
        3 if rare(rng, 20) => pick(rng, &["nul", "True", "f"]).into(),
        3 => pick(rng, &["true", "false", "null"]).into(),
        4 | 5 if depth == 0 => pick(rng, &["[]", "{}", "[1,2]", "{\"a\":{}}"]).into(),
        4 | 5 => {
            // Now and then nested deeper than the fast path follows.
            let deep = rare(rng, 20);
            let inner = value(rng, if deep { depth } else { depth - 1 });
            match deep {
                true => [b"[[[[[[[[[[[[[[[[[[", &inner[..], b"]]]]]]]]]]]]]]]]]]"].concat(),
                false => [b"[", &inner[..], b"]"].concat(),
            }
        }
        _ => {
            let n = rng.usize(0..4);
            let members: Vec<_> = (0..n)
                .map(|_| {
                    let (key, value) = (key(rng, &[]), value(rng, depth - 1));
                    member(rng, key, value)
                })
                .collect();
            let wrong = rare(rng, 30);
            object(rng, members, wrong)
        }
    }
}

/// Whitespace, mostly none.
fn ws(rng: &mut Rng) -> &'static [u8] {
    match rng.u8(0..10) {
        0 => b" ",
        1 => b"\n\t ",
        2 => b"\r\n  ",
        _ => b"",
    }
}

fn member(rng: &mut Rng, key: Vec<u8>, value: Vec<u8>) -> Vec<u8> {
    [ws(rng), &key, ws(rng), b":", ws(rng), &value, ws(rng)].concat()
}

/// `{` members `}`, now and then with a trailing comma (or brackets, when `wrong`).
fn object(rng: &mut Rng, members: Vec<Vec<u8>>, wrong: bool) -> Vec<u8> {
    let mut text = members.join(&b","[..]);
    if rare(rng, 50) {
        text.push(b',');
    }
    let (open, close): (&[u8], &[u8]) = if wrong { (b"[", b"]") } else { (b"{", b"}") };
    [open, ws(rng), &text, ws(rng), close].concat()
}

/// A quoted key: another field's name, or one of `names` (now and then escaped).
fn key(rng: &mut Rng, names: &[&str]) -> Vec<u8> {
    let text = if !names.is_empty() && rare(rng, 10) {
        // A repeat of a name that decides the row, maybe escaped (which serde matches).
        let name = pick(rng, names);
        match rng.bool() {
            true => escaped(name),
            false => name.to_owned(),
        }
    } else {
        let names = [
            "x",
            "ag",
            "agee",
            "blood_pressure_meal",
            "blood_pr",
            "",
            "caf\u{e9}",
        ];
        let other = ["features", "id", "extra", "s\\u0031"];
        match rare(rng, 5) {
            true => pick(rng, &other).to_owned(),
            false => pick(rng, &names).to_owned(),
        }
    };
    format!("\"{text}\"").into_bytes()
}

/// A feature's value: a number, or now and then something else.
fn feature(rng: &mut Rng) -> Vec<u8> {
    if !rare(rng, 12) {
        return number(rng).into_bytes();
    }
    match rng.u8(0..5) {
        0 => string(rng),
        1 => b"null".to_vec(),
        2 => b"true".to_vec(),
        3 => b"[1]".to_vec(),
        _ => b"{\"a\":1}".to_vec(),
    }
}

/// The record's id: a string or number mostly.
fn id(rng: &mut Rng) -> Vec<u8> {
    match rng.u8(0..10) {
        0 => number(rng).into_bytes(),
        1 => value(rng, 2),
        2 if NOISY.get() => br#""p\u002d7""#.to_vec(),
        3 => b"\"\xc3\xa9t\xc3\xa9\"".to_vec(),
        _ => format!("\"patient-{:06}\"", rng.u32(..1_000_000)).into_bytes(),
    }
}

/// The features' members: each name once (now and then missing or twice), in any order, with
/// fields the model does not read among them.
fn features(rng: &mut Rng, names: &[&str], extra: &[&str]) -> Vec<Vec<u8>> {
    let mut members = Vec::new();
    for name in names {
        let times = if rare(rng, 20) { rng.usize(..3) } else { 1 };
        for _ in 0..times {
            let name = match rare(rng, 30) {
                true => escaped(name),
                false => name.to_string(),
            };
            let key = format!("\"{name}\"").into_bytes();
            let value = feature(rng);
            members.push(member(rng, key, value));
        }
    }
    for _ in 0..rng.usize(0..4) {
        let (key, value) = (key(rng, extra), value(rng, 3));
        members.push(member(rng, key, value));
    }
    rng.shuffle(&mut members);
    members
}

/// A payload for `spec`: a plain one mostly, then now and then broken.
fn payload(rng: &mut Rng, names: &[&str], nested: Option<&str>, id_field: &str) -> Vec<u8> {
    let mut members = match nested {
        None => features(rng, names, names),
        Some(field) => {
            let inner = features(rng, names, &[id_field, field]);
            let wrong = rare(rng, 40);
            let value = match rare(rng, 40) {
                true => number(rng).into_bytes(),
                false => object(rng, inner, wrong),
            };
            let key = format!("\"{field}\"").into_bytes();
            let mut members = vec![];
            // Missing now and then, or twice.
            let times = if rare(rng, 10) { rng.usize(..3) } else { 1 };
            for _ in 0..times {
                members.push(member(rng, key.clone(), value.clone()));
            }
            // Top-level fields named like features are not features here.
            for _ in 0..rng.usize(0..3) {
                let (key, value) = (key_of(rng, names), feature(rng));
                members.push(member(rng, key, value));
            }
            members
        }
    };
    let ids = if rare(rng, 30) {
        2
    } else {
        [0, 1, 1, 1, 1, 1][rng.usize(..6)]
    };
    for _ in 0..ids {
        let key = format!("\"{id_field}\"").into_bytes();
        let value = id(rng);
        members.push(member(rng, key, value));
    }
    rng.shuffle(&mut members);
    let wrong = rare(rng, 100);
    let body = object(rng, members, wrong);
    let mut text = [ws(rng), &body[..], ws(rng)].concat();
    match if NOISY.get() { rng.u8(0..12) } else { 99 } {
        0 => text.truncate(rng.usize(..=text.len())),
        1 => {
            let tail = pick(rng, &["x", "}", ",{}", " 1", "\u{0}"]);
            text.extend_from_slice(tail.as_bytes());
        }
        2 if !text.is_empty() => {
            let at = rng.usize(..text.len());
            text[at] = [b'"', b'\\', b'{', b',', b'0', 0xff, 0x01, b' ', b'-'][rng.usize(..9)];
        }
        _ => {}
    }
    text
}

fn key_of(rng: &mut Rng, names: &[&str]) -> Vec<u8> {
    format!("\"{}\"", pick(rng, names)).into_bytes()
}

#[test]
fn the_fast_path_and_its_fallback_give_what_serde_gives() {
    let owned = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    // (names, FEATURES_FIELD, ID_FIELD, how many in 100 payloads the fast path reads at least),
    // including an id that is a feature's name (mostly rejected, then) or `FEATURES_FIELD`.
    let specs: [(&[&str], Option<&str>, &str, u64); 4] = [
        (&NAMES, None, "id", 40),
        (&NAMES, Some("features"), "id", 40),
        (&NAMES[..2], None, "age", 5),
        (&NAMES[2..], Some("id"), "id", 5),
    ];
    for (names, nested, id_field, share) in specs {
        let spec = FeatureSpec::new(owned(names), nested.map(str::to_owned), id_field.to_owned());
        let (mut fast, mut fallback_ok, mut errors) = (0, 0, 0);
        let cases = 25_000;
        for case in 0..cases {
            let mut rng = Rng::with_seed(case);
            NOISY.set(rng.bool());
            let bytes = payload(&mut rng, names, nested, id_field);
            let expected = serde_path(&spec, &bytes);
            let shown = || String::from_utf8_lossy(&bytes).into_owned();
            assert_eq!(
                extract(&spec, &bytes),
                expected,
                "case {case} of {nested:?}: {}",
                shown()
            );
            let mut row = vec![f64::NAN; spec.width()];
            match read_plain(&spec, &bytes, &mut row) {
                Some(key) => {
                    fast += 1;
                    assert_eq!(
                        Ok((key, row.iter().map(|v| v.to_bits()).collect())),
                        expected
                    );
                }
                None if expected.is_ok() => fallback_ok += 1,
                None => errors += 1,
            }
        }
        // The generator reaches all three: the fast path, payloads only serde reads, and errors.
        assert!(
            fast >= cases * share / 100,
            "{nested:?}: {fast} on the fast path"
        );
        assert!(
            fallback_ok >= cases / 200,
            "{nested:?}: {fallback_ok} read by serde"
        );
        assert!(errors >= cases / 5, "{nested:?}: {errors} errors");
    }
}

#[test]
fn numbers_of_every_form_parse_to_serdes_f64() {
    let spec = FeatureSpec::new(vec!["v".into()], None, "id".into());
    let mut rng = Rng::with_seed(7);
    let mut fast = 0;
    for _ in 0..50_000 {
        let text = format!("{{\"v\":{}}}", number(&mut rng));
        let expected = serde_path(&spec, text.as_bytes());
        assert_eq!(extract(&spec, text.as_bytes()), expected, "{text}");
        let mut row = [f64::NAN];
        if let Some(key) = read_plain(&spec, text.as_bytes(), &mut row) {
            fast += 1;
            assert_eq!(Ok((key, vec![row[0].to_bits()])), expected, "{text}");
        }
    }
    assert!(fast > 40_000, "{fast} numbers read by the fast path");
}
