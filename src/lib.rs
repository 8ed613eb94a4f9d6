//! stream-infer: ML inference on Kinesis and DynamoDB Streams batches, as one small Lambda.
//!
//! # Codemap
//!
//! Data flows one way:
//!
//! ```text
//! event -> decode -> features -> predict (once) -> sink -> outcome -> response
//! ```
//!
//! - [`config`]: every environment variable, parsed once into typed values.
//! - [`source`]: splits a Lambda event into records and decodes each envelope
//!   ([`source::kinesis`], [`source::dynamodb`]); per record, never per batch.
//! - [`features`]: a record's payload -> one row in the model's feature order, or a
//!   [`source::DecodeError`] that names what was wrong.
//! - [`model`]: the JSON artifact (metadata, preprocessing, linfa-linear model); load and
//!   `predict(batch)`.
//! - [`train`]: CSV -> artifact, deterministic, with held-out metrics.
//! - [`pipeline`]: decode -> features -> one predict, pure.
//! - [`sink`]: stdout and the dead-letter path; the only modules that write.
//! - [`aws_error`]: one readable line for an AWS SDK error.
//! - [`handler`]: the shared entry point of the Lambda and `stream-infer invoke`: runs the
//!   pipeline, the sinks, and builds the `batchItemFailures` response and the ledger.
//!
//! Local development tools, outside the Lambda's data path:
//!
//! - [`trigger`]: the event source mapping run locally (`stream-infer local-trigger`): polls
//!   Kinesis or DynamoDB Streams, batches, invokes the function, checkpoints, retries, bisects.
//! - [`put`]: ingests sample events into a stream or table (`stream-infer put`).
//! - [`bench`]: stage timings for `stream-infer bench` (scripts/bench).
//!
//! # Architecture invariants
//!
//! - **A bad record never fails the invocation.** Decoding yields a value per record; only an
//!   event that is not a stream event at all is an invocation error.
//! - **Only sinks and model loading do IO** in the function. Decoding, features and prediction
//!   are pure. The local tools ([`trigger`], [`put`]) do their own IO and never run in Lambda.
//! - **Every record ends in exactly one place:** written, dead-lettered with a reason, skipped,
//!   or reported in `batchItemFailures`. [`handler::Handled`] carries that ledger.
//! - **One predict call per batch.** Valid rows form one contiguous `Array2<f64>`.
//! - **The model loads once per process**, before the runtime loop, and is validated (format
//!   version, feature count, content hash) before it serves.

mod app;
mod aws_error;
mod config;
mod digest;
mod features;
mod handler;
mod ledger;
pub mod model;
mod pipeline;
mod reason;
mod sink;
mod source;

pub use app::{App, InitError};
pub use aws_error::describe as describe_aws_error;
pub use config::{Config, ConfigError, SinkConfig};
pub use features::FeatureSpec;
pub use handler::{HandlerError, handle, handle_lambda};
pub use ledger::{Entry, Handled, Outcome, StreamResponse, Summary};
pub use model::{Model, ModelError, ModelSource};
pub use pipeline::RecordError;
pub use pipeline::{Scored, ScoredBatch, Verdict, score};
pub use reason::Reason;
pub use sink::{
    DeadLetter, Deadline, Delivery, DynamoDbSink, JsonLinesSink, PayloadEncoding, Rejection,
    RetryPolicy, Sink, SinkError, SqsQueue,
};
pub use source::{DecodeError, EventError, Source, decode_event};
