//! Ingest a sample event's records into a Kinesis stream or a DynamoDB table, the way producers
//! do, so the local trigger (or a deployed function) sees them arrive.
//!
//! A Kinesis record's `data` is base64-decoded and put with its partition key; data that is not
//! base64 is put as its literal text, so a bad sample still reaches the function as a bad record.
//! A DynamoDB record's `NewImage` is put as an item (a `REMOVE` deletes its `Keys`). What the
//! service refuses is reported per record, never dropped silently.

use base64::Engine;

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
    /// Records put (or, for a `REMOVE`, items deleted).
    pub put: usize,
    pub refused: Vec<Refused>,
}

#[derive(Debug, thiserror::Error)]
pub enum PutError {
    #[error("the event is not JSON with a Records array: {0}")]
    NotAnEvent(String),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Kinesis { stream, .. } => format!("kinesis stream {stream}"),
            Target::Dynamodb { table, .. } => format!("dynamodb table {table}"),
        }
    }

    /// Puts the event's records `repeat` times over, in order.
    pub async fn put_repeatedly(&self, event: &str, repeat: usize) -> Result<Put, PutError> {
        let mut done = Put::default();
        for _ in 0..repeat {
            let once = self.put(event).await?;
            done.put += once.put;
            done.refused.extend(once.refused);
        }
        Ok(done)
    }

    /// Puts every record of `event` in order, one request per record so the stream keeps the
    /// event's order.
    pub async fn put(&self, event: &str) -> Result<Put, PutError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Event {
            records: Vec<serde_json::Value>,
        }
        let event: Event =
            serde_json::from_str(event).map_err(|e| PutError::NotAnEvent(e.to_string()))?;
        let mut done = Put::default();
        for (index, record) in event.records.iter().enumerate() {
            match self.put_one(record).await {
                Ok(()) => done.put += 1,
                Err(reason) => done.refused.push(Refused { index, reason }),
            }
        }
        Ok(done)
    }

    async fn put_one(&self, record: &serde_json::Value) -> Result<(), String> {
        match self {
            Target::Kinesis { client, stream } => {
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
