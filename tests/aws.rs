//! The AWS sinks, the dead-letter queue and S3 models against a local AWS endpoint (moto), over
//! the real wire protocol. scripts/test starts the endpoint; see `util::local_aws`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use stream_infer::Config;
use stream_infer::Deadline;
use stream_infer::model::{self, Model, ModelError};
use stream_infer::{App, Handled, Outcome, handle};

use crate::util::{
    assert_ledger, create_table, formula, input_ids, kinesis_event, local_aws, root, unique,
};

pub async fn scan(
    aws: &aws_config::SdkConfig,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(aws);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

pub async fn create_queue(aws: &aws_config::SdkConfig, fifo: bool) -> String {
    let client = aws_sdk_sqs::Client::new(aws);
    let name = unique("queue") + if fifo { ".fifo" } else { "" };
    let mut request = client.create_queue().queue_name(name);
    if fifo {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    request
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned()
}

/// Every message on the queue, with its system attributes.
pub async fn drain(aws: &aws_config::SdkConfig, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let client = aws_sdk_sqs::Client::new(aws);
    let mut messages = Vec::new();
    loop {
        let page = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        if page.messages().is_empty() {
            return messages;
        }
        messages.extend(page.messages().iter().cloned());
    }
}

fn app(aws: &aws_config::SdkConfig, vars: &[(&str, &str)]) -> App {
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    App::new(&config, Model::embedded(), Some(aws)).unwrap()
}

async fn run(app: &App, event: &str) -> Handled {
    let handled = handle(app, event, &Deadline::none()).await.unwrap();
    assert_ledger(&handled, &input_ids(event));
    handled
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(name)).unwrap()
}

fn expected(name: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root().join("events/expected").join(name)).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["records"].as_array().unwrap().clone()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> f64 {
    item[name].as_n().unwrap().parse().unwrap()
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item[name].as_s().unwrap()
}

#[tokio::test]
async fn dynamodb_sink_writes_exact_items_dead_letters_rejections_and_replays_idempotently() {
    let Some(aws) = local_aws("dynamodb_sink").await else {
        return;
    };
    let table = create_table(&aws, "pk").await;
    let dlq = create_queue(&aws, false).await;
    let app = app(
        &aws,
        &[
            ("SINK", "dynamodb"),
            ("OUTPUT_TABLE", &table),
            ("DEAD_LETTER_QUEUE_URL", &dlq),
            ("OUTPUT_TTL_DAYS", "7"),
        ],
    );
    let event = sample("kinesis-mixed.json");
    let handled = run(&app, &event).await;
    assert!(handled.response.failures().is_empty());

    let want = expected("kinesis-mixed.json");
    let predicted: Vec<&serde_json::Value> = want
        .iter()
        .filter(|w| w["outcome"] == "predicted")
        .collect();
    let items = scan(&aws, &table).await;
    assert_eq!(items.len(), predicted.len());
    let now = chrono::Utc::now().timestamp() as f64;
    for w in &predicted {
        let item = items
            .iter()
            .find(|i| text(i, "pk") == w["key"].as_str().unwrap())
            .expect("an item per predicted record, keyed by its id field");
        let formula = formula(w["features"].as_object().unwrap());
        assert!((number(item, "prediction") - formula).abs() < 1e-9 * formula.abs());
        assert_eq!(text(item, "model_name"), "diabetes");
        assert_eq!(text(item, "model_version"), app.model().version());
        assert_eq!(text(item, "source"), "kinesis");
        assert_eq!(text(item, "sequence_number"), w["id"].as_str().unwrap());
        assert!(item["partition_key"].as_s().unwrap().starts_with("pk-"));
        assert!(number(item, "event_time") >= 1795000000.0);
        assert!(text(item, "processed_at").ends_with('Z'));
        let ttl = number(item, "expires_at");
        assert!(
            (ttl - (now + 7.0 * 86400.0)).abs() < 120.0,
            "TTL is 7 days out: {ttl}"
        );
    }

    let rejected: Vec<&serde_json::Value> =
        want.iter().filter(|w| w["outcome"] == "rejected").collect();
    let dead = drain(&aws, &dlq).await;
    assert_eq!(dead.len(), rejected.len());
    for w in rejected {
        let message = dead
            .iter()
            .map(|m| serde_json::from_str::<serde_json::Value>(m.body().unwrap()).unwrap())
            .find(|b| b["id"] == w["id"])
            .expect("every rejected record is on the dead-letter queue");
        assert_eq!(message["reason"], w["reason"]);
        assert_eq!(message["sequence_number"], w["id"]);
        assert!(message["message"].as_str().unwrap().len() > 10);
        assert!(
            message["source_arn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:kinesis")
        );
        assert!(
            message["partition_key"]
                .as_str()
                .unwrap()
                .starts_with("pk-")
        );
        if w["reason"] != "bad_envelope" {
            assert!(message["payload"].is_string(), "{message}");
        }
    }

    // Replaying the batch overwrites the same items: same count, same predictions.
    let before: HashMap<String, f64> = items
        .iter()
        .map(|i| (text(i, "pk").to_owned(), number(i, "prediction")))
        .collect();
    run(&app, &event).await;
    let after = scan(&aws, &table).await;
    assert_eq!(after.len(), before.len());
    for item in &after {
        assert_eq!(before[text(item, "pk")], number(item, "prediction"));
    }
}

#[tokio::test]
async fn dynamodb_sink_keys_records_without_an_id_by_source_and_sequence_number() {
    let Some(aws) = local_aws("dynamodb_keys").await else {
        return;
    };
    let table = create_table(&aws, "prediction_id").await;
    let app = app(
        &aws,
        &[
            ("SINK", "dynamodb"),
            ("OUTPUT_TABLE", &table),
            ("OUTPUT_KEY_ATTRIBUTE", "prediction_id"),
            ("ID_FIELD", "absent"),
        ],
    );
    let event = sample("kinesis.json");
    run(&app, &event).await;
    run(&app, &event).await;
    let items = scan(&aws, &table).await;
    assert_eq!(items.len(), 100, "a replay overwrites, never duplicates");
    let mut keys: Vec<&str> = items.iter().map(|i| text(i, "prediction_id")).collect();
    keys.sort_unstable();
    let mut want: Vec<String> = input_ids(&event)
        .iter()
        .map(|s| format!("kinesis#{s}"))
        .collect();
    want.sort_unstable();
    assert_eq!(keys, want);
}

#[tokio::test]
async fn a_large_generated_batch_lands_whole_in_the_table() {
    let Some(aws) = local_aws("large_batch").await else {
        return;
    };
    let table = create_table(&aws, "pk").await;
    let app = app(&aws, &[("SINK", "dynamodb"), ("OUTPUT_TABLE", &table)]);
    let event = kinesis_event(1_000);
    let handled = run(&app, &event).await;
    assert_eq!(handled.summary().predicted, 1_000);
    assert_eq!(scan(&aws, &table).await.len(), 1_000);
}

#[tokio::test]
async fn sqs_sink_sends_the_prediction_lines_and_dead_letters_the_rest() {
    let Some(aws) = local_aws("sqs_sink").await else {
        return;
    };
    let queue = create_queue(&aws, false).await;
    let dlq = create_queue(&aws, false).await;
    let app = app(
        &aws,
        &[
            ("SINK", "sqs"),
            ("OUTPUT_QUEUE_URL", &queue),
            ("DEAD_LETTER_QUEUE_URL", &dlq),
        ],
    );
    let event = sample("dynamodb-mixed.json");
    let handled = run(&app, &event).await;
    assert_eq!(handled.summary().skipped, 1);

    let want = expected("dynamodb-mixed.json");
    let messages = drain(&aws, &queue).await;
    let bodies: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    let predicted: Vec<&serde_json::Value> = want
        .iter()
        .filter(|w| w["outcome"] == "predicted")
        .collect();
    assert_eq!(bodies.len(), predicted.len());
    for w in predicted {
        let body = bodies
            .iter()
            .find(|b| b["id"] == w["id"])
            .expect("a message per prediction");
        assert_eq!(body["key"], w["key"]);
        assert_eq!(body["source"], "dynamodb");
        let formula = formula(w["features"].as_object().unwrap());
        assert!((body["prediction"].as_f64().unwrap() - formula).abs() < 1e-9 * formula.abs());
    }
    let dead = drain(&aws, &dlq).await;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(m.body().unwrap()).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    reasons.sort();
    let mut want_reasons: Vec<String> = want
        .iter()
        .filter_map(|w| w["reason"].as_str().map(str::to_owned))
        .collect();
    want_reasons.sort();
    assert_eq!(reasons, want_reasons);
}

#[tokio::test]
async fn a_fifo_queue_gets_group_and_deduplication_ids() {
    let Some(aws) = local_aws("fifo").await else {
        return;
    };
    let queue = create_queue(&aws, true).await;
    let app = app(&aws, &[("SINK", "sqs"), ("OUTPUT_QUEUE_URL", &queue)]);
    let event = sample("kinesis.json");
    run(&app, &event).await;
    let messages = drain(&aws, &queue).await;
    assert_eq!(messages.len(), 100);
    for message in &messages {
        let body: serde_json::Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let attributes = message.attributes().unwrap();
        assert_eq!(
            attributes[&MessageSystemAttributeName::MessageGroupId],
            body["partition_key"].as_str().unwrap()
        );
        assert_eq!(
            attributes[&MessageSystemAttributeName::MessageDeduplicationId],
            format!("kinesis-{}", body["id"].as_str().unwrap())
        );
    }
}

#[tokio::test]
async fn a_model_loads_once_from_s3_and_is_then_read_from_its_etag_cache() {
    let Some(aws) = local_aws("s3_model").await else {
        return;
    };
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("models");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let text = std::fs::read_to_string(root().join("model/model.json")).unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("diabetes/model.json")
        .body(text.clone().into_bytes().into())
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("corrupt.json")
        .body(b"{\"format_version\":1,".to_vec().into())
        .send()
        .await
        .unwrap();

    let cache = tempfile::tempdir().unwrap();
    let source =
        model::ModelSource::parse(Some(&format!("s3://{bucket}/diabetes/model.json"))).unwrap();
    let loaded = model::load(&source, Some(&aws), cache.path())
        .await
        .unwrap();
    assert_eq!(loaded.version(), Model::embedded().version());
    let cached: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "one cached copy, named by ETag");
    assert_eq!(std::fs::read_to_string(&cached[0]).unwrap(), text);

    // A second load with the same ETag reads the cache, not the object: prove it by swapping the
    // cached copy for another valid model.
    let other = tempfile::tempdir().unwrap();
    let other_csv = other.path().join("small.csv");
    std::fs::write(&other_csv, "a,y\n1,2\n2,4\n3,6\n4,8\n5,10\n6,12\n").unwrap();
    let options = stream_infer_tools::train::TrainOptions {
        csv: other_csv,
        target: "y".into(),
        features: None,
        standardize: false,
        family: None,
        alpha: 0.0,
        name: Some("swapped".into()),
        trained_at: "2026-01-01T00:00:00Z".into(),
        fit_timeout: std::time::Duration::from_secs(10),
    };
    std::fs::write(
        &cached[0],
        stream_infer_tools::train::train(&options)
            .unwrap()
            .to_json(),
    )
    .unwrap();
    let again = model::load(&source, Some(&aws), cache.path())
        .await
        .unwrap();
    assert_eq!(again.name(), "swapped");

    let missing = model::ModelSource::parse(Some(&format!("s3://{bucket}/absent.json"))).unwrap();
    let err = model::load(&missing, Some(&aws), cache.path())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::ObjectMissing { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("model s3://{bucket}/absent.json does not exist (no such S3 object)")
    );

    let corrupt = model::ModelSource::parse(Some(&format!("s3://{bucket}/corrupt.json"))).unwrap();
    let err = model::load(&corrupt, Some(&aws), cache.path())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ModelCorrupt", "{err}");
}

#[tokio::test]
async fn an_unreachable_sink_reports_every_predicted_record() {
    let Some(_) = local_aws("unreachable").await else {
        return;
    };
    // A port nothing listens on: every write fails to connect.
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .load()
        .await;
    let config = Config::from_lookup(|name| match name {
        "SINK" => Some("dynamodb".into()),
        "OUTPUT_TABLE" => Some("nowhere".into()),
        "SINK_MAX_ATTEMPTS" => Some("2".into()),
        "SINK_BASE_DELAY_MS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let app = App::new(&config, Model::embedded(), Some(&aws)).unwrap();
    let event = sample("kinesis-mixed.json");
    let handled = run(&app, &event).await;
    let failed: Vec<&str> = handled
        .entries
        .iter()
        .filter(|e| e.outcome == Outcome::Failed)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "both predicted records are reported");
    assert_eq!(handled.response.failures(), failed);
    assert_eq!(
        handled.summary().rejected,
        11,
        "rejections still go to the (log) dead-letter path"
    );
}

/// The invocation's X-Ray trace header is a `trace_id` attribute on every DynamoDB item, so a
/// record's trace can be followed to its prediction. (The SQS `AWSTraceHeader`, which moto drops
/// from batches, is checked on the SDK's request in tests/faults.rs.)
#[tokio::test]
async fn the_trace_header_is_carried_to_items() {
    let Some(aws) = local_aws("trace header").await else {
        return;
    };
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let event = sample("kinesis-mixed.json");
    let table = create_table(&aws, "pk").await;
    let to_table = app(&aws, &[("SINK", "dynamodb"), ("OUTPUT_TABLE", &table)]);
    let (handled, _) =
        stream_infer::handle_observed(&to_table, &event, &Deadline::none(), Some(trace))
            .await
            .unwrap();
    let items = scan(&aws, &table).await;
    assert_eq!(items.len(), handled.summary().predicted);
    assert!(!items.is_empty());
    assert!(items.iter().all(|item| text(item, "trace_id") == trace));
}
