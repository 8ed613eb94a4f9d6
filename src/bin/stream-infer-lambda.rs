//! The Lambda bootstrap: config, model and sinks once, then the runtime loop of the configured
//! door (`DOOR`: stream batches or HTTP requests).

use stream_infer::{App, Config, Door, InitError};

// One thread: Lambda hands the function one invocation at a time, so worker threads would only
// add their stacks and malloc arenas to the resident memory. The SDK's and the runtime client's
// spawned tasks run on this thread between the handler's awaits.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()
        .map_err(InitError::from)
        .map_err(report)?;
    let app = App::build(&config).await.map_err(report)?;
    tracing::info!(
        model = app.model().name(),
        version = app.model().version(),
        sink = app.sink().describe(),
        dead_letter = app.dead_letter().describe(),
        metrics = app.metrics().map_or("off", |m| m.namespace()),
        door = match app.door() {
            Door::Stream => "stream",
            Door::Http { .. } => "http",
        },
        "stream-infer ready"
    );
    stream_infer::run(&app).await
}

/// Logs an init failure with its stable error type, then hands it to the runtime.
fn report(error: InitError) -> lambda_runtime::Error {
    tracing::error!(error_type = error.code(), "{error}");
    error.into()
}
