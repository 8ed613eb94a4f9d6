//! `stream-infer import`: a fitted scikit-learn object (joblib or pickle) -> a model artifact.
//!
//! The object is read by the pinned scikit-learn through `tools/python/import_sklearn.py`
//! (embedded in this binary), which writes the artifact without a version. Here the artifact
//! is compiled exactly as the Lambda will load it, given its content hash, and written.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use stream_infer::model::{Model, schema, typed_content_hash};

/// The importer script, run by the Python that has the pinned scikit-learn.
const IMPORTER: &str = include_str!("../../python/import_sklearn.py");

/// Import a fitted scikit-learn estimator or pipeline (joblib or pickle) as a model artifact.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The joblib or pickle file.
    model: PathBuf,
    /// The model's name.
    #[arg(long)]
    name: String,
    /// The name of what the model predicts.
    #[arg(long, default_value = "y")]
    target: String,
    /// For a bare text pipeline: the record field holding the text.
    #[arg(long)]
    text_field: Option<String>,
    /// Input names for a model fitted on a plain array (x0, x1, … otherwise).
    #[arg(long)]
    features: Option<String>,
    /// The Python with the pinned scikit-learn: STREAM_INFER_PYTHON, else ./.venv/bin/python,
    /// else python3.
    #[arg(long, env = "STREAM_INFER_PYTHON")]
    python: Option<PathBuf>,
    /// Where to write the artifact.
    #[arg(long)]
    out: PathBuf,
}

/// Converts, validates, hashes and writes the artifact, then prints what was written.
pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    let python = args.python.clone().unwrap_or_else(|| {
        let venv = PathBuf::from(".venv/bin/python");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        }
    });
    let mut command = Command::new(&python);
    command.arg("-c").arg(IMPORTER).arg(&args.model).args([
        "--name",
        &args.name,
        "--target",
        &args.target,
    ]);
    if let Some(field) = &args.text_field {
        command.args(["--text-field", field]);
    }
    if let Some(features) = &args.features {
        command.args(["--features", features]);
    }
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    // The importer's notes (and its refusal) are for the user as they are.
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!("{} was not imported", args.model.display());
    }
    let mut artifact: schema::Artifact = serde_json::from_slice(&output.stdout)
        .context("the importer wrote something that is not a model artifact")?;
    artifact.version = Some(typed_content_hash(&artifact));
    let origin = args.out.display().to_string();
    let model = Model::typed(artifact.clone(), &origin)?;
    let mut text = serde_json::to_string_pretty(&artifact)?;
    text.push('\n');
    std::fs::write(&args.out, text)
        .with_context(|| format!("cannot write model to {}", args.out.display()))?;
    println!("model    {} {}", model.name(), model.version());
    println!("kind     {}", artifact.estimator.kind());
    println!("inputs   {}", model.features().join(","));
    println!("features {}", artifact.feature_names.len());
    println!("wrote    {}", args.out.display());
    Ok(())
}
