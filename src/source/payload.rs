//! What a Kinesis payload's bytes are before they are JSON: gzip or zlib (decompressed, with a
//! bound), a UTF-8 byte-order mark (skipped), or binary data (named in the rejection).
//!
//! The common case, a JSON object, is recognised by its first byte and passed on as it is: no
//! copy and no scan. Everything else is looked at only when the first byte says it is not JSON.

use std::io::Read;

use flate2::read::{MultiGzDecoder, ZlibDecoder};

use super::DecodeError;
use super::kpl;

/// `MAX_DECOMPRESSED_BYTES` when unset: 1 MiB per record.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Limits that apply while a record's payload is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The most bytes a compressed payload may decompress to (`MAX_DECOMPRESSED_BYTES`).
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// A payload's bytes as the JSON text to parse: decompressed when gzip or zlib, without a
/// byte-order mark. Bytes that are clearly not JSON (binary data, a nested aggregate) are
/// rejected here, with what they look like; other text is left for the JSON parser to judge.
pub(super) fn open(bytes: Vec<u8>, limits: DecodeLimits) -> Result<Vec<u8>, DecodeError> {
    let mut bytes = match bytes.as_slice() {
        [b'{', ..] => return Ok(bytes),
        [0x1F, 0x8B, ..] => inflate(Compression::Gzip, &bytes, limits)?,
        [cmf, flg, ..] if is_zlib_header(*cmf, *flg) => inflate(Compression::Zlib, &bytes, limits)?,
        _ => bytes,
    };
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    match bytes.first() {
        Some(&first) if !may_start_json(first) => match describe(&bytes) {
            Some(what) => Err(not_json(what, &bytes)),
            None => Ok(bytes),
        },
        _ => Ok(bytes),
    }
}

/// What bytes that failed to parse as JSON look like, for the rejection message: `None` when they
/// are plain text (the JSON syntax error then says enough).
///
/// Used by `features` when it builds a `not_json` error:
/// `crate::source::describe(bytes).map(|what| format!("{what}: {detail}"))`.
pub(crate) fn describe(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        _ if bytes.starts_with(&kpl::MAGIC) => Some("looks like a KPL aggregate"),
        [0x1F, 0x8B, ..] => Some("looks like gzip"),
        [cmf, flg, ..] if is_zlib_header(*cmf, *flg) => Some("looks like zlib"),
        _ if is_binary(bytes) => Some("binary data"),
        _ => None,
    }
}

/// Not UTF-8, or holding control characters that JSON text never has outside strings.
fn is_binary(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_err()
        || bytes
            .iter()
            .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7F)
}

/// JSON text starts with whitespace or the first byte of a value.
fn may_start_json(byte: u8) -> bool {
    matches!(
        byte,
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' | b' ' | b'\t' | b'\n' | b'\r'
    )
}

/// RFC 1950: deflate (CM 8) with a window of at most 32 KiB, a header checksum that divides by 31,
/// and no preset dictionary (which no producer can expect us to have).
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0F == 8
        && cmf >> 4 <= 7
        && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
        && flg & 0x20 == 0
}

#[derive(Debug, Clone, Copy)]
enum Compression {
    Gzip,
    Zlib,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zlib => "zlib",
        }
    }
}

/// Decompresses at most `limit + 1` bytes: one byte past the limit proves the payload too large
/// without expanding the rest of it.
fn inflate(
    compression: Compression,
    compressed: &[u8],
    limits: DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let limit = limits.max_decompressed_bytes;
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit) + 1);
    let take = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let read = match compression {
        Compression::Gzip => MultiGzDecoder::new(compressed)
            .take(take)
            .read_to_end(&mut out),
        Compression::Zlib => ZlibDecoder::new(compressed)
            .take(take)
            .read_to_end(&mut out),
    };
    let name = compression.name();
    match read {
        Ok(_) if out.len() > limit => Err(DecodeError::PayloadTooLarge {
            detail: format!(
                "{} bytes of {name} decompress to more than {limit} bytes (MAX_DECOMPRESSED_BYTES)",
                compressed.len()
            ),
        }),
        Ok(_) => Ok(out),
        Err(e) => Err(DecodeError::NotJson {
            detail: format!(
                "looks like {name} ({} bytes, starting {}), but does not decompress (truncated or corrupt): {e}",
                compressed.len(),
                hex_prefix(compressed)
            ),
        }),
    }
}

/// A `not_json` error that says what the bytes look like and keeps the parser's position.
fn not_json(what: &str, bytes: &[u8]) -> DecodeError {
    let position = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(e) => e.to_string(),
        Ok(_) => "no JSON syntax error".to_owned(),
    };
    DecodeError::NotJson {
        detail: format!(
            "{what} ({} bytes, starting {}): {position}",
            bytes.len(),
            hex_prefix(bytes)
        ),
    }
}

/// The first few bytes in hex, to show what a payload was.
pub(super) fn hex_prefix(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 8 { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn limits(max: usize) -> DecodeLimits {
        DecodeLimits {
            max_decompressed_bytes: max,
        }
    }

    #[test]
    fn json_passes_through_untouched() {
        let json = br#"{"a":1}"#.to_vec();
        let ptr = json.as_ptr();
        let opened = open(json, DecodeLimits::default()).unwrap();
        assert_eq!(opened, br#"{"a":1}"#);
        assert_eq!(opened.as_ptr(), ptr, "the common case is not copied");
        assert_eq!(open(b"[1]".to_vec(), limits(1)).unwrap(), b"[1]");
        assert_eq!(open(Vec::new(), limits(1)).unwrap(), b"");
    }

    #[test]
    fn gzip_and_zlib_payloads_are_decompressed() {
        let json = br#"{"age":59,"bmi":32.1}"#;
        assert_eq!(open(gzip(json), DecodeLimits::default()).unwrap(), json);
        assert_eq!(open(zlib(json), DecodeLimits::default()).unwrap(), json);
        // A CloudWatch Logs style body: gzip, then a byte-order mark inside.
        let with_bom = [BOM, json].concat();
        assert_eq!(
            open(gzip(&with_bom), DecodeLimits::default()).unwrap(),
            json
        );
    }

    #[test]
    fn concatenated_gzip_members_are_one_payload() {
        let joined = [gzip(br#"{"age":"#), gzip(b"59}")].concat();
        assert_eq!(open(joined, limits(100)).unwrap(), br#"{"age":59}"#);
    }

    #[test]
    fn a_zip_bomb_is_rejected_without_being_expanded() {
        // 64 MiB of zeros compress to about 64 KiB; the limit is 1 KiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 100 << 10);
        let started = std::time::Instant::now();
        let e = open(bomb.clone(), limits(1024)).unwrap_err();
        assert_eq!(e.code(), "payload_too_large");
        assert_eq!(
            e.to_string(),
            format!(
                "payload is too large: {} bytes of gzip decompress to more than 1024 bytes (MAX_DECOMPRESSED_BYTES)",
                bomb.len()
            )
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let e = open(zlib(&vec![b' '; 4096]), limits(4095)).unwrap_err();
        assert_eq!(e.code(), "payload_too_large");
        // Exactly at the limit is allowed.
        let exact = [b"{}".as_slice(), &[b' '; 4094]].concat();
        assert_eq!(open(zlib(&exact), limits(4096)).unwrap().len(), 4096);
    }

    #[test]
    fn truncated_or_corrupt_gzip_says_it_looks_like_gzip() {
        let whole = gzip(br#"{"age":59,"bmi":32.1,"bp":101}"#);
        let truncated = whole[..whole.len() - 6].to_vec();
        let e = open(truncated, DecodeLimits::default()).unwrap_err();
        assert_eq!(e.code(), "not_json");
        let text = e.to_string();
        assert!(
            text.starts_with("payload is not valid JSON: looks like gzip ("),
            "{text}"
        );
        assert!(text.contains("starting 1f 8b 08"), "{text}");
        assert!(
            text.contains("does not decompress (truncated or corrupt)"),
            "{text}"
        );

        let mut corrupt = whole.clone();
        let n = corrupt.len();
        corrupt[n - 8] ^= 0xFF; // the CRC32 trailer
        let e = open(corrupt, DecodeLimits::default()).unwrap_err();
        assert!(e.to_string().contains("looks like gzip"), "{e}");

        let e = open(vec![0x78, 0x9C, 0xFF, 0xFF], DecodeLimits::default()).unwrap_err();
        assert!(e.to_string().contains("looks like zlib"), "{e}");
    }

    #[test]
    fn a_byte_order_mark_before_json_is_skipped() {
        let opened = open(b"\xEF\xBB\xBF{\"a\":1}".to_vec(), limits(10)).unwrap();
        assert_eq!(opened, br#"{"a":1}"#);
    }

    #[test]
    fn binary_data_is_named_with_the_parser_position() {
        let e = open(vec![0x00, 0x01, 0xFE, 0xFF], limits(10)).unwrap_err();
        assert_eq!(e.code(), "not_json");
        assert_eq!(
            e.to_string(),
            "payload is not valid JSON: binary data (4 bytes, starting 00 01 fe ff): expected value at line 1 column 1"
        );
        let e = open([kpl::MAGIC.as_slice(), b"xyz"].concat(), limits(10)).unwrap_err();
        assert!(
            e.to_string()
                .contains("looks like a KPL aggregate (7 bytes, starting f3 89 9a c2"),
            "{e}"
        );
    }

    #[test]
    fn text_that_is_not_json_is_left_to_the_parser() {
        // Plain text keeps the parser's own message, built where features are read.
        assert_eq!(open(b"hello".to_vec(), limits(10)).unwrap(), b"hello");
        assert_eq!(open(b"{age: 59".to_vec(), limits(10)).unwrap(), b"{age: 59");
    }

    #[test]
    fn describe_names_what_the_bytes_look_like() {
        assert_eq!(describe(&gzip(b"{}")), Some("looks like gzip"));
        assert_eq!(describe(&zlib(b"{}")), Some("looks like zlib"));
        assert_eq!(describe(&kpl::MAGIC), Some("looks like a KPL aggregate"));
        assert_eq!(describe(b"{\"a\":\x00}"), Some("binary data"));
        assert_eq!(describe(b"{\"a\":\xFF}"), Some("binary data"));
        assert_eq!(describe(b"{\"a\":\n1"), None);
        assert_eq!(describe("{\"é\":1".as_bytes()), None);
        // 'x' followed by text whose header check fails is text, not zlib.
        assert_eq!(describe(b"xyz"), None);
    }
}
