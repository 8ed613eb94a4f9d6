//! SHA-256 as lowercase hex: model versions, cache file names and SQS FIFO ids.

use sha2::{Digest, Sha256};

/// The hex of the first `bytes` bytes of `data`'s SHA-256 (all 32 when `bytes` is larger).
pub(crate) fn sha256_hex(data: &[u8], bytes: usize) -> String {
    Sha256::digest(data)
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_the_known_digest() {
        assert_eq!(
            super::sha256_hex(b"abc", 32),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(super::sha256_hex(b"abc", 8), "ba7816bf8f01cfea");
    }
}
