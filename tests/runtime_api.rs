//! The Lambda binary through the real Lambda Runtime API: `cargo lambda watch` emulates it on
//! 127.0.0.1, `cargo lambda invoke` sends every sample event, and the predictions must land in
//! the local AWS endpoint's table. This is the path `sam local invoke` takes, without Docker.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{cargo_lambda, create_table, local_aws, root, start_watch, unique};

#[tokio::test]
async fn every_sample_event_through_the_runtime_api_lands_in_the_table() {
    let Some(aws) = local_aws("runtime_api").await else {
        return;
    };
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = create_table(&aws, "pk").await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dlq = sqs
        .create_queue()
        .queue_name(unique("runtime-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();

    let env = vec![
        "SINK=dynamodb".to_owned(),
        format!("OUTPUT_TABLE={table}"),
        format!("DEAD_LETTER_QUEUE_URL={dlq}"),
    ];
    let (_watch, port) = start_watch(env);
    let cargo_lambda = cargo_lambda().expect("cargo-lambda is missing: run scripts/setup");

    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut want_keys = Vec::new();
    let mut want_rejected = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("events/expected").join(&name)).unwrap(),
        )
        .unwrap();
        if expected["config"].get("MODEL_URI").is_some() {
            // A bundled sample model's event (model/classifier.json, …): this function serves
            // the embedded model, and the golden test runs these on their own models.
            continue;
        }
        let output = Command::new(&cargo_lambda)
            .args([
                "lambda",
                "invoke",
                "stream-infer-lambda",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "-o",
                "json",
            ])
            .arg("--data-file")
            .arg(file)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": []}),
            "{}",
            file.display()
        );

        let records = expected["records"].as_array().unwrap();
        if expected["config"].as_object().unwrap().is_empty() {
            for r in records {
                match r["outcome"].as_str().unwrap() {
                    "predicted" => want_keys.push(r["key"].as_str().unwrap().to_owned()),
                    "rejected" => want_rejected += 1,
                    _ => {}
                }
            }
        } else {
            // kinesis-nested.json is meant for FEATURES_FIELD=features; this function runs
            // without it, so only record 2 (features at the top level, id 9) predicts.
            assert_eq!(
                name, "kinesis-nested.json",
                "a new configured sample needs a case here"
            );
            want_keys.push("9".to_owned());
            want_rejected += records.len() - 1;
        }
    }

    let scan = ddb.scan().table_name(&table).send().await.unwrap();
    let mut keys: Vec<String> = scan
        .items()
        .iter()
        .map(|i| i["pk"].as_s().unwrap().clone())
        .collect();
    keys.sort();
    want_keys.sort();
    assert_eq!(
        keys, want_keys,
        "every predicted record landed in the table"
    );

    let mut dead = 0;
    loop {
        let page = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .unwrap();
        if page.messages().is_empty() {
            break;
        }
        dead += page.messages().len();
    }
    assert_eq!(
        dead, want_rejected,
        "every rejected record is on the dead-letter queue"
    );
}
