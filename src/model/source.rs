//! `MODEL_URI`: where the model is loaded from.

use std::path::PathBuf;

/// `MODEL_URI` names no model this build can load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MODEL_URI {uri:?} is not usable: {detail}")]
pub struct BadModelUri {
    /// The URI as given.
    pub uri: String,
    /// What is wrong with it.
    pub detail: String,
}

/// Where to load the model from (`MODEL_URI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The diabetes model compiled into the binary.
    Embedded,
    /// A local path, given plainly or as a `file://` URI.
    File(PathBuf),
    /// An S3 object, downloaded once at init.
    S3 { bucket: String, key: String },
}

impl ModelSource {
    /// Parses `MODEL_URI`: unset or empty is the embedded model.
    pub fn parse(uri: Option<&str>) -> Result<ModelSource, BadModelUri> {
        let Some(uri) = uri.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(ModelSource::Embedded);
        };
        if let Some(path) = uri.strip_prefix("file://") {
            return Ok(ModelSource::File(PathBuf::from(path)));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(ModelSource::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                _ => Err(BadModelUri {
                    uri: uri.to_owned(),
                    detail: "an S3 URI is s3://BUCKET/KEY".to_owned(),
                }),
            };
        }
        match uri.split_once("://") {
            Some((scheme, _)) => Err(BadModelUri {
                uri: uri.to_owned(),
                detail: format!(
                    "scheme {scheme}:// is not supported; use a path, file:// or s3://"
                ),
            }),
            None => Ok(ModelSource::File(PathBuf::from(uri))),
        }
    }
}
