//! stream-infer: ML inference on Kinesis and DynamoDB Streams batches, as one small Lambda.
//!
//! This crate is the Lambda core: everything the function runs, and nothing else. The developer
//! tools (the `stream-infer` CLI: invoke, train, import, bench, put, local-trigger) live in the
//! `tools/` crate. ARCHITECTURE.md has the codemap of both crates.
//!
//! # Codemap
//!
//! Data flows one way:
//!
//! ```text
//! event -> decode -> features -> predict (once) -> sink -> outcome -> response
//! ```
//!
//! - `config`: every environment variable, parsed once into typed values ([`Config`]).
//! - `source`: splits a Lambda event into records and decodes each envelope (Kinesis,
//!   DynamoDB, SQS); per record, never per batch ([`decode_event`]).
//! - `features`: a record's payload -> one numeric row, or (for a typed model) one value per
//!   input, or a [`DecodeError`] that names what was wrong ([`FeatureSpec`]).
//! - [`model`]: the artifact (format_version 1: numeric linfa-linear regressors; 2: typed
//!   inputs, transforms, any linear estimator), its loading (file, S3 with a cache) and one
//!   evaluation per batch.
//! - `pipeline`: decode -> features -> one evaluation, pure ([`score`] -> [`Scored`]).
//! - `ledger`: exactly one [`Outcome`] per record; builds the [`Summary`] and the response.
//! - `reason`: the reason codes of rejected records ([`Reason`]).
//! - `sink`: stdout, DynamoDB and SQS for predictions, and the dead-letter path: the only
//!   writers.
//! - `app`: the [`App`] (config, model, sinks), built once before the runtime loop.
//! - `handler`: decode -> score -> write -> dead-letter -> respond ([`handle`]).
//! - `http`: the synchronous door (`DOOR=http`): a Function URL / HTTP API request -> status,
//!   headers and JSON body, through the same features and model, pure ([`respond`]).
//! - `runtime`: the Lambda runtime loop of both doors, fed each invocation's raw bytes by a
//!   `tower` layer instead of a serde pass ([`run`]).
//!
//! # Architecture invariants
//!
//! - **A bad record never fails the invocation.** Decoding yields a value per record; only an
//!   event that is not a stream event at all is an invocation error.
//! - **Only sinks and model loading do IO.** Decoding, features and prediction are pure.
//! - **Every record ends in exactly one place:** written, dead-lettered with a reason, skipped,
//!   or reported in `batchItemFailures`. The ledger sets each outcome once; a second set is a
//!   bug that panics in debug builds and tests.
//! - **One model evaluation per batch.** Valid rows form one dense matrix, or one CSR matrix
//!   when the model reads text.
//! - **The model loads once per process**, before the runtime loop, and is validated (format
//!   version, shapes, finite coefficients, content hash) before it serves.
//! - **The Lambda links only what it runs.** Crates only the tools need live in `tools/`.

mod app;
mod aws_error;
mod config;
mod digest;
mod features;
mod handler;
mod http;
mod ledger;
mod metrics;
pub mod model;
mod pipeline;
mod reason;
mod runtime;
mod sink;
mod source;

pub use app::{App, InitError};
pub use aws_error::describe as describe_aws_error;
pub use config::{Config, ConfigError, DEFAULT_HTTP_MAX_INSTANCES, Door, SinkConfig};
pub use features::FeatureSpec;
pub use handler::{Call, HandlerError, handle, handle_lambda, handle_observed, handle_reported};
pub use http::{Answered, HttpError, HttpResponse, handle_http, respond};
pub use ledger::{Entry, Handled, Outcome, StreamResponse, Summary};
pub use metrics::{Invocation, Metrics, Observed, Request, Stages};
pub use model::{Model, ModelError, ModelSource};
pub use pipeline::RecordError;
pub use pipeline::{Scored, ScoredBatch, Verdict, score};
pub use reason::Reason;
pub use runtime::{Answer, InvocationError, RawBody, RawBodyLayer, run};
pub use sink::{
    DeadLetter, Deadline, Delivery, DynamoDbSink, JsonLinesSink, PayloadEncoding, Rejection,
    RetryPolicy, Sink, SinkError, SqsQueue,
};
pub use source::{DecodeError, EventError, Source, decode_event};
