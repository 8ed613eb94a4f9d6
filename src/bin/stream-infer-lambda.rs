//! The Lambda bootstrap: config, model and sinks once, then the runtime loop.

use lambda_runtime::service_fn;
use stream_infer::config::Config;
use stream_infer::handler::{handle_lambda, App};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let app = App::build(&config).await?;
    tracing::info!(
        model = app.model.name(),
        version = app.model.version(),
        sink = app.sink.describe(),
        dead_letter = app.dead_letter.describe(),
        "stream-infer ready"
    );
    lambda_runtime::run(service_fn(|event| handle_lambda(&app, event))).await
}
