//! The DynamoDB sink: idempotent items written with BatchWriteItem, chunks in flight at once.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::retry::{Attempt, Deadline, with_retries};
use super::{Delivery, Predicted, Prediction, Probabilities, SinkError};
use crate::source::Source;

/// BatchWriteItem's limit on requests per call.
pub const CHUNK: usize = 25;

type Item = HashMap<String, AttributeValue>;

/// Every attribute an output item can write besides its key and TTL attributes (the fields of
/// `OutputItem`), so that a key or TTL attribute of the same name can be refused at start-up.
pub const ITEM_ATTRIBUTES: &[&str] = &[
    "prediction",
    "probabilities",
    "imputed",
    "model_name",
    "model_version",
    "source",
    "sequence_number",
    "record_key",
    "partition_key",
    "source_arn",
    "event_time",
    "processed_at",
    "trace_id",
];

/// Where and how predictions are written to a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbSink {
    client: aws_sdk_dynamodb::Client,
    table: String,
    key_attribute: String,
    /// The TTL attribute's name and the items' lifetime in seconds, when a TTL is wanted.
    ttl_seconds: Option<(String, u64)>,
    delivery: Delivery,
}

/// One output item. Its key is deterministic per input record, so a replayed batch overwrites.
#[derive(Serialize)]
struct OutputItem<'a> {
    #[serde(flatten)]
    key: BTreeMap<&'a str, &'a str>,
    prediction: Predicted<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Probabilities<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    imputed: &'a [String],
    model_name: &'a str,
    model_version: &'a str,
    source: Source,
    sequence_number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_time: Option<f64>,
    processed_at: &'a str,
    /// The invocation's X-Ray trace header, so a record's trace can be followed to its item.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(flatten)]
    ttl: BTreeMap<&'a str, u64>,
}

/// The item key of a prediction: the record's key when it has one, else source and sequence
/// number.
pub fn item_key(prediction: &Prediction<'_>) -> String {
    match prediction.key {
        Some(key) => key.to_owned(),
        None => format!("{}#{}", prediction.source.as_str(), prediction.id),
    }
}

impl DynamoDbSink {
    /// `ttl_days`, when given, names an attribute set on every item to the epoch second at which
    /// DynamoDB may expire it: the write time plus that many days.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: String,
        key_attribute: String,
        ttl_days: Option<(String, u32)>,
        delivery: Delivery,
    ) -> DynamoDbSink {
        DynamoDbSink {
            client,
            table,
            key_attribute,
            ttl_seconds: ttl_days.map(|(attribute, days)| (attribute, u64::from(days) * 86_400)),
            delivery,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes every prediction; the result at `i` belongs to `predictions[i]`.
    pub async fn write(
        &self,
        predictions: &[Prediction<'_>],
        deadline: &Deadline,
    ) -> Vec<Result<(), SinkError>> {
        let now = chrono::Utc::now();
        let processed_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let expires = self.ttl_seconds.as_ref().map(|(attribute, seconds)| {
            (attribute.as_str(), now.timestamp().max(0) as u64 + seconds)
        });

        let keys: Vec<String> = predictions.iter().map(item_key).collect();
        // BatchWriteItem refuses two writes to one key in a request; the last record of a key
        // wins, and the earlier ones share its result (its write overwrites theirs anyway).
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (index, key) in keys.iter().enumerate() {
            last.insert(key, index);
        }
        let mut results: Vec<Option<Result<(), SinkError>>> = vec![None; predictions.len()];
        let mut items: HashMap<usize, WriteRequest> = HashMap::new();
        for (index, prediction) in predictions.iter().enumerate() {
            if last[keys[index].as_str()] != index {
                continue;
            }
            match self.item(prediction, &keys[index], &processed_at, expires) {
                Ok(item) => {
                    items.insert(index, item);
                }
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        let mut order: Vec<usize> = items.keys().copied().collect();
        order.sort_unstable();
        let chunks: Vec<Vec<usize>> = order.chunks(CHUNK).map(<[usize]>::to_vec).collect();
        let written: Vec<Vec<(usize, Result<(), SinkError>)>> = stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk, &items, &keys, deadline))
            .buffer_unordered(self.delivery.concurrency.max(1))
            .collect()
            .await;
        for (index, result) in written.into_iter().flatten() {
            results[index] = Some(result);
        }
        (0..predictions.len())
            .map(|index| {
                let winner = last[keys[index].as_str()];
                results[index]
                    .clone()
                    .or_else(|| results[winner].clone())
                    .expect("every prediction is written or shares its key's result")
            })
            .collect()
    }

    fn item(
        &self,
        prediction: &Prediction<'_>,
        key: &str,
        processed_at: &str,
        expires: Option<(&str, u64)>,
    ) -> Result<WriteRequest, SinkError> {
        let item = OutputItem {
            key: BTreeMap::from([(self.key_attribute.as_str(), key)]),
            prediction: prediction.prediction,
            probabilities: prediction.probabilities,
            imputed: prediction.imputed,
            model_name: prediction.model.name,
            model_version: prediction.model.version,
            source: prediction.source,
            sequence_number: prediction.id,
            record_key: prediction.key,
            partition_key: prediction.partition_key,
            source_arn: prediction.source_arn,
            event_time: prediction.event_time,
            processed_at,
            trace_id: prediction.trace_header,
            ttl: expires.into_iter().collect(),
        };
        let item: Item = serde_dynamo::to_item(&item).map_err(|e| {
            SinkError::permanent(None, format!("cannot build the DynamoDB item: {e}"))
        })?;
        let put = PutRequest::builder()
            .set_item(Some(item))
            .build()
            .map_err(|e| {
                SinkError::permanent(None, format!("cannot build the DynamoDB item: {e}"))
            })?;
        Ok(WriteRequest::builder().put_request(put).build())
    }

    async fn write_chunk(
        &self,
        chunk: Vec<usize>,
        items: &HashMap<usize, WriteRequest>,
        keys: &[String],
        deadline: &Deadline,
    ) -> Vec<(usize, Result<(), SinkError>)> {
        let results = self
            .write_with_retries(chunk.clone(), items, keys, deadline)
            .await;
        let all_refused = results
            .iter()
            .all(|(_, r)| matches!(r, Err(e) if !e.is_transient()));
        if chunk.len() == 1 || !all_refused {
            return results;
        }
        // A validation error refuses the whole request; write each item alone to find the bad one.
        let mut alone = Vec::with_capacity(chunk.len());
        for index in chunk {
            alone.extend(
                self.write_with_retries(vec![index], items, keys, deadline)
                    .await,
            );
        }
        alone
    }

    async fn write_with_retries(
        &self,
        chunk: Vec<usize>,
        items: &HashMap<usize, WriteRequest>,
        keys: &[String],
        deadline: &Deadline,
    ) -> Vec<(usize, Result<(), SinkError>)> {
        with_retries(
            &self.delivery.retry,
            deadline,
            chunk,
            |pending| async move {
                let requests: Vec<WriteRequest> =
                    pending.iter().map(|i| items[i].clone()).collect();
                let response = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await;
                match response {
                    Ok(output) => {
                        let unprocessed: Vec<&str> = output
                            .unprocessed_items()
                            .and_then(|by_table| by_table.get(&self.table))
                            .into_iter()
                            .flatten()
                            .filter_map(|w| w.put_request())
                            .filter_map(|p| p.item().get(&self.key_attribute))
                            .filter_map(|v| v.as_s().ok())
                            .map(String::as_str)
                            .collect();
                        let mut attempt = Attempt::default();
                        for index in pending {
                            if unprocessed.contains(&keys[index].as_str()) {
                                attempt.retry.push((
                                    index,
                                    SinkError::transient(
                                        Some("UnprocessedItems"),
                                        "UnprocessedItems",
                                    ),
                                ));
                            } else {
                                attempt.done.push(index);
                            }
                        }
                        attempt
                    }
                    Err(error) => Attempt::all(&pending, classify(&error)),
                }
            },
        )
        .await
    }
}

/// Validation errors are permanent; throttling, 5xx, network and configuration errors are
/// transient (a missing table or permission is fixed by the operator, then Lambda retries).
fn classify<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = crate::aws_error::describe("DynamoDB", error);
    if error.code() == Some("ValidationException") {
        SinkError::permanent(error.code(), message)
    } else {
        SinkError::transient(error.code(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Label;
    use crate::sink::ModelRef;

    #[test]
    fn item_attributes_name_every_field_an_item_writes() {
        let classes = [Label::Str("no".into()), Label::Str("yes".into())];
        let imputed = ["age".to_owned()];
        let prediction = Prediction {
            id: "49590338271490256608559692538361571095921575989136588898",
            sequenced: true,
            key: Some("patient-1"),
            prediction: Predicted::Label(&classes[1]),
            probabilities: Some(Probabilities {
                classes: &classes,
                values: &[0.25, 0.75],
            }),
            imputed: &imputed,
            model: ModelRef {
                name: "m",
                version: "v",
            },
            source: Source::Kinesis,
            partition_key: Some("p"),
            source_arn: Some("arn:aws:kinesis:us-east-1:123456789012:stream/s"),
            event_time: Some(1.5),
            trace_header: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
        };
        let item = OutputItem {
            key: BTreeMap::from([("pk", "patient-1")]),
            prediction: prediction.prediction,
            probabilities: prediction.probabilities,
            imputed: prediction.imputed,
            model_name: prediction.model.name,
            model_version: prediction.model.version,
            source: prediction.source,
            sequence_number: prediction.id,
            record_key: prediction.key,
            partition_key: prediction.partition_key,
            source_arn: prediction.source_arn,
            event_time: prediction.event_time,
            processed_at: "2026-01-01T00:00:00.000Z",
            trace_id: prediction.trace_header,
            ttl: BTreeMap::from([("expires_at", 1)]),
        };
        let item: Item = serde_dynamo::to_item(&item).unwrap();
        let mut written: Vec<&str> = item
            .keys()
            .map(String::as_str)
            .filter(|k| !["pk", "expires_at"].contains(k))
            .collect();
        written.sort_unstable();
        let mut listed = ITEM_ATTRIBUTES.to_vec();
        listed.sort_unstable();
        assert_eq!(written, listed);
    }
}
