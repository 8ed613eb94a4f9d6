//! The built-in sink: one JSON line per prediction on standard output (or any writer).

use std::io::Write;
use std::sync::Mutex;

use super::{Prediction, SinkError, line};

/// How many bytes of lines are handed to the writer at once: a batch of the largest Kinesis
/// event (~2.3 MB of lines) takes a few writes, and the buffer kept between invocations stays
/// about this size.
const CHUNK: usize = 1 << 20;

/// Writes predictions as JSON lines. Production writes to stdout; tests hand it a buffer.
pub struct JsonLinesSink {
    out: Mutex<Lines>,
}

/// The writer, and the buffer the lines are built in, kept across invocations so a warm
/// invocation allocates nothing for its output.
struct Lines {
    writer: Box<dyn Write + Send>,
    buffer: Vec<u8>,
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

    pub fn new(writer: Box<dyn Write + Send>) -> JsonLinesSink {
        JsonLinesSink {
            out: Mutex::new(Lines {
                writer,
                buffer: Vec::new(),
            }),
        }
    }

    /// Writes the batch under one lock, so concurrent invocations never interleave lines. The
    /// lines are built in one buffer and handed to the writer in chunks of whole lines; once a
    /// write fails, the lines of that chunk and every later one are failed (and not attempted:
    /// a writer that failed mid-batch is not trusted with the rest).
    pub fn write(&self, predictions: &[Prediction<'_>]) -> Vec<Result<(), SinkError>> {
        let mut guard = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Lines { writer, buffer } = &mut *guard;
        buffer.clear();
        // The first line of what `buffer` holds, and the first line not yet written.
        let mut first = 0;
        let mut failure = None;
        for (index, prediction) in predictions.iter().enumerate() {
            line::write_prediction(buffer, prediction);
            buffer.push(b'\n');
            if buffer.len() >= CHUNK {
                if let Err(e) = writer.write_all(buffer) {
                    failure = Some((first, e));
                    break;
                }
                buffer.clear();
                first = index + 1;
            }
        }
        if failure.is_none() {
            if let Err(e) = writer.write_all(buffer) {
                failure = Some((first, e));
            } else if let Err(e) = writer.flush() {
                // A failed flush may lose anything written before it: no line counts as written.
                failure = Some((0, e));
            }
        }
        if buffer.capacity() > 2 * CHUNK {
            *buffer = Vec::new();
        }
        let mut results = vec![Ok(()); predictions.len()];
        if let Some((from, e)) = failure {
            let error = SinkError::transient(None, format!("stdout: {e}"));
            results[from..]
                .iter_mut()
                .for_each(|r| *r = Err(error.clone()));
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::sink::{ModelRef, Predicted};
    use crate::source::Source;

    /// A writer into shared bytes that refuses every write once `limit` bytes were written, and
    /// counts the writes it was handed.
    #[derive(Clone, Default)]
    struct Capture {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        limit: Option<usize>,
    }

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut bytes = self.bytes.lock().unwrap();
            if self
                .limit
                .is_some_and(|limit| bytes.len() + buf.len() > limit)
            {
                return Err(std::io::Error::other("disk full"));
            }
            *self.writes.lock().unwrap() += 1;
            bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("4959033827149025660855969253836157109592157598913{i:07}"))
            .collect()
    }

    fn predictions(ids: &[String]) -> Vec<Prediction<'_>> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| Prediction {
                id,
                sequenced: true,
                key: Some("patient-\"7\"\n"),
                prediction: Predicted::Value(i as f64 * 0.37 - 1e3),
                probabilities: None,
                imputed: &[],
                model: ModelRef {
                    name: "diabetes",
                    version: "1",
                },
                source: Source::Kinesis,
                partition_key: Some(id),
                source_arn: Some("arn:aws:kinesis:us-east-1:123456789012:stream/in"),
                event_time: Some(1_795_000_000.0 + i as f64),
                trace_header: None,
            })
            .collect()
    }

    fn expected(predictions: &[Prediction<'_>]) -> Vec<u8> {
        let lines: Vec<String> = predictions
            .iter()
            .map(|p| serde_json::to_string(p).unwrap() + "\n")
            .collect();
        lines.concat().into_bytes()
    }

    #[test]
    fn a_batch_is_its_serde_json_lines_in_few_writes_and_the_buffer_is_kept() {
        let capture = Capture::default();
        let sink = JsonLinesSink::new(Box::new(capture.clone()));
        let ids = ids(12_000);
        let predictions = predictions(&ids);
        let results = sink.write(&predictions);
        assert!(results.iter().all(Result::is_ok));
        let all = expected(&predictions);
        assert_eq!(*capture.bytes.lock().unwrap(), all);
        // Whole chunks of about CHUNK bytes, not a write per line or per 8 KB.
        let writes = *capture.writes.lock().unwrap();
        assert_eq!(writes, all.len().div_ceil(CHUNK), "{writes} writes");
        let kept = sink.out.lock().unwrap().buffer.capacity();
        assert!(
            (CHUNK..=2 * CHUNK).contains(&kept),
            "buffer of {kept} bytes"
        );

        // The next batch reuses the buffer and writes only its own lines.
        capture.bytes.lock().unwrap().clear();
        let results = sink.write(&predictions[..3]);
        assert_eq!(results.len(), 3);
        assert_eq!(*capture.bytes.lock().unwrap(), expected(&predictions[..3]));
        assert_eq!(sink.out.lock().unwrap().buffer.capacity(), kept);
    }

    #[test]
    fn lines_from_the_failed_chunk_on_are_failed_and_earlier_chunks_are_written() {
        let ids = ids(12_000);
        let predictions = predictions(&ids);
        let capture = Capture {
            limit: Some(CHUNK + CHUNK / 2),
            ..Capture::default()
        };
        let sink = JsonLinesSink::new(Box::new(capture.clone()));
        let results = sink.write(&predictions);
        let written = capture.bytes.lock().unwrap().clone();
        let lines = written.iter().filter(|&&b| b == b'\n').count();
        assert!(
            lines > 0 && written.ends_with(b"\n"),
            "the first chunk is written"
        );
        assert_eq!(written, expected(&predictions[..lines]));
        assert!(results[..lines].iter().all(Result::is_ok));
        assert!(results[lines..].iter().all(|r| {
            r.as_ref()
                .is_err_and(|e| e.is_transient() && e.message == "stdout: disk full")
        }));
    }
}
