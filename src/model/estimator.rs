//! Linear estimators: artifact validation and one matrix product per batch, with scikit-learn's
//! link functions, probabilities and labels.
//!
//! Numerics follow sklearn 1.9.1 / scipy 1.17:
//! - decision `z = X @ coef.T + intercept` (product first, intercept added after, as
//!   `safe_sparse_dot(X, coef_.T) + intercept_`); sparse rows accumulate from 0 in stored column
//!   order like scipy's `csr_matvec(s)`, so sparse results are bit-identical to scipy; dense ones
//!   go through ndarray's dot, whose summation order differs from BLAS by rounding only;
//! - sigmoid is `scipy.special.expit`, computed as `1 / (1 + exp(-z))`;
//! - binary logistic: `[1 - p, p]` with `p = expit(z)` (`_predict_proba_lr`);
//! - multinomial: `sklearn.utils.extmath.softmax`: subtract the row max, `exp`, divide by the row
//!   sum; the sum reproduces numpy's pairwise summation order bit for bit;
//! - ovr (SGDClassifier log_loss, liblinear-style): `expit` per class, divided by the row sum, and
//!   a row whose sum is 0 becomes uniform (sklearn's guard);
//! - labels come from the decision values, exactly as `LinearClassifierMixin.predict`: binary
//!   `classes[1]` iff `z > 0`, multiclass the first argmax (a NaN wins, as in numpy).
//!
//! Nothing is clamped: a non-finite value (e.g. `exp` overflow of a log-link GLM) stays in the
//! output and `Output::row_is_finite` tells the caller to reject that row.

use ndarray::{Array1, Array2, ArrayView1, Axis};

use crate::model::schema::{Estimator, GlmLink, Label, MultiClass};
use crate::model::transform::Features;

/// A problem in the artifact's `estimator`. `code()` is stable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EstimatorError {
    #[error("estimator ({kind}): {at} is not finite")]
    NonFinite { kind: &'static str, at: String },
    #[error("estimator ({kind}): {at} has {found} coefficients, the features have {expected}")]
    Width {
        kind: &'static str,
        at: String,
        expected: usize,
        found: usize,
    },
    #[error("estimator ({kind}): {classes} classes need {expected} coef rows, found {found}")]
    CoefRows {
        kind: &'static str,
        classes: usize,
        expected: usize,
        found: usize,
    },
    #[error("estimator ({kind}): intercept has {found} entries, expected {expected}")]
    InterceptLength {
        kind: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("estimator ({kind}): {found} classes, a classifier needs at least 2")]
    TooFewClasses { kind: &'static str, found: usize },
    #[error("estimator ({kind}): class {label} is listed twice")]
    DuplicateClass { kind: &'static str, label: Label },
    #[error("estimator ({kind}): classes mix strings and integers")]
    MixedClassTypes { kind: &'static str },
    #[error("estimator (logistic): multi_class \"binary\" needs exactly 2 classes, found {found}")]
    BinaryClasses { found: usize },
    #[error("estimator (glm): power {power} is not finite")]
    GlmPower { power: f64 },
}

impl EstimatorError {
    /// Every code `code()` can return.
    pub const CODES: &'static [&'static str] = &[
        "estimator_non_finite",
        "estimator_width",
        "coef_rows",
        "intercept_length",
        "too_few_classes",
        "duplicate_class",
        "class_mixed_types",
        "binary_classes",
        "glm_power",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            EstimatorError::NonFinite { .. } => "estimator_non_finite",
            EstimatorError::Width { .. } => "estimator_width",
            EstimatorError::CoefRows { .. } => "coef_rows",
            EstimatorError::InterceptLength { .. } => "intercept_length",
            EstimatorError::TooFewClasses { .. } => "too_few_classes",
            EstimatorError::DuplicateClass { .. } => "duplicate_class",
            EstimatorError::MixedClassTypes { .. } => "class_mixed_types",
            EstimatorError::BinaryClasses { .. } => "binary_classes",
            EstimatorError::GlmPower { .. } => "glm_power",
        }
    }
}

/// Caller bug: features of another width than the scorer was compiled for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("features have {found} columns, the estimator expects {expected}")]
pub struct EvalError {
    pub expected: usize,
    pub found: usize,
}

/// Predictions for one batch, row i for the i-th encoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Regression predictions (linear_regression, glm).
    Values(Array1<f64>),
    Classes {
        /// Index into the estimator's classes (`Scorer::classes`), per row.
        label_index: Vec<usize>,
        /// `predict_proba`, shape (rows, classes); `None` for linear_classifier.
        probabilities: Option<Array2<f64>>,
        /// `decision_function` values; shape (rows, 1) for a binary model (sklearn returns that
        /// column as a 1-D array), (rows, classes) otherwise.
        decision: Array2<f64>,
    },
}

impl Output {
    pub fn nrows(&self) -> usize {
        match self {
            Output::Values(v) => v.len(),
            Output::Classes { label_index, .. } => label_index.len(),
        }
    }

    /// False when any value of the row (prediction, decision or probability) is NaN or infinite:
    /// the caller rejects that record with `prediction_not_finite`.
    pub fn row_is_finite(&self, i: usize) -> bool {
        match self {
            Output::Values(v) => v.get(i).is_some_and(|x| x.is_finite()),
            Output::Classes {
                probabilities,
                decision,
                ..
            } => {
                let finite =
                    |a: &Array2<f64>| i < a.nrows() && a.row(i).iter().all(|x| x.is_finite());
                finite(decision) && probabilities.as_ref().is_none_or(finite)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Head {
    Identity,
    Exp,
    /// Binary logistic.
    Sigmoid,
    Softmax,
    Ovr,
    /// linear_classifier: labels only.
    Decision,
}

/// A validated estimator, ready to evaluate batches.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// coef transposed: (width, outputs), so a sparse row walks contiguous memory per column.
    coef_t: Array2<f64>,
    intercept: Array1<f64>,
    head: Head,
    classes: Vec<Label>,
}

fn check_finite(kind: &'static str, at: &str, v: &[f64]) -> Result<(), EstimatorError> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(j) => Err(EstimatorError::NonFinite {
            kind,
            at: format!("{at}[{j}]"),
        }),
        None => Ok(()),
    }
}

fn check_row(kind: &'static str, at: &str, v: &[f64], width: usize) -> Result<(), EstimatorError> {
    if v.len() != width {
        return Err(EstimatorError::Width {
            kind,
            at: at.to_string(),
            expected: width,
            found: v.len(),
        });
    }
    check_finite(kind, at, v)
}

fn check_classes(kind: &'static str, classes: &[Label]) -> Result<(), EstimatorError> {
    if classes.len() < 2 {
        return Err(EstimatorError::TooFewClasses {
            kind,
            found: classes.len(),
        });
    }
    if classes.iter().any(|c| c.is_str() != classes[0].is_str()) {
        return Err(EstimatorError::MixedClassTypes { kind });
    }
    for (k, c) in classes.iter().enumerate() {
        if classes[..k].contains(c) {
            return Err(EstimatorError::DuplicateClass {
                kind,
                label: c.clone(),
            });
        }
    }
    Ok(())
}

impl Estimator {
    /// Checks the estimator against the feature width (`Program::width()`).
    ///
    /// GLM links: sklearn 1.9.1 accepts any real `power` with either link (`TweedieRegressor`
    /// declares `power` on the whole real line, `link` in {auto, identity, log}), so only a
    /// non-finite power is refused. With the identity link and `power != 0` the distribution's
    /// mean must be positive, yet sklearn's `predict` returns the raw linear predictor anyway; we
    /// return it unchanged too (parity), so such a model can emit zero or negative predictions.
    pub fn validate(&self, width: usize) -> Result<(), EstimatorError> {
        self.compile(width).map(|_| ())
    }

    /// Validates and builds the `Scorer`.
    pub fn compile(&self, width: usize) -> Result<Scorer, EstimatorError> {
        let kind = self.kind();
        let single = |coef: &[f64], intercept: f64, head: Head| {
            check_row(kind, "coef", coef, width)?;
            check_finite(kind, "intercept", &[intercept])?;
            Ok(Scorer {
                coef_t: Array2::from_shape_vec((width, 1), coef.to_vec()).map_err(|_| {
                    EstimatorError::Width {
                        kind,
                        at: "coef".into(),
                        expected: width,
                        found: coef.len(),
                    }
                })?,
                intercept: Array1::from_elem(1, intercept),
                head,
                classes: Vec::new(),
            })
        };
        match self {
            Estimator::LinearRegression { coef, intercept } => {
                single(coef, *intercept, Head::Identity)
            }
            Estimator::Glm {
                power,
                link,
                coef,
                intercept,
            } => {
                if !power.is_finite() {
                    return Err(EstimatorError::GlmPower { power: *power });
                }
                let head = match link {
                    GlmLink::Identity => Head::Identity,
                    GlmLink::Log => Head::Exp,
                };
                single(coef, *intercept, head)
            }
            Estimator::Logistic {
                classes,
                coef,
                intercept,
                multi_class,
            } => {
                check_classes(kind, classes)?;
                let head = match multi_class {
                    MultiClass::Binary => {
                        if classes.len() != 2 {
                            return Err(EstimatorError::BinaryClasses {
                                found: classes.len(),
                            });
                        }
                        Head::Sigmoid
                    }
                    MultiClass::Multinomial => Head::Softmax,
                    MultiClass::Ovr => Head::Ovr,
                };
                let rows = if head == Head::Sigmoid {
                    1
                } else {
                    classes.len()
                };
                matrix(kind, classes, coef, intercept, rows, width, head)
            }
            Estimator::LinearClassifier {
                classes,
                coef,
                intercept,
            } => {
                check_classes(kind, classes)?;
                // sklearn's binary linear classifiers keep one row: the decision for classes[1].
                let rows = if classes.len() == 2 { 1 } else { classes.len() };
                matrix(kind, classes, coef, intercept, rows, width, Head::Decision)
            }
        }
    }
}

fn matrix(
    kind: &'static str,
    classes: &[Label],
    coef: &[Vec<f64>],
    intercept: &[f64],
    rows: usize,
    width: usize,
    head: Head,
) -> Result<Scorer, EstimatorError> {
    if coef.len() != rows {
        return Err(EstimatorError::CoefRows {
            kind,
            classes: classes.len(),
            expected: rows,
            found: coef.len(),
        });
    }
    if intercept.len() != rows {
        return Err(EstimatorError::InterceptLength {
            kind,
            expected: rows,
            found: intercept.len(),
        });
    }
    let mut coef_t = Array2::zeros((width, rows));
    for (k, row) in coef.iter().enumerate() {
        check_row(kind, &format!("coef[{k}]"), row, width)?;
        coef_t
            .column_mut(k)
            .assign(&ArrayView1::from(row.as_slice()));
    }
    check_finite(kind, "intercept", intercept)?;
    Ok(Scorer {
        coef_t,
        intercept: Array1::from(intercept.to_vec()),
        head,
        classes: classes.to_vec(),
    })
}

/// `scipy.special.expit`.
#[inline]
fn expit(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// numpy's pairwise summation (`pairwise_sum` in numpy's loops_utils), the order `np.sum` uses
/// along a contiguous axis: sequential below 8 items, 8 interleaved accumulators up to 128,
/// halving above.
fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        // numpy starts from -0.0 so that a sum of -0.0 values stays -0.0.
        a.iter().fold(-0.0, |acc, x| acc + x)
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[whole..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// numpy's argmax: the first maximum, except that the first NaN wins.
fn argmax(row: ArrayView1<'_, f64>) -> usize {
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    for (k, &v) in row.iter().enumerate() {
        if v.is_nan() {
            return k;
        }
        if k == 0 || v > best_v {
            best = k;
            best_v = v;
        }
    }
    best
}

impl Scorer {
    /// Number of feature columns this scorer expects.
    pub fn width(&self) -> usize {
        self.coef_t.nrows()
    }

    /// The classes, in `label_index` order (empty for regressors).
    pub fn classes(&self) -> &[Label] {
        &self.classes
    }

    /// Scores a whole batch with one matrix product.
    pub fn evaluate(&self, x: &Features) -> Result<Output, EvalError> {
        if x.ncols() != self.width() {
            return Err(EvalError {
                expected: self.width(),
                found: x.ncols(),
            });
        }
        let mut z = match x {
            Features::Dense(a) => a.dot(&self.coef_t),
            Features::Sparse(c) => {
                let outputs = self.coef_t.ncols();
                let mut z = Array2::zeros((c.nrows(), outputs));
                for (i, mut out) in z.axis_iter_mut(Axis(0)).enumerate() {
                    let (idx, val) = c.row(i);
                    for (&j, &v) in idx.iter().zip(val) {
                        // Indices are < width by Csr's invariants and the width check above.
                        let w = self.coef_t.row(j as usize);
                        for (o, &wk) in out.iter_mut().zip(w.iter()) {
                            *o += v * wk;
                        }
                    }
                }
                z
            }
        };
        z += &self.intercept;
        Ok(match self.head {
            Head::Identity => Output::Values(z.column(0).to_owned()),
            Head::Exp => Output::Values(z.column(0).mapv(f64::exp)),
            Head::Sigmoid => {
                let n = z.nrows();
                let mut p = Array2::zeros((n, 2));
                let mut label_index = Vec::with_capacity(n);
                for (i, &zi) in z.column(0).iter().enumerate() {
                    let p1 = expit(zi);
                    p[[i, 0]] = 1.0 - p1;
                    p[[i, 1]] = p1;
                    label_index.push(usize::from(zi > 0.0));
                }
                Output::Classes {
                    label_index,
                    probabilities: Some(p),
                    decision: z,
                }
            }
            Head::Softmax | Head::Ovr => {
                let mut p = z.clone();
                let mut buf = Vec::with_capacity(p.ncols());
                for mut row in p.axis_iter_mut(Axis(0)) {
                    if self.head == Head::Softmax {
                        // np.max propagates NaN; f64::max would skip it.
                        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| {
                            if m.is_nan() || v.is_nan() {
                                f64::NAN
                            } else {
                                m.max(v)
                            }
                        });
                        row.mapv_inplace(|v| (v - max).exp());
                    } else {
                        row.mapv_inplace(expit);
                    }
                    buf.clear();
                    buf.extend(row.iter().copied());
                    let mut sum = numpy_sum(&buf);
                    if self.head == Head::Ovr && sum == 0.0 {
                        // sklearn's guard: all classes at zero become uniform.
                        row.fill(1.0);
                        sum = row.len() as f64;
                    }
                    row.mapv_inplace(|v| v / sum);
                }
                Output::Classes {
                    label_index: z.axis_iter(Axis(0)).map(argmax).collect(),
                    probabilities: Some(p),
                    decision: z,
                }
            }
            Head::Decision => {
                let label_index = if z.ncols() == 1 {
                    z.column(0).iter().map(|&v| usize::from(v > 0.0)).collect()
                } else {
                    z.axis_iter(Axis(0)).map(argmax).collect()
                };
                Output::Classes {
                    label_index,
                    probabilities: None,
                    decision: z,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ndarray::{Array2, array};
    use serde_json::json;

    use super::*;
    use crate::model::transform::{Csr, Program, fixtures};

    const REL: f64 = 1e-9;

    /// Relative error against sklearn, with `scale` as the floor of the denominator.
    fn rel_err(got: f64, want: f64, scale: f64) -> f64 {
        if got == want {
            return 0.0;
        }
        (got - want).abs() / want.abs().max(scale).max(f64::MIN_POSITIVE)
    }

    fn estimator(v: serde_json::Value) -> Estimator {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn fixtures_match_sklearn() {
        let mut worst: Vec<(f64, String)> = Vec::new();
        let mut sparse = Vec::new();
        for (name, text) in fixtures::ALL {
            let f = fixtures::load(text);
            let a = &f.artifact;
            let program = Program::new(&a.inputs, &a.transforms, &a.feature_names).unwrap();
            if program.is_sparse() {
                sparse.push(*name);
            }
            let scorer = a
                .estimator
                .compile(program.width())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut batch = program.batch(f.rows.len());
            for row in &f.rows {
                program
                    .encode(&fixtures::values(&program, row), &mut batch)
                    .unwrap();
            }
            let out = scorer.evaluate(&batch.finish()).unwrap();
            assert_eq!(out.nrows(), f.rows.len(), "{name}");
            let mut track = |what: &str, got: f64, want: f64, scale: f64| {
                let e = rel_err(got, want, scale);
                worst.push((e, format!("{name} {what}: {got:e} vs {want:e}")));
            };
            match &out {
                Output::Values(v) => {
                    for (i, want) in f.predict.iter().enumerate() {
                        assert!(out.row_is_finite(i));
                        track("predict", v[i], want.as_f64().unwrap(), 0.0);
                    }
                    assert!(f.decision_function.is_none() && f.predict_proba.is_none());
                }
                Output::Classes {
                    label_index,
                    probabilities,
                    decision,
                } => {
                    for (i, want) in f.predict.iter().enumerate() {
                        assert!(out.row_is_finite(i));
                        let got = serde_json::to_value(&scorer.classes()[label_index[i]]).unwrap();
                        assert_eq!(&got, want, "{name} row {i} label");
                    }
                    let d = f.decision_function.as_ref().unwrap();
                    assert_eq!(decision.dim(), (d.len(), d[0].len()), "{name}");
                    for (i, r) in d.iter().enumerate() {
                        for (k, &w) in r.iter().enumerate() {
                            track("decision", decision[[i, k]], w, 0.0);
                        }
                    }
                    match (probabilities, &f.predict_proba) {
                        (Some(p), Some(want)) => {
                            for (i, r) in want.iter().enumerate() {
                                for (k, &w) in r.iter().enumerate() {
                                    track("proba", p[[i, k]], w, 0.0);
                                }
                            }
                        }
                        (None, None) => {}
                        _ => panic!("{name}: probabilities presence differs from sklearn"),
                    }
                }
            }
        }
        worst.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Sparse rows accumulate exactly like scipy's csr_matvecs, and expit/exp are the same libm
        // calls, so a sparse model matches sklearn bit for bit, not just within REL.
        assert!(!sparse.is_empty());
        for (e, what) in &worst {
            if sparse.iter().any(|n| what.starts_with(&format!("{n} "))) {
                assert_eq!(*e, 0.0, "{what}");
            }
        }
        for (e, what) in worst.iter().take(8) {
            eprintln!("{e:e} {what}");
        }
        assert!(worst[0].0 <= REL, "{}", worst[0].1);
    }

    fn expect_err(
        e: &Estimator,
        width: usize,
        code: &'static str,
        mentions: &[&str],
        seen: &mut BTreeSet<&'static str>,
    ) {
        let err = e.validate(width).expect_err("expected an estimator error");
        assert_eq!(err.code(), code, "{err}");
        let msg = err.to_string();
        for m in mentions {
            assert!(msg.contains(m), "`{msg}` should mention `{m}`");
        }
        seen.insert(code);
    }

    #[test]
    fn validation_errors() {
        let mut seen = BTreeSet::new();
        let s = &mut seen;
        let lr = |coef: serde_json::Value| {
            estimator(json!({"kind": "linear_regression", "coef": coef, "intercept": 0.0}))
        };
        expect_err(
            &lr(json!([1.0, 2.0])),
            3,
            "estimator_width",
            &["linear_regression", "coef has 2", "have 3"],
            s,
        );
        let mut nan = lr(json!([1.0]));
        if let Estimator::LinearRegression { intercept, .. } = &mut nan {
            *intercept = f64::NAN;
        }
        expect_err(&nan, 1, "estimator_non_finite", &["intercept[0]"], s);
        let logistic = |classes: serde_json::Value,
                        coef: serde_json::Value,
                        intercept: serde_json::Value,
                        multi: &str| {
            estimator(
                json!({"kind": "logistic", "classes": classes, "coef": coef, "intercept": intercept, "multi_class": multi}),
            )
        };
        let mut inf = logistic(
            json!(["a", "b"]),
            json!([[1.0, 2.0]]),
            json!([0.0]),
            "binary",
        );
        if let Estimator::Logistic { coef, .. } = &mut inf {
            coef[0][1] = f64::INFINITY;
        }
        expect_err(
            &inf,
            2,
            "estimator_non_finite",
            &["logistic", "coef[0][1]"],
            s,
        );
        expect_err(
            &logistic(
                json!(["a", "b"]),
                json!([[1.0], [2.0]]),
                json!([0.0, 0.0]),
                "binary",
            ),
            1,
            "coef_rows",
            &["2 classes need 1 coef rows, found 2"],
            s,
        );
        expect_err(
            &logistic(
                json!(["a", "b", "c"]),
                json!([[1.0], [2.0]]),
                json!([0.0, 0.0]),
                "multinomial",
            ),
            1,
            "coef_rows",
            &["3 classes need 3"],
            s,
        );
        expect_err(
            &logistic(
                json!(["a", "b", "c"]),
                json!([[1.0], [2.0], [3.0]]),
                json!([0.0]),
                "ovr",
            ),
            1,
            "intercept_length",
            &["1 entries, expected 3"],
            s,
        );
        expect_err(
            &logistic(
                json!(["a", "b", "c"]),
                json!([[1.0]]),
                json!([0.0]),
                "binary",
            ),
            1,
            "binary_classes",
            &["found 3"],
            s,
        );
        expect_err(
            &logistic(json!(["a"]), json!([[1.0]]), json!([0.0]), "binary"),
            1,
            "too_few_classes",
            &["1 classes"],
            s,
        );
        expect_err(
            &logistic(json!(["a", 1]), json!([[1.0]]), json!([0.0]), "binary"),
            1,
            "class_mixed_types",
            &[],
            s,
        );
        expect_err(
            &logistic(
                json!([1, 2, 1]),
                json!([[1.0], [1.0], [1.0]]),
                json!([0.0, 0.0, 0.0]),
                "ovr",
            ),
            1,
            "duplicate_class",
            &["class 1"],
            s,
        );
        expect_err(
            &logistic(
                json!(["a", "b"]),
                json!([[1.0, 2.0]]),
                json!([0.0]),
                "binary",
            ),
            3,
            "estimator_width",
            &["coef[0] has 2"],
            s,
        );
        let lc = |classes: serde_json::Value, coef: serde_json::Value| {
            estimator(
                json!({"kind": "linear_classifier", "classes": classes, "coef": coef, "intercept": [0.0, 0.0]}),
            )
        };
        expect_err(
            &lc(json!([0, 1]), json!([[1.0], [1.0]])),
            1,
            "coef_rows",
            &["linear_classifier", "need 1"],
            s,
        );
        expect_err(
            &lc(json!([0, 1, 2]), json!([[1.0], [1.0]])),
            1,
            "coef_rows",
            &["need 3"],
            s,
        );
        let mut glm = estimator(
            json!({"kind": "glm", "power": 1.5, "link": "log", "coef": [1.0], "intercept": 0.0}),
        );
        assert!(glm.validate(1).is_ok());
        if let Estimator::Glm { power, .. } = &mut glm {
            *power = f64::NAN;
        }
        expect_err(&glm, 1, "glm_power", &["NaN"], s);
        // Identity link with a positive power is what sklearn allows (see `validate`).
        let identity = estimator(
            json!({"kind": "glm", "power": 2.0, "link": "identity", "coef": [1.0], "intercept": 0.0}),
        );
        assert!(identity.validate(1).is_ok());
        let all: BTreeSet<_> = EstimatorError::CODES.iter().copied().collect();
        assert_eq!(seen, all);
    }

    fn dense(rows: Array2<f64>) -> Features {
        Features::Dense(rows)
    }

    fn classes(out: &Output) -> (&[usize], Option<&Array2<f64>>, &Array2<f64>) {
        match out {
            Output::Classes {
                label_index,
                probabilities,
                decision,
            } => (label_index, probabilities.as_ref(), decision),
            Output::Values(_) => panic!("classes expected"),
        }
    }

    #[test]
    fn width_mismatch_is_an_error_not_a_panic() {
        let s =
            estimator(json!({"kind": "linear_regression", "coef": [1.0, 2.0], "intercept": 0.0}))
                .compile(2)
                .unwrap();
        let e = s.evaluate(&dense(Array2::zeros((3, 3)))).unwrap_err();
        assert_eq!(
            e,
            EvalError {
                expected: 2,
                found: 3
            }
        );
    }

    #[test]
    fn binary_labels_follow_the_decision_not_the_rounded_probability() {
        let s = estimator(json!({"kind": "logistic", "classes": ["neg", "pos"], "coef": [[1.0]], "intercept": [0.0], "multi_class": "binary"}))
            .compile(1)
            .unwrap();
        // expit(1e-20) rounds to exactly 0.5, yet sklearn's predict says "pos" because z > 0.
        let out = s
            .evaluate(&dense(array![[1e-20], [0.0], [-1e-20], [800.0], [-800.0]]))
            .unwrap();
        let (labels, p, d) = classes(&out);
        assert_eq!(labels, &[1, 0, 0, 1, 0]);
        let p = p.unwrap();
        assert_eq!(p.row(0).to_vec(), vec![0.5, 0.5]);
        assert_eq!(p.row(3).to_vec(), vec![0.0, 1.0]);
        assert_eq!(p.row(4).to_vec(), vec![1.0, 0.0]);
        assert_eq!(d.dim(), (5, 1));
        assert!((0..5).all(|i| out.row_is_finite(i)));
    }

    #[test]
    fn softmax_and_ovr_match_sklearn_edge_cases() {
        let multi = |kind: &str| {
            estimator(
                json!({"kind": "logistic", "classes": [10, 20, 30], "coef": [[1.0], [2.0], [3.0]],
                "intercept": [0.0, 0.0, 0.0], "multi_class": kind}),
            )
            .compile(1)
            .unwrap()
        };
        // Softmax subtracts the max, so huge decisions do not overflow.
        let out = multi("multinomial")
            .evaluate(&dense(array![[1000.0], [0.0]]))
            .unwrap();
        let (labels, p, _) = classes(&out);
        assert_eq!(labels, &[2, 0]);
        let p = p.unwrap();
        assert_eq!(p.row(0).to_vec(), vec![0.0, 0.0, 1.0]);
        assert_eq!(p.row(1).to_vec(), vec![1.0 / 3.0; 3]);
        // OvR: every expit underflows to 0 -> sklearn's guard makes the row uniform.
        let out = multi("ovr")
            .evaluate(&dense(array![[-1000.0], [1.0]]))
            .unwrap();
        let (labels, p, _) = classes(&out);
        assert_eq!(labels, &[0, 2]);
        let p = p.unwrap();
        assert_eq!(p.row(0).to_vec(), vec![1.0 / 3.0; 3]);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0]
            .iter()
            .map(|&z| 1.0 / (1.0 + (-z).exp()))
            .collect();
        let sum = (-0.0 + e[0] + e[1]) + e[2];
        for k in 0..3 {
            assert_eq!(p[[1, k]], e[k] / sum);
        }
    }

    #[test]
    fn non_finite_rows_are_reported_not_clamped() {
        let glm = estimator(
            json!({"kind": "glm", "power": 1.0, "link": "log", "coef": [1.0], "intercept": 0.0}),
        )
        .compile(1)
        .unwrap();
        let out = glm.evaluate(&dense(array![[1.0], [710.0]])).unwrap();
        assert!(out.row_is_finite(0));
        assert!(!out.row_is_finite(1));
        assert!(!out.row_is_finite(2), "out of range rows are not finite");
        let multi = estimator(
            json!({"kind": "logistic", "classes": ["a", "b", "c"], "coef": [[1.0], [1.0], [-1.0]],
            "intercept": [0.0, 0.0, 0.0], "multi_class": "multinomial"}),
        )
        .compile(1)
        .unwrap();
        let out = multi
            .evaluate(&dense(array![[f64::INFINITY], [f64::MAX]]))
            .unwrap();
        assert!(!out.row_is_finite(0));
        // Decision values ±MAX are finite; their softmax is too.
        assert!(out.row_is_finite(1));
        assert_eq!(classes(&out).0[1], 0);
    }

    #[test]
    fn argmax_is_first_max_and_nan_wins() {
        assert_eq!(argmax(array![1.0, 3.0, 3.0].view()), 1);
        assert_eq!(
            argmax(array![f64::NEG_INFINITY, f64::NEG_INFINITY].view()),
            0
        );
        assert_eq!(argmax(array![1.0, f64::NAN, 5.0, f64::NAN].view()), 1);
        let lc = estimator(json!({"kind": "linear_classifier", "classes": ["x", "y", "z"], "coef": [[1.0], [1.0], [0.5]], "intercept": [0.0, 0.0, 0.5]}))
            .compile(1)
            .unwrap();
        let out = lc.evaluate(&dense(array![[1.0], [2.0], [3.0]])).unwrap();
        let (labels, p, _) = classes(&out);
        assert_eq!(labels, &[0, 0, 0]);
        assert!(p.is_none());
    }

    #[test]
    fn numpy_sum_reproduces_numpy_bit_for_bit() {
        #[derive(serde::Deserialize)]
        struct Case {
            values: Vec<f64>,
            sum: f64,
        }
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../../tests/fixtures/model/numpy_sum.json"))
                .unwrap();
        assert!(cases.len() > 50);
        for c in cases {
            assert_eq!(
                numpy_sum(&c.values).to_bits(),
                c.sum.to_bits(),
                "len {}",
                c.values.len()
            );
        }
    }

    #[test]
    fn sparse_and_dense_agree_and_sparse_accumulates_in_column_order() {
        let x = array![
            [0.0, 1.5, 0.0, -2.0],
            [0.0, 0.0, 0.0, 0.0],
            [3.0, 0.0, 0.25, 1e-3]
        ];
        let csr = Csr::from_parts(
            4,
            vec![0, 2, 2, 5],
            vec![1, 3, 0, 2, 3],
            vec![1.5, -2.0, 3.0, 0.25, 1e-3],
        )
        .unwrap();
        assert_eq!(csr.to_dense(), x);
        for est in [
            json!({"kind": "linear_regression", "coef": [0.1, 0.2, 0.3, 0.4], "intercept": 1.0}),
            json!({"kind": "logistic", "classes": [0, 1, 2], "coef": [[0.1, 0.2, 0.3, 0.4], [1.0, -1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]],
                   "intercept": [0.1, 0.2, 0.3], "multi_class": "multinomial"}),
        ] {
            let s = estimator(est).compile(4).unwrap();
            let a = s.evaluate(&dense(x.clone())).unwrap();
            let b = s.evaluate(&Features::Sparse(csr.clone())).unwrap();
            let (za, zb) = match (&a, &b) {
                (Output::Values(a), Output::Values(b)) => (a.to_vec(), b.to_vec()),
                (Output::Classes { decision: a, .. }, Output::Classes { decision: b, .. }) => {
                    (a.iter().copied().collect(), b.iter().copied().collect())
                }
                _ => panic!("different output kinds"),
            };
            for (p, q) in za.iter().zip(&zb) {
                assert!(rel_err(*p, *q, 0.0) < 1e-15);
            }
        }
        // scipy: y = 0; y += a*x per stored entry; then + intercept.
        let s = estimator(
            json!({"kind": "linear_regression", "coef": [0.1, 0.2, 0.3, 0.4], "intercept": 1.0}),
        )
        .compile(4)
        .unwrap();
        let Output::Values(v) = s.evaluate(&Features::Sparse(csr)).unwrap() else {
            panic!()
        };
        assert_eq!(v[0], (0.0 + 1.5 * 0.2 + -2.0 * 0.4) + 1.0);
        assert_eq!(v[1], 1.0);
        assert_eq!(v[2], (0.0 + 3.0 * 0.1 + 0.25 * 0.3 + 1e-3 * 0.4) + 1.0);
    }
}
