//! KPL aggregated records: many user records packed into one Kinesis record by the Kinesis
//! Producer Library and the aggregation libraries, and unpacked here into their user records.
//!
//! The format is the magic bytes `F3 89 9A C2`, a protobuf `AggregatedRecord`, and the 16-byte
//! MD5 of the protobuf bytes. The messages are derived by hand from the published `.proto`
//! (no build script, no `protoc`).

use md5::{Digest, Md5};
use prost::Message;

/// The first four bytes of every aggregated record.
pub(crate) const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

const DIGEST_LEN: usize = 16;

/// `message AggregatedRecord`.
#[derive(Clone, PartialEq, Message)]
pub(super) struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<UserRecord>,
}

/// `message Record`: one user record.
#[derive(Clone, PartialEq, Message)]
pub(super) struct UserRecord {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// `message Tag`: read so that a malformed tag is caught, otherwise unused.
#[derive(Clone, PartialEq, Message)]
pub(super) struct Tag {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// Whether a Kinesis record's data is an aggregate.
pub(super) fn is_aggregate(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Checks and decodes an aggregate: the MD5 trailer, the protobuf, and every table index. The
/// error says what is wrong, for a `bad_aggregate` rejection.
pub(super) fn decode(bytes: &[u8]) -> Result<AggregatedRecord, String> {
    let body = bytes.strip_prefix(&MAGIC).unwrap_or(bytes);
    if body.len() < DIGEST_LEN {
        return Err(format!(
            "{} bytes after the magic bytes, too few for the {DIGEST_LEN}-byte MD5 trailer (truncated)",
            body.len()
        ));
    }
    let (message, trailer) = body.split_at(body.len() - DIGEST_LEN);
    let digest = Md5::digest(message);
    if digest.as_slice() != trailer {
        return Err(format!(
            "the MD5 trailer {} does not match the MD5 of the {} protobuf bytes, {} (truncated or altered)",
            hex(trailer),
            message.len(),
            hex(&digest)
        ));
    }
    let aggregate = AggregatedRecord::decode(message)
        .map_err(|e| format!("the protobuf does not decode: {e}"))?;
    if aggregate.records.is_empty() {
        return Err("it holds no user records".to_owned());
    }
    let keys = aggregate.partition_key_table.len();
    let hashes = aggregate.explicit_hash_key_table.len();
    for (i, record) in aggregate.records.iter().enumerate() {
        if record.partition_key_index >= keys as u64 {
            return Err(format!(
                "user record {i} names partition key {} but the table has {keys}",
                record.partition_key_index
            ));
        }
        if let Some(index) = record.explicit_hash_key_index
            && index >= hashes as u64
        {
            return Err(format!(
                "user record {i} names explicit hash key {index} but the table has {hashes}"
            ));
        }
    }
    Ok(aggregate)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Our own aggregate of `(partition key, data)` pairs, for tests of the decoding around it.
    /// The format is also checked against an independent encoder in `tests/producers.rs`.
    pub(in crate::source) fn aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut table: Vec<String> = Vec::new();
        let records = records
            .iter()
            .map(|(key, data)| {
                let index = table.iter().position(|k| k == key).unwrap_or_else(|| {
                    table.push((*key).to_owned());
                    table.len() - 1
                });
                UserRecord {
                    partition_key_index: index as u64,
                    explicit_hash_key_index: None,
                    data: data.to_vec(),
                    tags: Vec::new(),
                }
            })
            .collect();
        let message = AggregatedRecord {
            partition_key_table: table,
            explicit_hash_key_table: Vec::new(),
            records,
        }
        .encode_to_vec();
        [MAGIC.as_slice(), &message, &Md5::digest(&message)].concat()
    }

    #[test]
    fn an_aggregate_decodes_into_its_user_records_and_keys() {
        let bytes = aggregate(&[("a", b"{\"x\":1}"), ("b", b"two"), ("a", b"")]);
        assert!(is_aggregate(&bytes));
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.partition_key_table, ["a", "b"]);
        let records: Vec<(u64, &[u8])> = decoded
            .records
            .iter()
            .map(|r| (r.partition_key_index, r.data.as_slice()))
            .collect();
        assert_eq!(
            records,
            [(0, b"{\"x\":1}".as_slice()), (1, b"two"), (0, b"")]
        );
    }

    #[test]
    fn a_changed_byte_fails_the_md5_check() {
        let mut bytes = aggregate(&[("a", b"{\"x\":1}")]);
        bytes[10] ^= 1;
        let e = decode(&bytes).unwrap_err();
        assert!(e.starts_with("the MD5 trailer "), "{e}");
        assert!(e.ends_with("(truncated or altered)"), "{e}");
    }

    #[test]
    fn a_truncated_aggregate_is_named() {
        let bytes = aggregate(&[("a", b"{\"x\":1}")]);
        let e = decode(&bytes[..12]).unwrap_err();
        assert_eq!(
            e,
            "8 bytes after the magic bytes, too few for the 16-byte MD5 trailer (truncated)"
        );
        // Cut inside the protobuf, with a trailer that matches the cut: only the protobuf fails.
        let message = &bytes[4..bytes.len() - 16];
        let cut = &message[..message.len() - 3];
        let resealed = [MAGIC.as_slice(), cut, &Md5::digest(cut)].concat();
        let e = decode(&resealed).unwrap_err();
        assert!(e.starts_with("the protobuf does not decode: "), "{e}");
    }

    #[test]
    fn indexes_outside_the_tables_and_empty_aggregates_are_refused() {
        let seal = |aggregate: AggregatedRecord| {
            let message = aggregate.encode_to_vec();
            [MAGIC.as_slice(), &message, &Md5::digest(&message)].concat()
        };
        let record = |key: u64, hash: Option<u64>| UserRecord {
            partition_key_index: key,
            explicit_hash_key_index: hash,
            data: b"{}".to_vec(),
            tags: Vec::new(),
        };
        let e = decode(&seal(AggregatedRecord {
            partition_key_table: vec!["a".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![record(0, None), record(2, None)],
        }))
        .unwrap_err();
        assert_eq!(e, "user record 1 names partition key 2 but the table has 1");
        let e = decode(&seal(AggregatedRecord {
            partition_key_table: vec!["a".into()],
            explicit_hash_key_table: Vec::new(),
            records: vec![record(0, Some(0))],
        }))
        .unwrap_err();
        assert_eq!(
            e,
            "user record 0 names explicit hash key 0 but the table has 0"
        );
        let e = decode(&seal(AggregatedRecord::default())).unwrap_err();
        assert_eq!(e, "it holds no user records");
    }
}
