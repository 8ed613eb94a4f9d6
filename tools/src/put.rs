//! Ingest a sample event's records into a Kinesis stream or a DynamoDB table, the way producers
//! do, so the local trigger (or a deployed function) sees them arrive.
//!
//! A Kinesis record's `data` is base64-decoded and put with its partition key; data that is not
//! base64 is put as its literal text, so a bad sample still reaches the function as a bad record.
//! A DynamoDB record's `NewImage` is put as an item (a `REMOVE` deletes its `Keys`). What the
//! service refuses is reported per record, never dropped silently.
//!
//! With `--aggregate N`, Kinesis records are packed N at a time into KPL aggregated records, as
//! the Kinesis Producer Library does ([`aggregate`]), so the function's de-aggregation can be
//! tried end to end.

use base64::Engine;
use md5::{Digest, Md5};

/// Where the records go.
#[derive(Debug, Clone)]
pub enum Target {
    Kinesis {
        client: aws_sdk_kinesis::Client,
        stream: String,
    },
    Dynamodb {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
}

/// A record that could not be put, by its index in the event's `Records`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub index: usize,
    pub reason: String,
}

/// What a put did.
#[derive(Debug, Default)]
pub struct Put {
    /// Records put (or, for a `REMOVE`, items deleted); user records when aggregating.
    pub put: usize,
    /// Kinesis records written: as many as `put`, or fewer when aggregating.
    pub kinesis_records: usize,
    pub refused: Vec<Refused>,
}

#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("the event is not JSON with a Records array: {0}")]
    NotAnEvent(String),
    #[error("--aggregate packs Kinesis records; {0} is not a Kinesis stream")]
    AggregateNeedsStream(String),
}

/// The first bytes of a KPL aggregated record.
const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// Packs user records (`(partition key, data)`) into one KPL aggregated record: the magic bytes,
/// a protobuf `AggregatedRecord` (a partition key table and one `Record` per user record), and
/// the MD5 of the protobuf. Written by hand from the `.proto`, apart from the core's decoder.
pub fn aggregate(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut keys: Vec<&str> = Vec::new();
    let indexes: Vec<u64> = records
        .iter()
        .map(|(key, _)| {
            let index = keys.iter().position(|k| k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            index as u64
        })
        .collect();
    let mut message = Vec::new();
    for key in &keys {
        length_delimited(&mut message, 1, key.as_bytes());
    }
    for ((_, data), index) in records.iter().zip(indexes) {
        let mut record = Vec::with_capacity(data.len() + 16);
        varint(&mut record, 1 << 3); // field 1, varint: partition_key_index
        varint(&mut record, index);
        length_delimited(&mut record, 3, data);
        length_delimited(&mut message, 3, &record);
    }
    let digest = Md5::digest(&message);
    [KPL_MAGIC.as_slice(), &message, digest.as_slice()].concat()
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Kinesis { stream, .. } => format!("kinesis stream {stream}"),
            Target::Dynamodb { table, .. } => format!("dynamodb table {table}"),
        }
    }

    /// Puts the event's records `repeat` times over, in order, packed `aggregate` user records
    /// to a Kinesis record when it is given.
    pub async fn put_repeatedly(
        &self,
        event: &str,
        repeat: usize,
        aggregate: Option<usize>,
    ) -> Result<Put, PutError> {
        let mut done = Put::default();
        for _ in 0..repeat {
            let once = match aggregate {
                Some(n) => self.put_aggregated(event, n).await?,
                None => self.put(event).await?,
            };
            done.put += once.put;
            done.kinesis_records += once.kinesis_records;
            done.refused.extend(once.refused);
        }
        Ok(done)
    }

    /// Puts the event's Kinesis records packed `per_record` at a time into KPL aggregated
    /// records, in order. Each aggregate goes under its first user record's partition key; a
    /// refused aggregate names its first record.
    pub async fn put_aggregated(&self, event: &str, per_record: usize) -> Result<Put, PutError> {
        let Target::Kinesis { client, stream } = self else {
            return Err(PutError::AggregateNeedsStream(self.describe()));
        };
        let mut done = Put::default();
        let mut users: Vec<(usize, String, Vec<u8>)> = Vec::new();
        for (index, record) in records(event)?.iter().enumerate() {
            match kinesis_data(record) {
                Ok((key, bytes)) => users.push((index, key.to_owned(), bytes)),
                Err(reason) => done.refused.push(Refused {
                    index,
                    reason: reason.to_owned(),
                }),
            }
        }
        for chunk in users.chunks(per_record.max(1)) {
            let packed: Vec<(&str, &[u8])> = chunk
                .iter()
                .map(|(_, key, bytes)| (key.as_str(), bytes.as_slice()))
                .collect();
            let (first, key, _) = &chunk[0];
            match put_record(client, stream, key, aggregate(&packed)).await {
                Ok(()) => {
                    done.put += chunk.len();
                    done.kinesis_records += 1;
                }
                Err(reason) => done.refused.push(Refused {
                    index: *first,
                    reason: format!("aggregate of {} records: {reason}", chunk.len()),
                }),
            }
        }
        Ok(done)
    }

    /// Puts every record of `event` in order, one request per record so the stream keeps the
    /// event's order.
    pub async fn put(&self, event: &str) -> Result<Put, PutError> {
        let mut done = Put::default();
        for (index, record) in records(event)?.iter().enumerate() {
            match self.put_one(record).await {
                Ok(()) => done.put += 1,
                Err(reason) => done.refused.push(Refused { index, reason }),
            }
        }
        if matches!(self, Target::Kinesis { .. }) {
            done.kinesis_records = done.put;
        }
        Ok(done)
    }

    async fn put_one(&self, record: &serde_json::Value) -> Result<(), String> {
        match self {
            Target::Kinesis { client, stream } => {
                let (key, bytes) = kinesis_data(record)?;
                put_record(client, stream, key, bytes).await
            }
            Target::Dynamodb { client, table } => {
                let stream = &record["dynamodb"];
                let item = |field: &str| -> Result<serde_dynamo::Item, String> {
                    let image = stream
                        .get(field)
                        .ok_or(format!("the record has no {field}"))?;
                    serde_json::from_value(image.clone())
                        .map_err(|e| format!("{field} is not a DynamoDB attribute map: {e}"))
                };
                if record["eventName"] == "REMOVE" {
                    client
                        .delete_item()
                        .table_name(table)
                        .set_key(Some(item("Keys")?.into()))
                        .send()
                        .await
                        .map_err(|e| stream_infer::describe_aws_error("DynamoDB", &e))?;
                } else {
                    client
                        .put_item()
                        .table_name(table)
                        .set_item(Some(item("NewImage")?.into()))
                        .send()
                        .await
                        .map_err(|e| stream_infer::describe_aws_error("DynamoDB", &e))?;
                }
                Ok(())
            }
        }
    }
}

/// The event's `Records`.
fn records(event: &str) -> Result<Vec<serde_json::Value>, PutError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Event {
        records: Vec<serde_json::Value>,
    }
    let event: Event =
        serde_json::from_str(event).map_err(|e| PutError::NotAnEvent(e.to_string()))?;
    Ok(event.records)
}

/// A Kinesis record's partition key and data bytes (its literal text when not base64).
fn kinesis_data(record: &serde_json::Value) -> Result<(&str, Vec<u8>), &'static str> {
    let kinesis = &record["kinesis"];
    let data = kinesis["data"]
        .as_str()
        .ok_or("the record has no kinesis.data string")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap_or_else(|_| data.as_bytes().to_vec());
    let key = kinesis["partitionKey"]
        .as_str()
        .filter(|k| !k.is_empty())
        .unwrap_or("stream-infer");
    Ok((key, bytes))
}

async fn put_record(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<(), String> {
    let request = if stream.starts_with("arn:") {
        client.put_record().stream_arn(stream)
    } else {
        client.put_record().stream_name(stream)
    };
    request
        .partition_key(key)
        .data(aws_sdk_kinesis::primitives::Blob::new(bytes))
        .send()
        .await
        .map_err(|e| stream_infer::describe_aws_error("Kinesis", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregate_has_the_magic_a_key_table_and_an_md5_trailer() {
        let bytes = aggregate(&[("a", b"{}"), ("b", b"xy"), ("a", b"")]);
        assert_eq!(bytes[..4], KPL_MAGIC);
        let (message, digest) = bytes[4..].split_at(bytes.len() - 4 - 16);
        assert_eq!(Md5::digest(message).as_slice(), digest);
        // keys "a", "b"; then records {key 0, "{}"}, {key 1, "xy"}, {key 0, ""}.
        let expected: &[u8] = b"\x0a\x01a\x0a\x01b\
            \x1a\x06\x08\x00\x1a\x02{}\
            \x1a\x06\x08\x01\x1a\x02xy\
            \x1a\x04\x08\x00\x1a\x00";
        assert_eq!(message, expected);
    }

    #[test]
    fn varints_use_seven_bits_a_byte() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
    }
}
