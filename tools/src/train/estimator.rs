//! Fitting the estimator of a format_version 2 model on the encoded training rows: linfa-linear
//! for OLS and the GLMs, linfa-logistic for classifiers, written as the runtime's coefficients.
//!
//! linfa-logistic's conventions are not scikit-learn's, and the artifact follows scikit-learn:
//! - a binary model's "positive" class is linfa's majority class (the first seen on a tie), while
//!   the artifact's sigmoid gives p(`classes[1]`), so the coefficients are negated when linfa's
//!   positive class is `classes[0]`;
//! - a multinomial model's params are `n_features × n_classes` (scikit-learn's `coef_.T`), while
//!   the artifact's `coef` has one row per class.
//!
//! Classes are sorted ascending, as scikit-learn's `classes_` are, and linfa sees each row's
//! class index, so its own (also ascending) order of classes is the artifact's.

use std::path::Path;
use std::time::Duration;

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_linear::{LinearRegression, TweedieRegressor};
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, Axis};
use stream_infer::model::schema::{Estimator, GlmLink, Label, MultiClass};

use super::table::{self, Table, Target};
use super::{EstimatorParams, TrainError};

/// The target of the training and held-out rows, as the estimator and the metrics need it.
#[derive(Debug, Clone)]
pub(super) enum Response {
    Values {
        train: Array1<f64>,
        holdout: Array1<f64>,
    },
    Classes {
        /// Ascending, at least two.
        classes: Vec<Label>,
        /// Each row's index into `classes`.
        train: Vec<usize>,
        holdout: Vec<usize>,
    },
}

/// The target of `training` and `holdout` rows. Classes are those of the training rows: a
/// classifier needs two, and a label seen only in held-out rows could never be predicted.
pub(super) fn response(
    path: &Path,
    column: &str,
    table: &Table,
    training: &[usize],
    holdout: &[usize],
) -> Result<Response, TrainError> {
    match &table.target {
        Target::Values(y) => {
            let pick = |rows: &[usize]| rows.iter().map(|&i| y[i]).collect();
            Ok(Response::Values {
                train: pick(training),
                holdout: pick(holdout),
            })
        }
        Target::Labels(labels) => {
            let classes: Vec<Label> = table::counts(training.iter().map(|&i| &labels[i]))
                .into_iter()
                .map(|(label, _)| label)
                .collect();
            if classes.len() < 2 {
                return Err(TrainError::OneClass {
                    path: path.to_owned(),
                    column: column.to_owned(),
                    class: classes.first().map(ToString::to_string).unwrap_or_default(),
                    rows: training.len(),
                });
            }
            let index = |rows: &[usize]| {
                rows.iter()
                    .map(|&i| {
                        classes.iter().position(|c| *c == labels[i]).ok_or_else(|| {
                            TrainError::UnseenLabel {
                                path: path.to_owned(),
                                line: table.line(i),
                                column: column.to_owned(),
                                label: match &labels[i] {
                                    Label::Str(s) => format!("{s:?}"),
                                    other => other.to_string(),
                                },
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            Ok(Response::Classes {
                train: index(training)?,
                holdout: index(holdout)?,
                classes,
            })
        }
    }
}

/// A logistic regression that stopped short of scikit-learn's convergence criterion: the
/// largest gradient component of the mean loss is above `tolerance`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unconverged {
    pub max_gradient: f64,
    pub tolerance: f64,
    pub max_iterations: u64,
}

/// scikit-learn's `LogisticRegression(tol=1e-4)`, applied to the gradient of the mean loss.
const GRADIENT_TOLERANCE: f64 = 1e-4;

/// Fits the estimator on the dense training features.
pub(super) fn fit(
    params: EstimatorParams,
    x: Array2<f64>,
    response: &Response,
) -> Result<(Estimator, Option<Unconverged>), TrainError> {
    let linear_error = |e: linfa_linear::LinearError<f64>| TrainError::Fit {
        detail: e.to_string(),
    };
    match (params, response) {
        (EstimatorParams::Ols, Response::Values { train, .. }) => {
            let model = LinearRegression::new()
                .fit(&Dataset::new(x, train.clone()))
                .map_err(linear_error)?;
            Ok((
                Estimator::LinearRegression {
                    coef: model.params().to_vec(),
                    intercept: model.intercept(),
                },
                None,
            ))
        }
        (
            EstimatorParams::Glm {
                family,
                alpha,
                timeout,
            },
            Response::Values { train, .. },
        ) => {
            let power = family.power();
            let dataset = Dataset::new(x, train.clone());
            let model = with_timeout(
                "GLM",
                timeout,
                "try --standardize, a larger --alpha, or rescaling the target",
                move || {
                    TweedieRegressor::params()
                        .power(power)
                        .alpha(alpha)
                        .fit(&dataset)
                },
            )?
            .map_err(linear_error)?;
            Ok((
                Estimator::Glm {
                    power,
                    // linfa-linear's automatic link, which is also scikit-learn's.
                    link: if power <= 0.0 {
                        GlmLink::Identity
                    } else {
                        GlmLink::Log
                    },
                    coef: model.coef.to_vec(),
                    intercept: model.intercept,
                },
                None,
            ))
        }
        (
            EstimatorParams::Logistic {
                alpha,
                max_iterations,
                timeout,
            },
            Response::Classes { classes, train, .. },
        ) => {
            let (coef, intercept, x) =
                logistic(x, train, classes.len(), alpha, max_iterations, timeout)?;
            let multi_class = if classes.len() == 2 {
                MultiClass::Binary
            } else {
                MultiClass::Multinomial
            };
            let max_gradient = gradient(&x, train, &coef, &intercept, alpha, multi_class);
            let unconverged = (max_gradient > GRADIENT_TOLERANCE).then_some(Unconverged {
                max_gradient,
                tolerance: GRADIENT_TOLERANCE,
                max_iterations,
            });
            Ok((
                Estimator::Logistic {
                    classes: classes.clone(),
                    coef,
                    intercept,
                    multi_class,
                },
                unconverged,
            ))
        }
        // `TrainRequest::check` reads labels exactly when the estimator is logistic.
        _ => unreachable!("the target is read as the estimator needs it"),
    }
}

/// Coefficients (one row per class, one row for a binary model) and intercepts in the artifact's
/// orientation; the features come back for the convergence check.
type Coefficients = (Vec<Vec<f64>>, Vec<f64>, Array2<f64>);

fn logistic(
    x: Array2<f64>,
    y: &[usize],
    classes: usize,
    alpha: f64,
    max_iterations: u64,
    timeout: Duration,
) -> Result<Coefficients, TrainError> {
    let y = Array1::from(y.to_vec());
    let hint = "raise --fit-timeout, pass --standardize, or lower --max-iterations";
    if classes == 2 {
        let (model, x) = with_timeout("logistic regression", timeout, hint, move || {
            let dataset = Dataset::new(x, y);
            let model = LogisticRegression::default()
                .alpha(alpha)
                .max_iterations(max_iterations)
                .fit(&dataset);
            (model, dataset.records)
        })?;
        let model = model?;
        // linfa's positive class is the majority class; the artifact's is classes[1].
        let sign = if model.labels().pos.class == 1 {
            1.0
        } else {
            -1.0
        };
        Ok((
            vec![model.params().iter().map(|w| sign * w).collect()],
            vec![sign * model.intercept()],
            x,
        ))
    } else {
        let (model, x) = with_timeout("logistic regression", timeout, hint, move || {
            let dataset = Dataset::new(x, y);
            let model = MultiLogisticRegression::default()
                .alpha(alpha)
                .max_iterations(max_iterations)
                .fit(&dataset);
            (model, dataset.records)
        })?;
        let model = model?;
        debug_assert_eq!(model.classes(), (0..classes).collect::<Vec<_>>());
        // linfa's params are n_features × n_classes; the artifact keeps a row per class.
        let coef = model
            .params()
            .axis_iter(Axis(1))
            .map(|column| column.to_vec())
            .collect();
        Ok((coef, model.intercept().to_vec(), x))
    }
}

/// The largest absolute component of the gradient of the mean penalized loss that linfa
/// minimizes (`Σ log loss + α/2 ‖W‖²`, divided by the rows), which is scikit-learn's objective
/// with `C = 1/α` and what its `tol` bounds.
fn gradient(
    x: &Array2<f64>,
    y: &[usize],
    coef: &[Vec<f64>],
    intercept: &[f64],
    alpha: f64,
    multi_class: MultiClass,
) -> f64 {
    let n = x.nrows() as f64;
    let w = Array2::from_shape_fn((coef.len(), x.ncols()), |(k, j)| coef[k][j]);
    let mut z = x.dot(&w.t());
    z += &Array1::from(intercept.to_vec());
    // Residuals: predicted probability minus the indicator of the true class.
    let residual = match multi_class {
        MultiClass::Binary => Array2::from_shape_fn((x.nrows(), 1), |(i, _)| {
            1.0 / (1.0 + (-z[[i, 0]]).exp()) - f64::from(u8::from(y[i] == 1))
        }),
        _ => {
            let mut p = z;
            for mut row in p.axis_iter_mut(Axis(0)) {
                let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - max).exp());
                let sum = row.sum();
                row.mapv_inplace(|v| v / sum);
            }
            for (i, &class) in y.iter().enumerate() {
                p[[i, class]] -= 1.0;
            }
            p
        }
    };
    let grad_w = residual.t().dot(x) + &(w * alpha);
    let grad_b = residual.sum_axis(Axis(0));
    grad_w
        .iter()
        .chain(grad_b.iter())
        .fold(0.0_f64, |m, g| m.max(g.abs()))
        / n
}

/// Runs `work` on its own thread and gives it up after `timeout`: linfa's line searches can
/// spin for a very long time on badly scaled data.
fn with_timeout<T: Send + 'static>(
    what: &'static str,
    timeout: Duration,
    hint: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TrainError> {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    result
        .recv_timeout(timeout)
        .map_err(|_| TrainError::Timeout {
            what,
            timeout,
            hint,
        })
}
