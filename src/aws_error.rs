//! One readable line for an AWS SDK error, shared by every module that calls AWS.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// `"{service} {code}: {message}"` for a service error; the full error chain otherwise (timeouts,
/// connection and configuration errors carry no code).
pub fn describe<E, R>(service: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{service} {code}: {message}"),
        (Some(code), None) => format!("{service} {code}"),
        _ => format!("{service}: {}", DisplayErrorContext(error)),
    }
}
