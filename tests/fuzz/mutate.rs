//! Byte-level and JSON-aware mutations, and the producer wrappers (gzip, zlib, KPL) that let a
//! mutated payload reach the decoders behind decompression and de-aggregation.

use base64::Engine;
use fastrand::Rng;

use super::target::Target;

/// Tokens that tend to break decoders: extreme numbers, wrong types, escapes, empty containers.
const TOKENS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e400",
    "-1e400",
    "5e-324",
    "1e-400",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "NaN",
    "Infinity",
    "null",
    "true",
    "false",
    "[]",
    "{}",
    "[[[[[[[[]]]]]]]]",
    "\"\"",
    "\"NaN\"",
    "\"1e400\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\\"\"",
    "\"é\"",
    "{\"N\":\"1\"}",
    "{\"N\":1}",
    "{\"S\":\"x\"}",
    "{\"NULL\":true}",
    "{\"M\":{}}",
    "{\"L\":[]}",
    "\"features\"",
    "\"id\"",
    "\"age\"",
    "\"data\"",
    "\"Records\"",
    "\"eventSource\"",
    "\"aws:kinesis\"",
    "\"aws:dynamodb\"",
    "\"REMOVE\"",
    "\"NewImage\"",
    "\"sequenceNumber\"",
    "\"SequenceNumber\"",
    ",",
    ":",
];

/// Bytes that matter to the formats read: JSON syntax, the gzip, zlib and KPL magic, UTF-8.
const BYTES: &[u8] = &[
    0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0xef, 0xbb, 0xbf, 0x1f, 0x8b, 0x78, 0x9c, 0xf3, 0x89, 0x9a,
    0xc2, b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'e', b'.', b' ',
];

/// One to four stacked mutations of `input` for `target`; `others` are corpus entries to splice
/// with. Most byte-level damage to an event or an artifact only makes it invalid JSON as a
/// whole, which is one boring path; so events mostly mutate a record's payload inside its base64
/// `data`, and artifacts mostly swap JSON tokens, which keeps them parseable.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>], target: Target) -> Vec<u8> {
    let mut out = input.to_vec();
    let stacked = match target {
        Target::Payload => rng.usize(1..=4),
        Target::Event | Target::Model => rng.usize(1..=2),
    };
    for _ in 0..stacked {
        let roll = rng.u8(0..100);
        out = match target {
            Target::Event if roll < 50 => mutate_kinesis_data(rng, out),
            Target::Model if roll < 50 => swap_number(rng, out),
            Target::Event | Target::Model if roll < 80 => json(rng, out),
            Target::Payload if roll < 40 => json(rng, out),
            Target::Payload if roll < 50 => wrap(rng, out),
            _ => bytes(rng, out, others),
        };
    }
    out
}

/// A mutation that knows JSON: a token swapped, or an object member repeated.
fn json(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    if rng.u8(0..4) == 0 {
        duplicate_member(rng, out)
    } else {
        swap_token(rng, out)
    }
}

/// A mutation that knows nothing of the format.
fn bytes(rng: &mut Rng, out: Vec<u8>, others: &[Vec<u8>]) -> Vec<u8> {
    match rng.u8(0..8) {
        0 | 1 => flip_bit(rng, out),
        2 => set_byte(rng, out),
        3 => delete(rng, out),
        4 => duplicate(rng, out),
        5 => insert_random(rng, out),
        6 => truncate(rng, out),
        _ => splice(rng, out, others),
    }
}

fn flip_bit(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    if !out.is_empty() {
        let at = rng.usize(..out.len());
        out[at] ^= 1 << rng.u8(0..8);
    }
    out
}

fn set_byte(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    if !out.is_empty() {
        let at = rng.usize(..out.len());
        out[at] = BYTES[rng.usize(..BYTES.len())];
    }
    out
}

/// A random range of `out`, short more often than long.
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.usize(..=len);
    let max = (len - start).min(if rng.bool() { 8 } else { len });
    (start, start + rng.usize(..=max))
}

fn delete(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    let (start, end) = range(rng, out.len());
    out.drain(start..end);
    out
}

fn duplicate(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    let (start, end) = range(rng, out.len());
    let copy = out[start..end].to_vec();
    let at = rng.usize(..=out.len());
    out.splice(at..at, copy);
    out
}

fn insert_random(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    let at = rng.usize(..=out.len());
    let bytes: Vec<u8> = (0..rng.usize(1..=8)).map(|_| rng.u8(..)).collect();
    out.splice(at..at, bytes);
    out
}

fn truncate(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    out.truncate(rng.usize(..=out.len()));
    out
}

/// The head of `out` and the tail of another corpus entry.
fn splice(rng: &mut Rng, mut out: Vec<u8>, others: &[Vec<u8>]) -> Vec<u8> {
    if others.is_empty() {
        return out;
    }
    let other = &others[rng.usize(..others.len())];
    out.truncate(rng.usize(..=out.len()));
    out.extend_from_slice(&other[rng.usize(..=other.len())..]);
    out
}

/// A JSON token's byte range: a string, a number or literal, or one structural character.
fn tokens(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => i += 1,
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            _ => {
                while i < bytes.len() && !b"\"{}[],: \t\r\n".contains(&bytes[i]) {
                    i += 1;
                }
            }
        }
        found.push((start, i));
    }
    found
}

/// Replaces a token with one from [`TOKENS`] or with another token of the same input, or swaps
/// two tokens.
fn swap_token(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    let found = tokens(&out);
    if found.is_empty() {
        return out;
    }
    let (start, end) = found[rng.usize(..found.len())];
    let replacement: Vec<u8> = if rng.bool() {
        TOKENS[rng.usize(..TOKENS.len())].as_bytes().to_vec()
    } else {
        let (s, e) = found[rng.usize(..found.len())];
        out[s..e].to_vec()
    };
    let mut result = out[..start].to_vec();
    result.extend_from_slice(&replacement);
    result.extend_from_slice(&out[end..]);
    result
}

/// Numbers that stress a model: zero, signs, the edges of `f64`, integers past 2^53.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "2",
    "1e16",
    "9007199254740993",
    "1e300",
    "-1e300",
    "1e308",
    "-1e308",
    "1e-308",
    "5e-324",
    "4294967296",
    "-4294967297",
    "1e19",
    "18446744073709551616",
];

/// Replaces one number with another, so that a model artifact keeps its shape and types and
/// reaches the checks behind parsing.
fn swap_number(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    let numbers: Vec<(usize, usize)> = tokens(&out)
        .into_iter()
        .filter(|&(s, _)| out[s] == b'-' || out[s].is_ascii_digit())
        .collect();
    if numbers.is_empty() {
        return out;
    }
    let (start, end) = numbers[rng.usize(..numbers.len())];
    let number = NUMBERS[rng.usize(..NUMBERS.len())];
    [&out[..start], number.as_bytes(), &out[end..]].concat()
}

/// Repeats a `"key": value` member right after itself, so that objects get duplicate keys.
fn duplicate_member(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    let found = tokens(&out);
    let colons: Vec<usize> = (1..found.len().saturating_sub(1))
        .filter(|&i| out[found[i].0] == b':' && out[found[i - 1].0] == b'"')
        .collect();
    if colons.is_empty() {
        return out;
    }
    let colon = colons[rng.usize(..colons.len())];
    // The member ends where its value ends: at depth 0, before the next `,` or closing bracket.
    let mut depth = 0i32;
    let mut end = found.len();
    for (i, &(s, _)) in found.iter().enumerate().skip(colon + 1) {
        match out[s] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => {
                end = i;
                break;
            }
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let member_start = found[colon - 1].0;
    let member_end = if end < found.len() {
        found[end].0
    } else {
        out.len()
    };
    let mut result = out[..member_end].to_vec();
    result.push(b',');
    result.extend_from_slice(&out[member_start..member_end]);
    result.extend_from_slice(&out[member_end..]);
    result
}

/// Decodes one Kinesis `"data"` value, mutates it as a payload, and writes it back as base64.
fn mutate_kinesis_data(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    let key = b"\"data\"";
    let starts: Vec<usize> = out
        .windows(key.len())
        .enumerate()
        .filter(|(_, w)| *w == key)
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() {
        return out;
    }
    let after = starts[rng.usize(..starts.len())] + key.len();
    let Some(open) = out[after..]
        .iter()
        .position(|&b| b == b'"')
        .map(|p| after + p)
    else {
        return out;
    };
    let Some(close) = out[open + 1..]
        .iter()
        .position(|&b| b == b'"')
        .map(|p| open + 1 + p)
    else {
        return out;
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let Ok(payload) = engine.decode(&out[open + 1..close]) else {
        return out;
    };
    // Payload mutations, spliced with payloads rather than with whole events.
    let mutated = mutate(rng, &payload, &[], Target::Payload);
    let mut result = out[..open + 1].to_vec();
    result.extend_from_slice(engine.encode(mutated).as_bytes());
    result.extend_from_slice(&out[close..]);
    result
}

/// Wraps the bytes the way producers do: gzip, zlib, a KPL aggregate, or a byte-order mark.
fn wrap(rng: &mut Rng, out: Vec<u8>) -> Vec<u8> {
    match rng.u8(0..4) {
        0 => gzip(&out),
        1 => zlib(&out),
        2 => {
            let count = rng.usize(1..=3);
            let records = vec![out; count];
            kpl(&records, rng.bool())
        }
        _ => [&[0xef, 0xbb, 0xbf][..], &out].concat(),
    }
}

/// DEFLATE "stored" blocks: the bytes as they are, which every inflater accepts.
fn stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65535 + 1));
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// A gzip member around stored blocks, with a correct CRC-32 and length.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(stored(data));
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A zlib stream around stored blocks, with a correct Adler-32.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    out.extend(stored(data));
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&(b << 16 | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes_field(number: u64, data: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// A KPL aggregate: magic, the AggregatedRecord protobuf, and its MD5 (broken when asked).
pub fn kpl(records: &[Vec<u8>], break_md5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    bytes_field(1, b"pk-fuzz", &mut body);
    for data in records {
        let mut record = vec![0x08, 0x00];
        bytes_field(3, data, &mut record);
        bytes_field(3, &record, &mut body);
    }
    let mut digest = md5(&body);
    if break_md5 {
        digest[0] ^= 0xff;
    }
    [&[0xf3, 0x89, 0x9a, 0xc2][..], &body, &digest].concat()
}

/// MD5 (RFC 1321), for the KPL trailer; the tools crate has no MD5 dependency of its own.
fn md5(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i: i32| ((f64::from(i + 1)).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    let mut state = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for block in message.chunks(64) {
        let m: Vec<u32> = block
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(k[i])
                .wrapping_add(m[g])
                .rotate_left(S[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut out = [0u8; 16];
    for (i, word) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_and_crc32_match_their_reference_values() {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(&md5(b"The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn the_kpl_wrapper_matches_the_committed_seed() {
        // fuzz/make_seeds.py builds ok-kpl.bin the same way, with Python's hashlib.
        let seed =
            std::fs::read(crate::util::root().join("fuzz/corpus/payload/ok-kpl.bin")).unwrap();
        assert_eq!(&seed[..4], &[0xf3, 0x89, 0x9a, 0xc2]);
        let body = &seed[4..seed.len() - 16];
        assert_eq!(&md5(body)[..], &seed[seed.len() - 16..]);
    }

    #[test]
    fn a_duplicated_member_repeats_a_key_and_stays_json() {
        let input = br#"{"a": {"b": [1, 2]}, "c": 3}"#;
        let mut rng = Rng::with_seed(7);
        for _ in 0..20 {
            let out = duplicate_member(&mut rng, input.to_vec());
            let text = String::from_utf8(out).unwrap();
            assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                "still JSON: {text}"
            );
            let keys = ["\"a\"", "\"b\"", "\"c\""];
            assert!(
                keys.iter().any(|k| text.matches(k).count() == 2),
                "one key twice: {text}"
            );
        }
    }
}
