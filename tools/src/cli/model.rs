//! `stream-infer model show`: a model's metadata, as a model service's metadata route gives it.

use stream_infer::model::{self, ModelSource};

/// Inspect a model artifact.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ModelCommand {
    /// Print a model's kind, inputs and transforms, classes, provenance, metrics and version as
    /// JSON. FILE is a path, file:// or s3:// URI; the embedded model when omitted.
    Show {
        /// The model: a path, a file:// or s3:// URI.
        model: Option<String>,
    },
}

/// Loads the model as the Lambda would (validated, checksummed) and prints its description.
pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    let ModelCommand::Show { model } = args.command;
    let source = ModelSource::parse(model.as_deref())?;
    super::block_on(async {
        let aws = match source {
            ModelSource::S3 { .. } => Some(super::aws().await),
            _ => None,
        };
        let cache = std::env::temp_dir().join("stream-infer");
        let model = model::load(&source, aws.as_ref(), &cache).await?;
        println!("{}", serde_json::to_string_pretty(&model.describe())?);
        Ok(())
    })
}
