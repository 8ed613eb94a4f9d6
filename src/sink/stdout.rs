//! The built-in sink: one JSON line per prediction on standard output (or any writer).

use std::io::Write;
use std::sync::Mutex;

use super::{Prediction, SinkError};

/// Writes predictions as JSON lines. Production writes to stdout; tests hand it a buffer.
pub struct JsonLinesSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonLinesSink")
    }
}

impl JsonLinesSink {
    pub fn stdout() -> JsonLinesSink {
        JsonLinesSink::new(Box::new(std::io::stdout()))
    }

    pub fn new(out: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            out: Mutex::new(out),
        }
    }

    /// Writes the batch under one lock, so concurrent invocations never interleave lines.
    pub fn write(&self, predictions: &[Prediction<'_>]) -> Vec<Result<(), SinkError>> {
        let mut guard = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = std::io::BufWriter::new(&mut *guard);
        let mut results: Vec<Result<(), SinkError>> = predictions
            .iter()
            .map(|p| {
                serde_json::to_writer(&mut out, p)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| SinkError::transient(None, format!("stdout: {e}")))
            })
            .collect();
        // A failed flush loses whatever was buffered, so no line can be counted as written.
        if let Err(e) = out.flush() {
            let error = SinkError::transient(None, format!("stdout: {e}"));
            results.iter_mut().for_each(|r| *r = Err(error.clone()));
        }
        results
    }
}
