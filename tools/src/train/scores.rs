//! Scoring a split with the compiled model: R² and RMSE for a regression; accuracy, log loss
//! and (binary) ROC AUC for a classifier, each computed as scikit-learn's metric of that name.

use std::collections::BTreeMap;

use ndarray::Array2;
use stream_infer::model::{Features, Output, Scorer};

use super::TrainError;
use super::estimator::Response;

/// Which split of the response to score.
#[derive(Debug, Clone, Copy)]
pub(super) enum Split {
    Train,
    Holdout,
}

/// The metrics of one split, as the artifact's `metrics` stores them.
pub(super) fn score(
    scorer: &Scorer,
    x: &Features,
    response: &Response,
    split: Split,
) -> Result<BTreeMap<String, Option<f64>>, TrainError> {
    let output = scorer
        .evaluate(x)
        .map_err(|e| TrainError::Invalid(Box::new(e)))?;
    let mut metrics = BTreeMap::new();
    match (output, response) {
        (Output::Values(predicted), Response::Values { train, holdout }) => {
            let truth = match split {
                Split::Train => train,
                Split::Holdout => holdout,
            };
            let m = super::metrics(&predicted, truth);
            metrics.insert("r2".to_owned(), m.r2);
            metrics.insert("rmse".to_owned(), Some(m.rmse));
        }
        (
            Output::Classes {
                label_index,
                probabilities: Some(p),
                ..
            },
            Response::Classes { train, holdout, .. },
        ) => {
            let truth = match split {
                Split::Train => train,
                Split::Holdout => holdout,
            };
            metrics.insert("accuracy".to_owned(), Some(accuracy(&label_index, truth)));
            metrics.insert("log_loss".to_owned(), Some(log_loss(&p, truth)));
            if p.ncols() == 2 {
                let positive: Vec<f64> = p.column(1).to_vec();
                metrics.insert("roc_auc".to_owned(), roc_auc(&positive, truth));
            }
        }
        _ => {
            return Err(TrainError::Invalid(
                "the model's output does not match its target".into(),
            ));
        }
    }
    Ok(metrics)
}

fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    let right = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    right as f64 / truth.len() as f64
}

/// `log_loss`: the mean negative log probability of the true class, probabilities clipped to
/// `[eps, 1 - eps]` with eps the f64 machine epsilon, as scikit-learn 1.9 clips them.
fn log_loss(probabilities: &Array2<f64>, truth: &[usize]) -> f64 {
    let eps = f64::EPSILON;
    let total: f64 = truth
        .iter()
        .enumerate()
        .map(|(i, &t)| -probabilities[[i, t]].clamp(eps, 1.0 - eps).ln())
        .sum();
    total / truth.len() as f64
}

/// `roc_auc_score` of the class-1 scores: the probability that a random positive row scores
/// above a random negative one, ties counting half (the Mann-Whitney U statistic). `None` when
/// the split holds one class only, where scikit-learn's is undefined.
fn roc_auc(scores: &[f64], truth: &[usize]) -> Option<f64> {
    let positives = truth.iter().filter(|&&t| t == 1).count();
    let negatives = truth.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positive rows.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| truth[i] == 1).count();
        rank_sum += rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn roc_auc_counts_ties_half() {
        // scikit-learn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]), Some(0.75));
        // roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875
        assert_eq!(roc_auc(&[0.5, 0.5, 0.2, 0.9], &[0, 1, 0, 1]), Some(0.875));
        assert_eq!(roc_auc(&[0.5, 0.6], &[1, 1]), None);
    }

    #[test]
    fn log_loss_clips_like_scikit_learn() {
        // log_loss([0, 1], [[0.9, 0.1], [0.2, 0.8]]) == 0.164252033486018
        let p = array![[0.9, 0.1], [0.2, 0.8]];
        assert!((log_loss(&p, &[0, 1]) - 0.164_252_033_486_018).abs() < 1e-15);
        // A certain, wrong prediction costs -ln(eps), not infinity.
        let wrong = array![[1.0, 0.0]];
        assert!((log_loss(&wrong, &[1]) - 36.043_653_389_117_15).abs() < 1e-9);
        assert_eq!(accuracy(&[0, 1, 1], &[0, 1, 0]), 2.0 / 3.0);
    }
}
