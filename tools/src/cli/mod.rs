//! The `stream-infer` subcommands: one module each, every one an Args struct beside its `run`.
//!
//! Raw flags become the library's validated values once, in `From` impls and clap value
//! parsers, so `run` works with typed values only.

pub mod bench;
pub mod import;
pub mod invoke;
pub mod local_trigger;
pub mod model;
pub mod put;
pub mod train;

/// Runs async work on a current-thread runtime: the CLI does one thing at a time.
pub(crate) fn block_on<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(work)
}

/// The AWS configuration from the standard chain and `AWS_ENDPOINT_URL`.
pub(crate) async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// Reads an event file, naming it when it cannot.
pub(crate) fn read_event(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context as _;
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read event file {}", path.display()))
}
