//! Reading a model from a file or S3, with an on-disk cache keyed by the S3 ETag.

use std::path::{Path, PathBuf};

use super::{Model, ModelError, ModelSource};

/// Loads the model `MODEL_URI` names: once per process, before the first invocation. A model in
/// S3 needs `aws`, and is cached in `cache_dir` under its ETag, so a restarted process in a warm
/// container reads it from disk after one HeadObject.
pub async fn load(
    source: &ModelSource,
    aws: Option<&aws_config::SdkConfig>,
    cache_dir: &Path,
) -> Result<Model, ModelError> {
    match source {
        ModelSource::Embedded => Ok(Model::embedded()),
        ModelSource::File(path) => Model::from_path(path),
        ModelSource::S3 { bucket, key } => {
            let aws = aws.expect("AWS configuration is loaded for an S3 model");
            let mut s3 = aws_sdk_s3::config::Builder::from(aws);
            // Local endpoints (moto, MinIO) serve buckets by path, not by host name.
            if aws.endpoint_url().is_some() {
                s3 = s3.force_path_style(true);
            }
            let client = aws_sdk_s3::Client::from_conf(s3.build());
            load_s3(&client, bucket, key, cache_dir).await
        }
    }
}

/// Fetches `s3://bucket/key` through `client`, or reads the copy cached under its ETag.
pub async fn load_s3(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    cache_dir: &Path,
) -> Result<Model, ModelError> {
    let origin = format!("s3://{bucket}/{key}");
    let fetch = |detail: String| ModelError::Fetch {
        origin: origin.clone(),
        detail,
    };
    let head = client.head_object().bucket(bucket).key(key).send().await;
    let head = match head {
        Ok(head) => head,
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            return Err(ModelError::ObjectMissing { uri: origin });
        }
        Err(e) => {
            return Err(fetch(
                aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            ));
        }
    };
    let etag = head
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    let cached = cache_path(cache_dir, &origin, &etag);
    if let Some(path) = &cached
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(model) = Model::from_json(&text, &origin)
    {
        tracing::info!(model = %origin, cache = %path.display(), "model read from cache");
        return Ok(model);
    }
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| fetch(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| fetch(e.to_string()))?
        .into_bytes();
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ModelError::Json {
        origin: origin.clone(),
        cause: serde::de::Error::custom("the object is not UTF-8 text"),
    })?;
    let model = Model::from_json(&text, &origin)?;
    if let Some(path) = cached {
        // Only a model that validated is cached; a failed write only costs a download next time.
        if let Err(e) = write_atomically(&path, &text) {
            tracing::warn!(cache = %path.display(), error = %e, "model cache not written");
        }
    }
    Ok(model)
}

/// `<dir>/<hash of the URI>-<etag>.json`; no cache for an object without an ETag.
fn cache_path(dir: &Path, origin: &str, etag: &str) -> Option<PathBuf> {
    let etag: String = etag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if etag.is_empty() {
        return None;
    }
    let uri = crate::digest::sha256_hex(origin.as_bytes(), 8);
    Some(dir.join(format!("{uri}-{etag}.json")))
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}
