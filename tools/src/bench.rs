//! Stage timings for `stream-infer bench`: decode, features, predict and respond on one event,
//! in process, as medians over repeated runs. scripts/bench runs it beside the Python handler.

use std::time::{Duration, Instant};

use ndarray::Array2;
use serde::Serialize;

use stream_infer::Deadline;
use stream_infer::{App, HandlerError};

/// Medians over `runs` runs of one event, in nanoseconds. `features` and `respond` are the
/// differences between the timed steps: decode, decode's output scored (features and the one
/// predict), predict alone on a matrix of the same shape, and the whole handler with the sink
/// writing JSON lines to nowhere.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub records: usize,
    pub bytes: usize,
    pub predicted: usize,
    pub runs: usize,
    pub decode_ns: u64,
    pub features_ns: u64,
    pub predict_ns: u64,
    pub respond_ns: u64,
    pub total_ns: u64,
}

fn median(mut samples: Vec<Duration>) -> u64 {
    samples.sort();
    samples[samples.len() / 2].as_nanos() as u64
}

/// Times `event` on `app`, whose sink should write nowhere (the point is our code, not IO).
pub fn time_event(app: &App, event: &str, runs: usize) -> Result<Timing, HandlerError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds");
    let runs = runs.max(1);
    let (mut decode, mut score, mut predict, mut total) = (vec![], vec![], vec![], vec![]);
    let mut shape = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        let batch = stream_infer::decode_event(event)?;
        decode.push(start.elapsed());

        let start = Instant::now();
        let scored = stream_infer::score(batch, app.spec(), app.model());
        score.push(start.elapsed());
        let predicted = scored
            .records
            .iter()
            .filter(|r| matches!(r.verdict, stream_infer::Verdict::Predicted { .. }))
            .count();
        shape = (scored.records.len(), predicted);
        drop(scored);

        // Prediction cost does not depend on the values, only on the matrix's shape.
        let x = Array2::from_elem((predicted, app.spec().width()), 1.0);
        let start = Instant::now();
        if predicted > 0 {
            std::hint::black_box(app.model().predict(x));
        }
        predict.push(start.elapsed());

        let start = Instant::now();
        let handled = runtime.block_on(stream_infer::handle(app, event, &Deadline::none()))?;
        total.push(start.elapsed());
        std::hint::black_box(handled);
    }
    let (decode, score, predict, total) = (
        median(decode),
        median(score),
        median(predict),
        median(total),
    );
    Ok(Timing {
        records: shape.0,
        bytes: event.len(),
        predicted: shape.1,
        runs,
        decode_ns: decode,
        features_ns: score.saturating_sub(predict),
        predict_ns: predict,
        respond_ns: total.saturating_sub(decode + score),
        total_ns: total,
    })
}
