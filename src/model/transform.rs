//! The feature program: turns one decoded record into its final feature row, with the same float
//! operations, in the same order, as scikit-learn's `transform`.
//!
//! `Program::new` validates the artifact's `inputs`/`transforms`/`feature_names` once (every problem
//! is a `TransformError` with a stable `code()`); `Program::encode` then runs per record and either
//! appends the row to a `BatchBuilder` or returns a `RecordError` (with a stable `code()`) and leaves
//! the batch untouched.
//!
//! Arithmetic, matching sklearn 1.9.1 (`sklearn/preprocessing/_data.py`):
//! - dense StandardScaler: `x - mean`, then `/ scale` (two roundings, as `X -= mean_; X /= scale_`);
//! - MinMaxScaler: `x * scale`, then `+ min`;
//! - dense MaxAbsScaler: `x / scale`;
//! - on sparse data (a text block's own scaler, and `then` scalers of a program with a text block)
//!   sklearn uses `inplace_column_scale(X, 1 / scale_)`, i.e. `x * (1 / scale)`, so we do too.
//!
//! Missing values follow sklearn's model: a missing number is NaN flowing through the steps, an
//! `impute` step replaces NaN with its fill, and a NaN that survives every step rejects the record.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use ndarray::Array2;

use crate::model::schema::{HandleUnknown, Input, InputKind, Label, Step, Transforms};
use crate::model::text::{TextEncoder, TextSpecError, Tfidf, Vectorizer};

/// One input's value in a record, in `Program::inputs()` order, as produced by the decoder.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// The field is absent from the record.
    Missing,
    /// The field is present and null.
    Null,
    Number(f64),
    Str(Cow<'a, str>),
    Bool(bool),
    /// Any other type (list, map, binary, ...); the string names it in error messages.
    Other(&'static str),
}

impl Value<'_> {
    /// The type name used in `RecordError` messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing => "missing",
            Value::Null => "null",
            Value::Number(_) => "number",
            Value::Str(_) => "string",
            Value::Bool(_) => "bool",
            Value::Other(t) => t,
        }
    }
}

/// What `encode` reports about an accepted record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Indices (into `Program::inputs()`) of the inputs whose value was imputed; ascending, unique.
    /// Empty (no allocation) for the common complete record.
    pub imputed: Vec<usize>,
}

/// Why one record was rejected. `code()` is the stable reason string.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("input `{input}` is missing")]
    Missing { input: String },
    #[error("input `{input}` is null")]
    Null { input: String },
    #[error("input `{input}` must be a number, found {found}")]
    NotNumber { input: String, found: &'static str },
    /// A number input that is NaN (without an impute step) or ±infinity; sklearn refuses both.
    #[error("input `{input}` is not a finite number")]
    NotFinite { input: String },
    #[error("text input `{input}` must be a string, found {found}")]
    NotString { input: String, found: &'static str },
    /// A category input given a bool or a non-scalar: no training category can match it.
    #[error("category input `{input}` must be a string or a number, found {found}")]
    CategoryType { input: String, found: &'static str },
    #[error("input `{input}` has unknown category {value}")]
    CategoryUnknown { input: String, value: String },
    /// The inputs were fine but a transform overflowed (e.g. a huge value times a scale).
    #[error("feature `{feature}` is not finite after the transforms")]
    TransformedNotFinite { feature: String },
    /// Caller bug: the decoder produced a different number of values than `inputs()`.
    #[error("record has {found} values, the program has {expected} inputs")]
    Arity { expected: usize, found: usize },
    /// Caller bug: the batch builder was made by a different program.
    #[error("batch builder does not match this program (width {expected}, sparse {sparse})")]
    BatchLayout { expected: usize, sparse: bool },
}

impl RecordError {
    /// Every code `code()` can return.
    pub const CODES: &'static [&'static str] = &[
        "feature_missing",
        "feature_null",
        "feature_not_number",
        "feature_not_finite",
        "text_not_string",
        "category_wrong_type",
        "category_unknown",
        "transformed_not_finite",
        "record_arity",
        "batch_layout",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Missing { .. } => "feature_missing",
            RecordError::Null { .. } => "feature_null",
            RecordError::NotNumber { .. } => "feature_not_number",
            RecordError::NotFinite { .. } => "feature_not_finite",
            RecordError::NotString { .. } => "text_not_string",
            RecordError::CategoryType { .. } => "category_wrong_type",
            RecordError::CategoryUnknown { .. } => "category_unknown",
            RecordError::TransformedNotFinite { .. } => "transformed_not_finite",
            RecordError::Arity { .. } => "record_arity",
            RecordError::BatchLayout { .. } => "batch_layout",
        }
    }
}

/// A problem in the artifact's `inputs`, `transforms` or `feature_names`. `code()` is stable.
/// `at` is a JSON path such as `transforms.blocks[1].steps[0] (standard_scaler)`.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("inputs: `{input}` is declared twice, at inputs[{first}] and inputs[{second}]")]
    DuplicateInput {
        input: String,
        first: usize,
        second: usize,
    },
    #[error("inputs: `{input}` is not used by any block")]
    InputUnused { input: String },
    #[error("{at}: unknown input `{input}`")]
    TransformUnknownInput { at: String, input: String },
    #[error("{at}: {why}")]
    TransformShape { at: String, why: String },
    #[error("{at}: mixes {first_kind} input `{first}` with {other_kind} input `{other}`")]
    BlockMixedKinds {
        at: String,
        first: String,
        first_kind: &'static str,
        other: String,
        other_kind: &'static str,
    },
    #[error("{at}: a {kind} step cannot apply to {input_kind} inputs")]
    StepNotAllowed {
        at: String,
        kind: &'static str,
        input_kind: &'static str,
    },
    #[error("{at}: `{field}` has {found} entries, expected {expected}")]
    StepLength {
        at: String,
        field: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{at}: `{field}[{index}]` is zero (a divisor)")]
    ScaleZero {
        at: String,
        field: &'static str,
        index: usize,
    },
    #[error("{at}: `{field}[{index}]` is not finite")]
    NonFinite {
        at: String,
        field: &'static str,
        index: usize,
    },
    #[error("{at}: fill[{index}] for input `{input}` {why}")]
    ImputeFill {
        at: String,
        input: String,
        index: usize,
        why: &'static str,
    },
    #[error("{at}: input `{input}` has no categories")]
    CategoryListEmpty { at: String, input: String },
    #[error("{at}: categories of input `{input}` mix strings and integers")]
    CategoryMixedTypes { at: String, input: String },
    #[error("{at}: input `{input}` lists category {category} twice")]
    DuplicateCategory {
        at: String,
        input: String,
        category: Label,
    },
    #[error("{at}: drop index {index} of input `{input}` is out of range for {len} categories")]
    DropOutOfRange {
        at: String,
        input: String,
        index: usize,
        len: usize,
    },
    #[error("{at}: {why}")]
    TextBlockShape { at: String, why: String },
    #[error("{at}: {source}")]
    TextSpec {
        at: String,
        #[source]
        source: TextSpecError,
    },
    #[error("{at}: `then` accepts only scalers, found {kind}")]
    ThenStep { at: String, kind: &'static str },
    #[error("{at}: features are sparse (a text block): {why}")]
    SparseUnsupported { at: String, why: &'static str },
    #[error("transforms produce zero features")]
    ZeroFeatures,
    #[error("transforms produce {width} features, more than a sparse column index can hold")]
    TooWide { width: usize },
    #[error("feature_names has {names} names, the transforms produce {width} features")]
    WidthMismatch { names: usize, width: usize },
    #[error("feature_names: `{name}` appears at {first} and {second}")]
    DuplicateFeature {
        name: String,
        first: usize,
        second: usize,
    },
}

impl TransformError {
    /// Every code `code()` can return.
    pub const CODES: &'static [&'static str] = &[
        "duplicate_input",
        "input_unused",
        "transform_unknown_input",
        "transform_shape",
        "block_mixed_kinds",
        "step_not_allowed",
        "step_length",
        "scale_zero",
        "non_finite",
        "impute_fill",
        "category_list_empty",
        "category_mixed_types",
        "duplicate_category",
        "drop_out_of_range",
        "text_block_shape",
        "text_spec",
        "then_step",
        "sparse_unsupported",
        "zero_features",
        "too_wide",
        "width_mismatch",
        "duplicate_feature",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            TransformError::DuplicateInput { .. } => "duplicate_input",
            TransformError::InputUnused { .. } => "input_unused",
            TransformError::TransformUnknownInput { .. } => "transform_unknown_input",
            TransformError::TransformShape { .. } => "transform_shape",
            TransformError::BlockMixedKinds { .. } => "block_mixed_kinds",
            TransformError::StepNotAllowed { .. } => "step_not_allowed",
            TransformError::StepLength { .. } => "step_length",
            TransformError::ScaleZero { .. } => "scale_zero",
            TransformError::NonFinite { .. } => "non_finite",
            TransformError::ImputeFill { .. } => "impute_fill",
            TransformError::CategoryListEmpty { .. } => "category_list_empty",
            TransformError::CategoryMixedTypes { .. } => "category_mixed_types",
            TransformError::DuplicateCategory { .. } => "duplicate_category",
            TransformError::DropOutOfRange { .. } => "drop_out_of_range",
            TransformError::TextBlockShape { .. } => "text_block_shape",
            TransformError::TextSpec { .. } => "text_spec",
            TransformError::ThenStep { .. } => "then_step",
            TransformError::SparseUnsupported { .. } => "sparse_unsupported",
            TransformError::ZeroFeatures => "zero_features",
            TransformError::TooWide { .. } => "too_wide",
            TransformError::WidthMismatch { .. } => "width_mismatch",
            TransformError::DuplicateFeature { .. } => "duplicate_feature",
        }
    }
}

/// A finished batch: one row per accepted record, in `encode` order.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    Dense(Array2<f64>),
    Sparse(Csr),
}

impl Features {
    pub fn nrows(&self) -> usize {
        match self {
            Features::Dense(a) => a.nrows(),
            Features::Sparse(c) => c.nrows(),
        }
    }

    pub fn ncols(&self) -> usize {
        match self {
            Features::Dense(a) => a.ncols(),
            Features::Sparse(c) => c.ncols(),
        }
    }

    /// A dense copy (tests, debugging).
    pub fn to_dense(&self) -> Array2<f64> {
        match self {
            Features::Dense(a) => a.clone(),
            Features::Sparse(c) => c.to_dense(),
        }
    }
}

/// Compressed sparse rows. Invariants (kept by construction): `indptr.len() == nrows + 1`,
/// `indptr` ascends from 0 to `indices.len() == data.len()`, every index `< ncols`, ascending
/// within a row. Only nonzero values are stored, as scipy's dense-to-sparse conversion does.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    ncols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f64>,
}

impl Csr {
    /// Builds a CSR matrix from raw parts, or `None` if they break the invariants above.
    pub fn from_parts(
        ncols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f64>,
    ) -> Option<Csr> {
        let ok = indptr.first() == Some(&0)
            && indptr.last() == Some(&indices.len())
            && indices.len() == data.len()
            && indptr.windows(2).all(|w| w[0] <= w[1])
            && indptr.windows(2).all(|w| {
                let row = &indices[w[0]..w[1]];
                row.iter().all(|&j| (j as usize) < ncols) && row.windows(2).all(|p| p[0] < p[1])
            });
        ok.then_some(Csr {
            ncols,
            indptr,
            indices,
            data,
        })
    }

    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub fn ncols(&self) -> usize {
        self.ncols
    }

    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// Column indices and values of row `i` (empty slices when out of range).
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        match (self.indptr.get(i), self.indptr.get(i + 1)) {
            (Some(&a), Some(&b)) => (&self.indices[a..b], &self.data[a..b]),
            _ => (&[], &[]),
        }
    }

    pub fn to_dense(&self) -> Array2<f64> {
        let mut out = Array2::zeros((self.nrows(), self.ncols));
        for i in 0..self.nrows() {
            let (idx, val) = self.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                out[[i, j as usize]] = v;
            }
        }
        out
    }
}

/// Accumulates encoded rows; make one with `Program::batch`.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    width: usize,
    rows: usize,
    storage: Storage,
    /// Reused buffer for a text block's terms, so encoding a document does not allocate.
    scratch: Vec<(u32, f64)>,
}

#[derive(Debug, Clone)]
enum Storage {
    Dense(Vec<f64>),
    Sparse {
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f64>,
    },
}

impl BatchBuilder {
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn is_sparse(&self) -> bool {
        matches!(self.storage, Storage::Sparse { .. })
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(self) -> Features {
        match self.storage {
            Storage::Dense(data) => {
                // `encode` appends exactly `width` values per row, so the shape always fits; the
                // fallback only exists to stay panic-free.
                let empty = Array2::zeros((0, self.width));
                Features::Dense(
                    Array2::from_shape_vec((self.rows, self.width), data).unwrap_or(empty),
                )
            }
            Storage::Sparse {
                indptr,
                indices,
                data,
            } => Features::Sparse(Csr {
                ncols: self.width,
                indptr,
                indices,
                data,
            }),
        }
    }
}

/// The validated, ready-to-run transforms of one artifact.
#[derive(Debug)]
pub struct Program {
    inputs: Vec<Input>,
    blocks: Vec<Compiled>,
    then: Vec<ColumnOp>,
    width: usize,
    sparse: bool,
    feature_names: Vec<String>,
}

#[derive(Debug)]
struct Compiled {
    /// First output column of the block.
    offset: usize,
    kind: BlockKind,
}

enum BlockKind {
    Number {
        inputs: Vec<usize>,
        ops: Vec<ColumnOp>,
    },
    Category {
        inputs: Vec<usize>,
        fill: Option<Vec<Label>>,
        columns: Vec<OneHotColumn>,
    },
    Text {
        input: usize,
        encoder: TextEncoder,
        width: usize,
        /// Per-column multipliers `1 / scale` of the block's sparse scaler.
        multiply: Option<Vec<f64>>,
    },
}

// Manual so that `TextEncoder` needs no Debug of its own.
impl fmt::Debug for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockKind::Number { inputs, ops } => f
                .debug_struct("Number")
                .field("inputs", inputs)
                .field("ops", ops)
                .finish(),
            BlockKind::Category {
                inputs,
                fill,
                columns,
            } => f
                .debug_struct("Category")
                .field("inputs", inputs)
                .field("fill", fill)
                .field("columns", columns)
                .finish(),
            BlockKind::Text {
                input,
                width,
                multiply,
                ..
            } => f
                .debug_struct("Text")
                .field("input", input)
                .field("width", width)
                .field("multiply", &multiply.as_ref().map(Vec::len))
                .finish(),
        }
    }
}

/// One elementwise operation on a column vector (a block's columns or the whole row).
#[derive(Debug, Clone)]
enum ColumnOp {
    /// NaN -> fill (SimpleImputer).
    Impute(Vec<f64>),
    /// `x - mean` (StandardScaler with_mean).
    Subtract(Vec<f64>),
    /// `x / scale` (dense StandardScaler with_std, dense MaxAbsScaler).
    Divide(Vec<f64>),
    /// `x * scale + min` (MinMaxScaler).
    MulAdd { scale: Vec<f64>, min: Vec<f64> },
    /// `x * (1 / scale)` (sparse StandardScaler / MaxAbsScaler); holds the reciprocals.
    Multiply(Vec<f64>),
}

impl ColumnOp {
    /// Applies the op to column `j`; returns true when it imputed.
    #[inline]
    fn apply(&self, j: usize, x: &mut f64) -> bool {
        match self {
            ColumnOp::Impute(fill) => {
                if x.is_nan() {
                    *x = fill[j];
                    return true;
                }
            }
            ColumnOp::Subtract(m) => *x -= m[j],
            ColumnOp::Divide(s) => *x /= s[j],
            ColumnOp::MulAdd { scale, min } => {
                *x *= scale[j];
                *x += min[j];
            }
            ColumnOp::Multiply(r) => *x *= r[j],
        }
        false
    }
}

#[derive(Debug)]
struct OneHotColumn {
    index: CategoryIndex,
    /// sklearn `drop_idx_` for this input.
    drop: Option<usize>,
    /// First output column of this input, relative to the block.
    offset: usize,
    unknown_is_error: bool,
}

#[derive(Debug)]
enum CategoryIndex {
    Str(HashMap<String, usize>),
    /// i128 so that i64 and u64 labels share one key space.
    Int(HashMap<i128, usize>),
}

enum Found {
    Index(usize),
    Unknown,
}

impl OneHotColumn {
    fn find_label(&self, label: &Label) -> Found {
        match (&self.index, label) {
            (CategoryIndex::Str(m), Label::Str(s)) => m.get(s.as_str()).copied(),
            (CategoryIndex::Int(m), l) => l.as_i128().and_then(|k| m.get(&k).copied()),
            _ => None,
        }
        .map_or(Found::Unknown, Found::Index)
    }

    /// sklearn compares values by equality: a string never equals an integer category and a
    /// non-integral number never equals one either, so both are unknown rather than errors.
    fn find_value(&self, value: &Value<'_>) -> Found {
        match (&self.index, value) {
            (CategoryIndex::Str(m), Value::Str(s)) => m.get(s.as_ref()).copied(),
            (CategoryIndex::Int(m), Value::Number(x)) if x.is_finite() && x.fract() == 0.0 => {
                // Exact: an integral f64 converts to i128 without rounding (saturating beyond
                // ±2^127, far outside any i64/u64 category).
                m.get(&(*x as i128)).copied()
            }
            _ => None,
        }
        .map_or(Found::Unknown, Found::Index)
    }

    /// Output column (relative to the block) of category `k`, or None for the dropped one.
    fn column(&self, k: usize) -> Option<usize> {
        match self.drop {
            Some(d) if k == d => None,
            Some(d) if k > d => Some(self.offset + k - 1),
            _ => Some(self.offset + k),
        }
    }
}

/// Where `encode` writes one record's values.
enum Sink<'b> {
    Dense(&'b mut [f64]),
    Sparse {
        indices: &'b mut Vec<u32>,
        data: &'b mut Vec<f64>,
        scratch: &'b mut Vec<(u32, f64)>,
    },
}

impl Sink<'_> {
    /// The batch's reusable term buffer, emptied (text blocks only exist in sparse programs).
    fn take_scratch(&mut self) -> Vec<(u32, f64)> {
        match self {
            Sink::Sparse { scratch, .. } => {
                let mut v = std::mem::take(*scratch);
                v.clear();
                v
            }
            Sink::Dense(_) => Vec::new(),
        }
    }

    fn give_back_scratch(&mut self, v: Vec<(u32, f64)>) {
        if let Sink::Sparse { scratch, .. } = self {
            **scratch = v;
        }
    }

    #[inline]
    fn put(&mut self, column: usize, value: f64) {
        match self {
            Sink::Dense(row) => {
                if let Some(slot) = row.get_mut(column) {
                    *slot = value;
                }
            }
            Sink::Sparse { indices, data, .. } => {
                // scipy's dense -> sparse conversion keeps nonzeros only; so do we.
                if value != 0.0 {
                    indices.push(column as u32);
                    data.push(value);
                }
            }
        }
    }
}

fn block_at(b: usize, names: &[String]) -> String {
    format!("transforms.blocks[{b}] (inputs: {})", names.join(", "))
}

fn step_at(b: usize, s: usize, step: &Step) -> String {
    format!("transforms.blocks[{b}].steps[{s}] ({})", step.kind())
}

fn then_at(s: usize, step: &Step) -> String {
    format!("transforms.then[{s}] ({})", step.kind())
}

/// Checks a parameter vector's length and finiteness.
fn check_vector(
    at: &str,
    field: &'static str,
    v: &[f64],
    expected: usize,
) -> Result<(), TransformError> {
    if v.len() != expected {
        return Err(TransformError::StepLength {
            at: at.to_string(),
            field,
            expected,
            found: v.len(),
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(TransformError::NonFinite {
            at: at.to_string(),
            field,
            index,
        });
    }
    Ok(())
}

/// Like `check_vector`, and refuses zeros (the vector is a divisor).
fn check_divisor(
    at: &str,
    field: &'static str,
    v: &[f64],
    expected: usize,
) -> Result<(), TransformError> {
    check_vector(at, field, v, expected)?;
    if let Some(index) = v.iter().position(|&x| x == 0.0) {
        return Err(TransformError::ScaleZero {
            at: at.to_string(),
            field,
            index,
        });
    }
    Ok(())
}

/// Compiles a scaler step over `n` columns. `sparse` selects sklearn's sparse arithmetic
/// (reciprocal multiply, no centering, no MinMaxScaler).
fn compile_scaler(
    at: &str,
    step: &Step,
    n: usize,
    sparse: bool,
    out: &mut Vec<ColumnOp>,
) -> Result<(), TransformError> {
    match step {
        Step::StandardScaler(s) => {
            if let Some(mean) = &s.mean {
                check_vector(at, "mean", mean, n)?;
                if sparse {
                    return Err(TransformError::SparseUnsupported {
                        at: at.to_string(),
                        why: "a standard_scaler must have mean null (sparse data cannot be centered)",
                    });
                }
                out.push(ColumnOp::Subtract(mean.clone()));
            }
            if let Some(scale) = &s.scale {
                check_divisor(at, "scale", scale, n)?;
                out.push(if sparse {
                    ColumnOp::Multiply(scale.iter().map(|s| 1.0 / s).collect())
                } else {
                    ColumnOp::Divide(scale.clone())
                });
            }
        }
        Step::MinMaxScaler(s) => {
            if sparse {
                return Err(TransformError::SparseUnsupported {
                    at: at.to_string(),
                    why: "min_max_scaler does not accept sparse data (sklearn refuses it too)",
                });
            }
            check_vector(at, "scale", &s.scale, n)?;
            check_vector(at, "min", &s.min, n)?;
            out.push(ColumnOp::MulAdd {
                scale: s.scale.clone(),
                min: s.min.clone(),
            });
        }
        Step::MaxAbsScaler(s) => {
            check_divisor(at, "scale", &s.scale, n)?;
            out.push(if sparse {
                ColumnOp::Multiply(s.scale.iter().map(|s| 1.0 / s).collect())
            } else {
                ColumnOp::Divide(s.scale.clone())
            });
        }
        // Callers only pass scalers; anything else is a shape error they report themselves.
        _ => {}
    }
    Ok(())
}

fn is_scaler(step: &Step) -> bool {
    matches!(
        step,
        Step::StandardScaler(_) | Step::MinMaxScaler(_) | Step::MaxAbsScaler(_)
    )
}

impl Program {
    /// Validates and compiles the artifact's transforms. `feature_names` must name every output
    /// column (its length is the estimator's width).
    pub fn new(
        inputs: &[Input],
        transforms: &Transforms,
        feature_names: &[String],
    ) -> Result<Program, TransformError> {
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, input) in inputs.iter().enumerate() {
            if let Some(first) = by_name.insert(input.name.as_str(), i) {
                return Err(TransformError::DuplicateInput {
                    input: input.name.clone(),
                    first,
                    second: i,
                });
            }
        }
        let mut used = vec![false; inputs.len()];
        let mut blocks = Vec::with_capacity(transforms.blocks.len());
        let mut width = 0usize;
        let mut sparse = false;
        for (b, block) in transforms.blocks.iter().enumerate() {
            let at = block_at(b, &block.inputs);
            if block.inputs.is_empty() {
                return Err(TransformError::TransformShape {
                    at,
                    why: "a block needs at least one input".into(),
                });
            }
            let mut idx = Vec::with_capacity(block.inputs.len());
            for name in &block.inputs {
                let i = *by_name.get(name.as_str()).ok_or_else(|| {
                    TransformError::TransformUnknownInput {
                        at: at.clone(),
                        input: name.clone(),
                    }
                })?;
                used[i] = true;
                idx.push(i);
            }
            let kind = inputs[idx[0]].kind;
            if let Some(&o) = idx.iter().find(|&&i| inputs[i].kind != kind) {
                return Err(TransformError::BlockMixedKinds {
                    at,
                    first: inputs[idx[0]].name.clone(),
                    first_kind: kind.as_str(),
                    other: inputs[o].name.clone(),
                    other_kind: inputs[o].kind.as_str(),
                });
            }
            let (compiled, block_width) = match kind {
                InputKind::Number => compile_number(b, &block.steps, idx, inputs)?,
                InputKind::Category => compile_category(b, &at, &block.steps, idx, inputs)?,
                InputKind::Text => {
                    sparse = true;
                    compile_text(b, &at, &block.steps, idx)?
                }
            };
            blocks.push(Compiled {
                offset: width,
                kind: compiled,
            });
            width += block_width;
        }
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(TransformError::InputUnused {
                input: inputs[i].name.clone(),
            });
        }
        if width == 0 {
            return Err(TransformError::ZeroFeatures);
        }
        if u32::try_from(width).is_err() {
            return Err(TransformError::TooWide { width });
        }
        let mut then = Vec::new();
        for (s, step) in transforms.then.iter().enumerate() {
            let at = then_at(s, step);
            if !is_scaler(step) {
                return Err(TransformError::ThenStep {
                    at,
                    kind: step.kind(),
                });
            }
            compile_scaler(&at, step, width, sparse, &mut then)?;
        }
        if feature_names.len() != width {
            return Err(TransformError::WidthMismatch {
                names: feature_names.len(),
                width,
            });
        }
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(width);
        for (j, name) in feature_names.iter().enumerate() {
            if let Some(first) = seen.insert(name.as_str(), j) {
                return Err(TransformError::DuplicateFeature {
                    name: name.clone(),
                    first,
                    second: j,
                });
            }
        }
        Ok(Program {
            inputs: inputs.to_vec(),
            blocks,
            then,
            width,
            sparse,
            feature_names: feature_names.to_vec(),
        })
    }

    /// Number of final feature columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The inputs, in the order `encode` expects its values.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// True when any block is text: rows are then CSR.
    pub fn is_sparse(&self) -> bool {
        self.sparse
    }

    /// An empty batch for this program, with room for `rows` records.
    pub fn batch(&self, rows: usize) -> BatchBuilder {
        let storage = if self.sparse {
            let mut indptr = Vec::with_capacity(rows + 1);
            indptr.push(0);
            Storage::Sparse {
                indptr,
                indices: Vec::new(),
                data: Vec::new(),
            }
        } else {
            Storage::Dense(Vec::with_capacity(rows.saturating_mul(self.width)))
        };
        BatchBuilder {
            width: self.width,
            rows: 0,
            storage,
            scratch: Vec::new(),
        }
    }

    /// Encodes one record (one value per input, in `inputs()` order) and appends its feature row
    /// to `batch`. On error the batch is unchanged.
    pub fn encode(
        &self,
        values: &[Value<'_>],
        batch: &mut BatchBuilder,
    ) -> Result<Encoded, RecordError> {
        if values.len() != self.inputs.len() {
            return Err(RecordError::Arity {
                expected: self.inputs.len(),
                found: values.len(),
            });
        }
        if batch.width != self.width || batch.is_sparse() != self.sparse {
            return Err(RecordError::BatchLayout {
                expected: self.width,
                sparse: self.sparse,
            });
        }
        let mut encoded = Encoded::default();
        let scratch = &mut batch.scratch;
        let result = match &mut batch.storage {
            Storage::Dense(data) => {
                let start = data.len();
                data.resize(start + self.width, 0.0);
                let r = self.encode_dense(values, &mut data[start..], &mut encoded);
                if r.is_err() {
                    data.truncate(start);
                }
                r
            }
            Storage::Sparse {
                indptr,
                indices,
                data,
            } => {
                let start = indices.len();
                let r = self.encode_sparse(values, indices, data, scratch, start, &mut encoded);
                if r.is_err() {
                    indices.truncate(start);
                    data.truncate(start);
                } else {
                    indptr.push(indices.len());
                }
                r
            }
        };
        result?;
        batch.rows += 1;
        if encoded.imputed.len() > 1 {
            // An input used by two imputing blocks is reported once.
            encoded.imputed.sort_unstable();
            encoded.imputed.dedup();
        }
        Ok(encoded)
    }

    fn encode_dense(
        &self,
        values: &[Value<'_>],
        row: &mut [f64],
        encoded: &mut Encoded,
    ) -> Result<(), RecordError> {
        self.encode_blocks(values, &mut Sink::Dense(row), encoded)?;
        for op in &self.then {
            for (j, x) in row.iter_mut().enumerate() {
                op.apply(j, x);
            }
        }
        if let Some(j) = row.iter().position(|x| !x.is_finite()) {
            return Err(self.not_finite(j));
        }
        Ok(())
    }

    fn encode_sparse(
        &self,
        values: &[Value<'_>],
        indices: &mut Vec<u32>,
        data: &mut Vec<f64>,
        scratch: &mut Vec<(u32, f64)>,
        start: usize,
        encoded: &mut Encoded,
    ) -> Result<(), RecordError> {
        let mut sink = Sink::Sparse {
            indices,
            data,
            scratch,
        };
        self.encode_blocks(values, &mut sink, encoded)?;
        let Sink::Sparse { indices, data, .. } = sink else {
            return Ok(());
        };
        let (idx, val) = (&indices[start..], &mut data[start..]);
        for op in &self.then {
            for (&j, x) in idx.iter().zip(val.iter_mut()) {
                op.apply(j as usize, x);
            }
        }
        if let Some(p) = val.iter().position(|x| !x.is_finite()) {
            return Err(self.not_finite(idx[p] as usize));
        }
        Ok(())
    }

    fn not_finite(&self, column: usize) -> RecordError {
        RecordError::TransformedNotFinite {
            feature: self
                .feature_names
                .get(column)
                .cloned()
                .unwrap_or_else(|| column.to_string()),
        }
    }

    fn input_name(&self, i: usize) -> String {
        self.inputs[i].name.clone()
    }

    fn encode_blocks(
        &self,
        values: &[Value<'_>],
        sink: &mut Sink<'_>,
        encoded: &mut Encoded,
    ) -> Result<(), RecordError> {
        for block in &self.blocks {
            match &block.kind {
                BlockKind::Number { inputs, ops } => {
                    for (p, &i) in inputs.iter().enumerate() {
                        let x = self.number(i, &values[i], p, block.offset + p, ops, encoded)?;
                        sink.put(block.offset + p, x);
                    }
                }
                BlockKind::Category {
                    inputs,
                    fill,
                    columns,
                } => {
                    for (p, (&i, column)) in inputs.iter().zip(columns).enumerate() {
                        let value = &values[i];
                        let absent = match value {
                            Value::Missing => Some(RecordError::Missing {
                                input: self.input_name(i),
                            }),
                            Value::Null => Some(RecordError::Null {
                                input: self.input_name(i),
                            }),
                            // NaN is sklearn's missing marker for categories too.
                            Value::Number(x) if x.is_nan() => Some(RecordError::NotFinite {
                                input: self.input_name(i),
                            }),
                            Value::Bool(_) | Value::Other(_) => {
                                return Err(RecordError::CategoryType {
                                    input: self.input_name(i),
                                    found: value.type_name(),
                                });
                            }
                            _ => None,
                        };
                        let found = match (absent, fill) {
                            (None, _) => column.find_value(value),
                            (Some(_), Some(fill)) => {
                                encoded.imputed.push(i);
                                column.find_label(&fill[p])
                            }
                            // scikit-learn's OneHotEncoder treats a missing value it was
                            // not trained on as an unknown category.
                            (Some(_), None) if column.unknown_is_error => {
                                return Err(RecordError::CategoryUnknown {
                                    input: self.input_name(i),
                                    value: format!("({})", value.type_name()),
                                });
                            }
                            (Some(_), None) => Found::Unknown,
                        };
                        match found {
                            Found::Index(k) => {
                                if let Some(c) = column.column(k) {
                                    sink.put(block.offset + c, 1.0);
                                }
                            }
                            Found::Unknown if column.unknown_is_error => {
                                return Err(RecordError::CategoryUnknown {
                                    input: self.input_name(i),
                                    value: describe(value, fill.as_ref().map(|f| &f[p])),
                                });
                            }
                            // handle_unknown="ignore": all zeros for this input.
                            Found::Unknown => {}
                        }
                    }
                }
                BlockKind::Text {
                    input,
                    encoder,
                    width,
                    multiply,
                } => {
                    let doc = match &values[*input] {
                        Value::Str(s) => s.as_ref(),
                        Value::Missing => {
                            return Err(RecordError::Missing {
                                input: self.input_name(*input),
                            });
                        }
                        Value::Null => {
                            return Err(RecordError::Null {
                                input: self.input_name(*input),
                            });
                        }
                        other => {
                            return Err(RecordError::NotString {
                                input: self.input_name(*input),
                                found: other.type_name(),
                            });
                        }
                    };
                    let mut terms = sink.take_scratch();
                    encoder.encode(doc, &mut terms);
                    debug_assert!(terms.windows(2).all(|w| w[0].0 < w[1].0));
                    for &(rel, mut v) in &terms {
                        let rel = rel as usize;
                        // A column outside the block would corrupt its neighbours: skip it.
                        if rel >= *width {
                            debug_assert!(false, "text encoder column {rel} >= width {width}");
                            continue;
                        }
                        if let Some(m) = multiply {
                            v *= m[rel];
                        }
                        sink.put(block.offset + rel, v);
                    }
                    sink.give_back_scratch(terms);
                }
            }
        }
        Ok(())
    }

    /// One number input through its block's ops. Returns the transformed value.
    fn number(
        &self,
        i: usize,
        value: &Value<'_>,
        p: usize,
        column: usize,
        ops: &[ColumnOp],
        encoded: &mut Encoded,
    ) -> Result<f64, RecordError> {
        // Missing values enter as NaN (what sklearn sees); the origin picks the error if no
        // impute step fills them.
        let (mut x, origin) = match value {
            Value::Number(x) if x.is_infinite() => {
                return Err(RecordError::NotFinite {
                    input: self.input_name(i),
                });
            }
            Value::Number(x) if x.is_nan() => (f64::NAN, Origin::Nan),
            Value::Number(x) => (*x, Origin::Present),
            Value::Missing => (f64::NAN, Origin::Missing),
            Value::Null => (f64::NAN, Origin::Null),
            other => {
                return Err(RecordError::NotNumber {
                    input: self.input_name(i),
                    found: other.type_name(),
                });
            }
        };
        let mut imputed = false;
        for op in ops {
            imputed |= op.apply(p, &mut x);
        }
        if x.is_nan() {
            let input = self.input_name(i);
            return Err(match origin {
                Origin::Missing => RecordError::Missing { input },
                Origin::Null => RecordError::Null { input },
                Origin::Nan => RecordError::NotFinite { input },
                // A present value that turned NaN inside the block (inf - inf after overflow).
                Origin::Present => self.not_finite(column),
            });
        }
        if imputed {
            encoded.imputed.push(i);
        }
        Ok(x)
    }
}

#[derive(Clone, Copy)]
enum Origin {
    Present,
    Missing,
    Null,
    Nan,
}

/// The value shown in a `category_unknown` message (bounded, so a huge string stays small).
fn describe(value: &Value<'_>, fill: Option<&Label>) -> String {
    match (value, fill) {
        (Value::Str(s), _) => {
            let mut cut: String = s.chars().take(64).collect();
            if cut.len() < s.len() {
                cut.push('…');
            }
            format!("{cut:?}")
        }
        (Value::Number(x), _) if !x.is_nan() => format!("{x}"),
        (_, Some(Label::Str(s))) => format!("{s:?} (imputed)"),
        (_, Some(l)) => format!("{l} (imputed)"),
        (v, None) => v.type_name().to_string(),
    }
}

fn compile_number(
    b: usize,
    steps: &[Step],
    inputs: Vec<usize>,
    all: &[Input],
) -> Result<(BlockKind, usize), TransformError> {
    let n = inputs.len();
    let mut ops = Vec::with_capacity(steps.len());
    for (s, step) in steps.iter().enumerate() {
        let at = step_at(b, s, step);
        match step {
            Step::Impute(imp) => {
                if imp.fill.len() != n {
                    return Err(TransformError::StepLength {
                        at,
                        field: "fill",
                        expected: n,
                        found: imp.fill.len(),
                    });
                }
                let mut fill = Vec::with_capacity(n);
                for (p, f) in imp.fill.iter().enumerate() {
                    let x = f.as_f64().ok_or_else(|| TransformError::ImputeFill {
                        at: at.clone(),
                        input: all[inputs[p]].name.clone(),
                        index: p,
                        why: "must be a number for a number input",
                    })?;
                    if !x.is_finite() {
                        return Err(TransformError::NonFinite {
                            at,
                            field: "fill",
                            index: p,
                        });
                    }
                    fill.push(x);
                }
                ops.push(ColumnOp::Impute(fill));
            }
            s if is_scaler(s) => compile_scaler(&at, step, n, false, &mut ops)?,
            _ => {
                return Err(TransformError::StepNotAllowed {
                    at,
                    kind: step.kind(),
                    input_kind: "number",
                });
            }
        }
    }
    Ok((BlockKind::Number { inputs, ops }, n))
}

fn compile_category(
    b: usize,
    block_at: &str,
    steps: &[Step],
    inputs: Vec<usize>,
    all: &[Input],
) -> Result<(BlockKind, usize), TransformError> {
    let n = inputs.len();
    for (s, step) in steps.iter().enumerate() {
        if !matches!(step, Step::Impute(_) | Step::OneHot(_)) {
            return Err(TransformError::StepNotAllowed {
                at: step_at(b, s, step),
                kind: step.kind(),
                input_kind: "category",
            });
        }
    }
    let (impute, one_hot) = match steps {
        [Step::OneHot(o)] => (None, o),
        [Step::Impute(i), Step::OneHot(o)] => (Some(i), o),
        _ => {
            return Err(TransformError::TransformShape {
                at: block_at.to_string(),
                why: "a category block is an optional impute then exactly one one_hot".into(),
            });
        }
    };
    let fill = match impute {
        None => None,
        Some(imp) => {
            let at = step_at(b, 0, &steps[0]);
            if imp.fill.len() != n {
                return Err(TransformError::StepLength {
                    at,
                    field: "fill",
                    expected: n,
                    found: imp.fill.len(),
                });
            }
            let mut labels = Vec::with_capacity(n);
            for (p, f) in imp.fill.iter().enumerate() {
                labels.push(f.as_label().ok_or_else(|| TransformError::ImputeFill {
                    at: at.clone(),
                    input: all[inputs[p]].name.clone(),
                    index: p,
                    why: "must be a string or an integer for a category input",
                })?);
            }
            Some(labels)
        }
    };
    let s = steps.len() - 1;
    let at = step_at(b, s, &steps[s]);
    if one_hot.categories.len() != n {
        return Err(TransformError::StepLength {
            at,
            field: "categories",
            expected: n,
            found: one_hot.categories.len(),
        });
    }
    if let Some(drop) = &one_hot.drop
        && drop.len() != n
    {
        return Err(TransformError::StepLength {
            at,
            field: "drop",
            expected: n,
            found: drop.len(),
        });
    }
    let mut columns = Vec::with_capacity(n);
    let mut width = 0;
    for (p, cats) in one_hot.categories.iter().enumerate() {
        let input = &all[inputs[p]].name;
        let Some(first) = cats.first() else {
            return Err(TransformError::CategoryListEmpty {
                at,
                input: input.clone(),
            });
        };
        if cats.iter().any(|c| c.is_str() != first.is_str()) {
            return Err(TransformError::CategoryMixedTypes {
                at,
                input: input.clone(),
            });
        }
        let duplicate = |c: &Label| TransformError::DuplicateCategory {
            at: at.clone(),
            input: input.clone(),
            category: c.clone(),
        };
        let index = if first.is_str() {
            let mut m = HashMap::with_capacity(cats.len());
            for (k, c) in cats.iter().enumerate() {
                if let Label::Str(s) = c
                    && m.insert(s.clone(), k).is_some()
                {
                    return Err(duplicate(c));
                }
            }
            CategoryIndex::Str(m)
        } else {
            let mut m = HashMap::with_capacity(cats.len());
            for (k, c) in cats.iter().enumerate() {
                if let Some(v) = c.as_i128()
                    && m.insert(v, k).is_some()
                {
                    return Err(duplicate(c));
                }
            }
            CategoryIndex::Int(m)
        };
        let drop = one_hot.drop.as_ref().and_then(|d| d[p]);
        if let Some(d) = drop
            && d >= cats.len()
        {
            return Err(TransformError::DropOutOfRange {
                at,
                input: input.clone(),
                index: d,
                len: cats.len(),
            });
        }
        columns.push(OneHotColumn {
            index,
            drop,
            offset: width,
            unknown_is_error: one_hot.handle_unknown == HandleUnknown::Error,
        });
        width += cats.len() - usize::from(drop.is_some());
    }
    Ok((
        BlockKind::Category {
            inputs,
            fill,
            columns,
        },
        width,
    ))
}

fn compile_text(
    b: usize,
    block_at: &str,
    steps: &[Step],
    inputs: Vec<usize>,
) -> Result<(BlockKind, usize), TransformError> {
    let shape = |why: &str| TransformError::TextBlockShape {
        at: block_at.to_string(),
        why: why.to_string(),
    };
    let [input] = inputs[..] else {
        return Err(shape("a text block has exactly one input"));
    };
    let (vectorizer, rest): (&Vectorizer, &[Step]) = match steps {
        [Step::Vectorizer(v), rest @ ..] => (v, rest),
        _ => {
            return Err(shape(
                "a text block starts with a count_vectorizer or hashing_vectorizer",
            ));
        }
    };
    let (tfidf, rest): (Option<&Tfidf>, &[Step]) = match rest {
        [Step::Tfidf(t), rest @ ..] => (Some(t), rest),
        _ => (None, rest),
    };
    let scaler = match rest {
        [] => None,
        [s @ (Step::MaxAbsScaler(_) | Step::StandardScaler(_))] => {
            Some((1 + usize::from(tfidf.is_some()), s))
        }
        _ => {
            return Err(shape(
                "after the vectorizer a text block allows an optional tfidf, then an optional \
                 max_abs_scaler or standard_scaler",
            ));
        }
    };
    let encoder = TextEncoder::new(vectorizer.clone(), tfidf.cloned()).map_err(|source| {
        TransformError::TextSpec {
            at: step_at(b, 0, &steps[0]),
            source,
        }
    })?;
    let width = encoder.width();
    let mut multiply = None;
    if let Some((s, step)) = scaler {
        let mut ops = Vec::new();
        compile_scaler(&step_at(b, s, step), step, width, true, &mut ops)?;
        // Sparse scalers compile to at most one reciprocal multiply (mean is refused).
        multiply = ops.into_iter().find_map(|op| match op {
            ColumnOp::Multiply(m) => Some(m),
            _ => None,
        });
    }
    Ok((
        BlockKind::Text {
            input,
            encoder,
            width,
            multiply,
        },
        width,
    ))
}

/// Fixture loading shared by this module's and `estimator`'s tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::{Map, Value as Json};

    use super::{Program, Value};
    use crate::model::schema::Artifact;

    #[derive(Deserialize)]
    pub struct Fixture {
        pub name: String,
        pub artifact: Artifact,
        pub rows: Vec<Map<String, Json>>,
        pub features: Vec<Vec<f64>>,
        pub predict: Vec<Json>,
        pub predict_proba: Option<Vec<Vec<f64>>>,
        pub decision_function: Option<Vec<Vec<f64>>>,
    }

    macro_rules! fixture {
        ($name:literal) => {
            (
                $name,
                include_str!(concat!("../../tests/fixtures/model/", $name, ".json")),
            )
        };
    }

    pub const ALL: &[(&str, &str)] = &[
        fixture!("diabetes_linear"),
        fixture!("diabetes_ridge"),
        fixture!("diabetes_poisson"),
        fixture!("diabetes_gamma"),
        fixture!("diabetes_tweedie"),
        fixture!("cancer_logistic"),
        fixture!("cancer_linear_svc"),
        fixture!("cancer_sgd_hinge"),
        fixture!("iris_multinomial"),
        fixture!("iris_ridge_classifier"),
        fixture!("iris_sgd_log_loss"),
        fixture!("table_regression"),
        fixture!("table_logistic"),
        fixture!("table_linear_svc"),
        fixture!("table_text_logistic"),
    ];

    pub fn load(json: &str) -> Fixture {
        serde_json::from_str(json).unwrap()
    }

    /// What a record decoder would produce for one JSON row.
    pub fn values<'a>(program: &Program, row: &'a Map<String, Json>) -> Vec<Value<'a>> {
        program
            .inputs()
            .iter()
            .map(|input| match row.get(&input.name) {
                None => Value::Missing,
                Some(Json::Null) => Value::Null,
                Some(Json::Number(n)) => Value::Number(n.as_f64().unwrap()),
                Some(Json::String(s)) => Value::Str(Cow::Borrowed(s.as_str())),
                Some(Json::Bool(b)) => Value::Bool(*b),
                Some(Json::Array(_)) => Value::Other("list"),
                Some(Json::Object(_)) => Value::Other("map"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use super::*;
    use crate::model::schema::Input;

    /// Codes seen by the error tests, checked against `CODES` at the end of `every_code_is_tested`.
    static SEEN: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

    fn inputs(spec: &[(&str, &str)]) -> Vec<Input> {
        spec.iter()
            .map(|(n, k)| {
                serde_json::from_value(serde_json::json!({"name": n, "kind": k})).unwrap()
            })
            .collect()
    }

    fn transforms(json: serde_json::Value) -> Transforms {
        serde_json::from_value(json).unwrap()
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|j| format!("f{j}")).collect()
    }

    fn build(
        spec: &[(&str, &str)],
        t: serde_json::Value,
        width: usize,
    ) -> Result<Program, TransformError> {
        Program::new(&inputs(spec), &transforms(t), &names(width))
    }

    /// Asserts the error code and that the message names `mentions`.
    fn expect_err(r: Result<Program, TransformError>, code: &'static str, mentions: &[&str]) {
        let e = r.expect_err("expected an artifact error");
        assert_eq!(e.code(), code, "{e}");
        let msg = e.to_string();
        for m in mentions {
            assert!(msg.contains(m), "`{msg}` should mention `{m}`");
        }
        SEEN.lock().unwrap().insert(code);
    }

    fn blocks(b: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"blocks": b, "then": []})
    }

    const A: &[(&str, &str)] = &[("a", "number")];
    const AC: &[(&str, &str)] = &[("a", "number"), ("c", "category")];

    #[test]
    fn input_errors() {
        let one = blocks(serde_json::json!([{"inputs": ["a"], "steps": []}]));
        expect_err(
            build(&[("a", "number"), ("a", "number")], one.clone(), 1),
            "duplicate_input",
            &["`a`", "inputs[0] and inputs[1]"],
        );
        expect_err(
            build(&[("a", "number"), ("b", "number")], one.clone(), 1),
            "input_unused",
            &["`b`"],
        );
        expect_err(
            build(
                A,
                blocks(serde_json::json!([{"inputs": ["zz"], "steps": []}])),
                1,
            ),
            "transform_unknown_input",
            &["blocks[0]", "`zz`"],
        );
    }

    #[test]
    fn block_shape_errors() {
        expect_err(
            build(
                A,
                blocks(
                    serde_json::json!([{"inputs": ["a"], "steps": []}, {"inputs": [], "steps": []}]),
                ),
                1,
            ),
            "transform_shape",
            &["blocks[1]", "at least one input"],
        );
        let wrong_order = serde_json::json!([{"inputs": ["c"], "steps": [
            {"kind": "one_hot", "categories": [["x"]], "drop": null, "handle_unknown": "ignore"},
            {"kind": "impute", "strategy": "constant", "fill": ["x"]}]}]);
        expect_err(
            build(&[("c", "category")], blocks(wrong_order), 1),
            "transform_shape",
            &["blocks[0] (inputs: c)", "one_hot"],
        );
        expect_err(
            build(
                &[("c", "category")],
                blocks(serde_json::json!([{"inputs": ["c"], "steps": []}])),
                1,
            ),
            "transform_shape",
            &["exactly one one_hot"],
        );
        expect_err(
            build(
                AC,
                blocks(serde_json::json!([{"inputs": ["a", "c"], "steps": []}])),
                2,
            ),
            "block_mixed_kinds",
            &["number input `a`", "category input `c`"],
        );
        let one_hot_on_number = serde_json::json!([{"inputs": ["a"], "steps": [
            {"kind": "one_hot", "categories": [[1]], "drop": null, "handle_unknown": "ignore"}]}]);
        expect_err(
            build(A, blocks(one_hot_on_number), 1),
            "step_not_allowed",
            &["steps[0] (one_hot)", "number"],
        );
        let scaler_on_category = serde_json::json!([{"inputs": ["c"], "steps": [
            {"kind": "max_abs_scaler", "scale": [1.0]},
            {"kind": "one_hot", "categories": [["x"]], "drop": null, "handle_unknown": "ignore"}]}]);
        expect_err(
            build(&[("c", "category")], blocks(scaler_on_category), 1),
            "step_not_allowed",
            &["max_abs_scaler", "category"],
        );
    }

    #[test]
    fn number_step_errors() {
        let scaler =
            |s: serde_json::Value| blocks(serde_json::json!([{"inputs": ["a"], "steps": [s]}]));
        expect_err(
            build(
                A,
                scaler(
                    serde_json::json!({"kind": "standard_scaler", "mean": [1.0, 2.0], "scale": null}),
                ),
                1,
            ),
            "step_length",
            &[
                "steps[0] (standard_scaler)",
                "`mean` has 2 entries, expected 1",
            ],
        );
        expect_err(
            build(
                A,
                scaler(serde_json::json!({"kind": "min_max_scaler", "min": [1.0], "scale": []})),
                1,
            ),
            "step_length",
            &["`scale`"],
        );
        expect_err(
            build(
                A,
                scaler(serde_json::json!({"kind": "impute", "strategy": "mean", "fill": []})),
                1,
            ),
            "step_length",
            &["`fill`"],
        );
        expect_err(
            build(
                A,
                scaler(
                    serde_json::json!({"kind": "standard_scaler", "mean": null, "scale": [0.0]}),
                ),
                1,
            ),
            "scale_zero",
            &["standard_scaler", "`scale[0]`"],
        );
        expect_err(
            build(
                A,
                scaler(serde_json::json!({"kind": "max_abs_scaler", "scale": [-0.0]})),
                1,
            ),
            "scale_zero",
            &["max_abs_scaler"],
        );
        expect_err(
            build(
                A,
                scaler(
                    serde_json::json!({"kind": "impute", "strategy": "constant", "fill": ["x"]}),
                ),
                1,
            ),
            "impute_fill",
            &["steps[0] (impute)", "input `a`", "number"],
        );
        // JSON cannot spell NaN/inf, so poke them into parsed steps.
        for (field, poke) in [("mean", 0usize), ("scale", 1), ("min", 2), ("fill", 3)] {
            let mut t = transforms(blocks(serde_json::json!([{"inputs": ["a"], "steps": [
                {"kind": "standard_scaler", "mean": [1.0], "scale": [1.0]},
                {"kind": "max_abs_scaler", "scale": [1.0]},
                {"kind": "min_max_scaler", "min": [1.0], "scale": [1.0]},
                {"kind": "impute", "strategy": "mean", "fill": [1.0]}]}])));
            match &mut t.blocks[0].steps[poke] {
                Step::StandardScaler(s) => s.mean = Some(vec![f64::NAN]),
                Step::MaxAbsScaler(s) => s.scale = vec![f64::INFINITY],
                Step::MinMaxScaler(s) => s.min = vec![f64::NEG_INFINITY],
                Step::Impute(s) => s.fill = vec![crate::model::schema::Fill::Float(f64::NAN)],
                _ => unreachable!(),
            }
            let want = if field == "mean" {
                "standard_scaler"
            } else {
                field
            };
            let r = Program::new(&inputs(A), &t, &names(1));
            expect_err(r, "non_finite", &[want, &format!("steps[{poke}]")]);
        }
    }

    fn one_hot(categories: serde_json::Value, drop: serde_json::Value) -> serde_json::Value {
        blocks(serde_json::json!([{"inputs": ["c"], "steps": [
            {"kind": "one_hot", "categories": categories, "drop": drop, "handle_unknown": "error"}]}]))
    }

    #[test]
    fn category_errors() {
        let c = &[("c", "category")];
        expect_err(
            build(
                c,
                one_hot(serde_json::json!([[]]), serde_json::json!(null)),
                0,
            ),
            "category_list_empty",
            &["input `c`"],
        );
        expect_err(
            build(
                c,
                one_hot(serde_json::json!([["x", 1]]), serde_json::json!(null)),
                2,
            ),
            "category_mixed_types",
            &["input `c`"],
        );
        expect_err(
            build(
                c,
                one_hot(
                    serde_json::json!([["x", "y", "x"]]),
                    serde_json::json!(null),
                ),
                3,
            ),
            "duplicate_category",
            &["input `c`", "x"],
        );
        expect_err(
            build(
                c,
                one_hot(
                    serde_json::json!([[5, 9223372036854775807_i64, 5]]),
                    serde_json::json!(null),
                ),
                3,
            ),
            "duplicate_category",
            &["category 5"],
        );
        expect_err(
            build(
                c,
                one_hot(serde_json::json!([["x", "y"]]), serde_json::json!([2])),
                1,
            ),
            "drop_out_of_range",
            &["drop index 2", "input `c`", "2 categories"],
        );
        expect_err(
            build(
                c,
                one_hot(serde_json::json!([["x"], ["y"]]), serde_json::json!(null)),
                1,
            ),
            "step_length",
            &["`categories` has 2 entries, expected 1"],
        );
        expect_err(
            build(
                c,
                one_hot(serde_json::json!([["x"]]), serde_json::json!([null, null])),
                1,
            ),
            "step_length",
            &["`drop`"],
        );
        let float_fill = blocks(serde_json::json!([{"inputs": ["c"], "steps": [
            {"kind": "impute", "strategy": "most_frequent", "fill": [1.5]},
            {"kind": "one_hot", "categories": [[1, 2]], "drop": null, "handle_unknown": "ignore"}]}]));
        expect_err(
            build(c, float_fill, 2),
            "impute_fill",
            &["input `c`", "string or an integer"],
        );
        // A single category that is dropped leaves no columns at all.
        expect_err(
            build(
                c,
                one_hot(serde_json::json!([["x"]]), serde_json::json!([0])),
                0,
            ),
            "zero_features",
            &[],
        );
    }

    fn count_vectorizer(terms: &[&str]) -> serde_json::Value {
        let vocabulary: serde_json::Map<String, serde_json::Value> = terms
            .iter()
            .enumerate()
            .map(|(j, t)| (t.to_string(), serde_json::json!(j)))
            .collect();
        serde_json::json!({"kind": "count_vectorizer", "vocabulary": vocabulary, "lowercase": true,
            "ngram_range": [1, 1], "stop_words": null, "binary": false})
    }

    #[test]
    fn text_errors() {
        let t = &[("t", "text")];
        let tt = &[("t", "text"), ("u", "text")];
        let cv = count_vectorizer(&["a", "b"]);
        expect_err(
            build(
                tt,
                blocks(serde_json::json!([{"inputs": ["t", "u"], "steps": [cv]}])),
                2,
            ),
            "text_block_shape",
            &["blocks[0] (inputs: t, u)", "exactly one input"],
        );
        expect_err(
            build(
                t,
                blocks(serde_json::json!([{"inputs": ["t"], "steps": [
                {"kind": "tfidf", "idf": null, "sublinear_tf": false, "norm": "l2"}, cv]}])),
                2,
            ),
            "text_block_shape",
            &["starts with"],
        );
        expect_err(
            build(
                t,
                blocks(serde_json::json!([{"inputs": ["t"], "steps": [
                cv, {"kind": "max_abs_scaler", "scale": [1.0, 1.0]},
                {"kind": "tfidf", "idf": null, "sublinear_tf": false, "norm": "l2"}]}])),
                2,
            ),
            "text_block_shape",
            &["optional tfidf"],
        );
        expect_err(
            build(
                t,
                blocks(serde_json::json!([{"inputs": ["t"], "steps": [
                cv, {"kind": "tfidf", "idf": [1.0], "sublinear_tf": false, "norm": "l2"}]}])),
                2,
            ),
            "text_spec",
            &["steps[0] (count_vectorizer)", "idf"],
        );
        expect_err(
            build(
                t,
                blocks(serde_json::json!([{"inputs": ["t"], "steps": [
                cv, {"kind": "max_abs_scaler", "scale": [1.0]}]}])),
                2,
            ),
            "step_length",
            &["steps[1] (max_abs_scaler)"],
        );
        expect_err(
            build(
                t,
                blocks(serde_json::json!([{"inputs": ["t"], "steps": [
                cv, {"kind": "standard_scaler", "mean": [0.0, 0.0], "scale": [1.0, 1.0]}]}])),
                2,
            ),
            "sparse_unsupported",
            &["steps[1] (standard_scaler)", "mean null"],
        );
        let text_then = |then: serde_json::Value| serde_json::json!({"blocks": [{"inputs": ["t"], "steps": [cv]}], "then": [then]});
        expect_err(
            build(
                t,
                text_then(
                    serde_json::json!({"kind": "standard_scaler", "mean": [0.0, 0.0], "scale": null}),
                ),
                2,
            ),
            "sparse_unsupported",
            &["then[0] (standard_scaler)", "centered"],
        );
        expect_err(
            build(
                t,
                text_then(
                    serde_json::json!({"kind": "min_max_scaler", "min": [0.0, 0.0], "scale": [1.0, 1.0]}),
                ),
                2,
            ),
            "sparse_unsupported",
            &["then[0] (min_max_scaler)"],
        );
        // The largest hashing width scikit-learn allows, three times over, is wider than a u32.
        let huge = serde_json::json!({"kind": "hashing_vectorizer", "n_features": 2_147_483_646_u32, "alternate_sign": true,
            "lowercase": true, "ngram_range": [1, 1], "stop_words": null, "binary": false, "norm": "l2"});
        expect_err(
            build(
                &[("t", "text"), ("u", "text"), ("v", "text")],
                blocks(serde_json::json!([
                    {"inputs": ["t"], "steps": [huge]},
                    {"inputs": ["u"], "steps": [huge]},
                    {"inputs": ["v"], "steps": [huge]}
                ])),
                0,
            ),
            "too_wide",
            &["6442450938"],
        );
    }

    #[test]
    fn program_level_errors() {
        expect_err(
            build(&[], blocks(serde_json::json!([])), 0),
            "zero_features",
            &[],
        );
        let one = blocks(serde_json::json!([{"inputs": ["a"], "steps": []}]));
        expect_err(
            build(A, one.clone(), 2),
            "width_mismatch",
            &["2 names", "1 features"],
        );
        let t = transforms(blocks(
            serde_json::json!([{"inputs": ["a", "b"], "steps": []}]),
        ));
        let r = Program::new(
            &inputs(&[("a", "number"), ("b", "number")]),
            &t,
            &["x".into(), "x".into()],
        );
        expect_err(r, "duplicate_feature", &["`x`", "0", "1"]);
        let then = |s: serde_json::Value| serde_json::json!({"blocks": [{"inputs": ["a"], "steps": []}], "then": [s]});
        expect_err(
            build(
                A,
                then(serde_json::json!({"kind": "impute", "strategy": "mean", "fill": [1.0]})),
                1,
            ),
            "then_step",
            &["then[0] (impute)"],
        );
        expect_err(
            build(
                A,
                then(serde_json::json!({"kind": "max_abs_scaler", "scale": [1.0, 2.0]})),
                1,
            ),
            "step_length",
            &["then[0]"],
        );
        expect_err(
            build(
                A,
                then(serde_json::json!({"kind": "max_abs_scaler", "scale": [0.0]})),
                1,
            ),
            "scale_zero",
            &["then[0]"],
        );
    }

    #[test]
    fn every_code_is_tested() {
        // Runs the other error tests again so the check does not depend on test order.
        input_errors();
        block_shape_errors();
        number_step_errors();
        category_errors();
        text_errors();
        program_level_errors();
        let seen = SEEN.lock().unwrap().clone();
        let all: BTreeSet<_> = TransformError::CODES.iter().copied().collect();
        assert_eq!(seen, all);
    }

    // ---------------------------------------------------------------- records

    /// number `a` (no impute), number `b` (impute 7.5 then min-max), category `c` (strings,
    /// handle_unknown error), category `d` (integers, impute 2, drop 0, ignore), text `t`.
    fn mixed(text: bool) -> Program {
        let mut spec = vec![
            ("a", "number"),
            ("b", "number"),
            ("c", "category"),
            ("d", "category"),
        ];
        let mut blocks = serde_json::json!([
            {"inputs": ["a"], "steps": [{"kind": "standard_scaler", "mean": [1.0], "scale": [2.0]}]},
            {"inputs": ["b"], "steps": [
                {"kind": "impute", "strategy": "constant", "fill": [7.5]},
                {"kind": "min_max_scaler", "min": [0.5], "scale": [10.0]}]},
            {"inputs": ["c"], "steps": [
                {"kind": "one_hot", "categories": [["x", "y"]], "drop": null, "handle_unknown": "error"}]},
            {"inputs": ["d"], "steps": [
                {"kind": "impute", "strategy": "most_frequent", "fill": [2]},
                {"kind": "one_hot", "categories": [[1, 2, 3]], "drop": [0], "handle_unknown": "ignore"}]}
        ]);
        let mut width = 6;
        if text {
            spec.push(("t", "text"));
            blocks
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"inputs": ["t"], "steps": [
                count_vectorizer(&["spam", "ham", "eggs"]),
                {"kind": "max_abs_scaler", "scale": [2.0, 4.0, 3.0]}]}));
            width += 3;
        }
        let then = serde_json::json!([{"kind": "max_abs_scaler", "scale": vec![4.0; width]}]);
        build(
            &spec,
            serde_json::json!({"blocks": blocks, "then": then}),
            width,
        )
        .unwrap()
    }

    fn row<'a>(a: Value<'a>, b: Value<'a>, c: Value<'a>, d: Value<'a>) -> Vec<Value<'a>> {
        vec![a, b, c, d]
    }

    fn s(v: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(v))
    }

    #[test]
    fn dense_encoding_follows_sklearn_arithmetic() {
        let p = mixed(false);
        assert!(!p.is_sparse());
        assert_eq!(p.width(), 6);
        let mut batch = p.batch(4);
        let e = p
            .encode(
                &row(
                    Value::Number(4.0),
                    Value::Number(0.25),
                    s("y"),
                    Value::Number(3.0),
                ),
                &mut batch,
            )
            .unwrap();
        assert!(e.imputed.is_empty());
        // Missing b and null d are imputed; d's fill 2 is column 0 of the dropped-first encoding.
        let e = p
            .encode(
                &row(Value::Number(-1.0), Value::Missing, s("x"), Value::Null),
                &mut batch,
            )
            .unwrap();
        assert_eq!(e.imputed, vec![1, 3]);
        // NaN is sklearn's missing marker: imputed too. d=1 is the dropped category; d=9 unknown.
        let e = p
            .encode(
                &row(
                    Value::Number(0.0),
                    Value::Number(f64::NAN),
                    s("x"),
                    Value::Number(1.0),
                ),
                &mut batch,
            )
            .unwrap();
        assert_eq!(e.imputed, vec![1]);
        p.encode(
            &row(
                Value::Number(0.0),
                Value::Number(1.0),
                s("x"),
                Value::Number(9.0),
            ),
            &mut batch,
        )
        .unwrap();
        assert_eq!(batch.rows(), 4);
        let Features::Dense(x) = batch.finish() else {
            panic!("dense expected")
        };
        let q = |v: f64| v / 4.0; // the `then` max_abs_scaler
        let expect = [
            [
                q((4.0 - 1.0) / 2.0),
                q(0.25 * 10.0 + 0.5),
                0.0,
                q(1.0),
                0.0,
                q(1.0),
            ],
            [
                q((-1.0 - 1.0) / 2.0),
                q(7.5 * 10.0 + 0.5),
                q(1.0),
                0.0,
                q(1.0),
                0.0,
            ],
            [
                q((0.0 - 1.0) / 2.0),
                q(7.5 * 10.0 + 0.5),
                q(1.0),
                0.0,
                0.0,
                0.0,
            ],
            [
                q((0.0 - 1.0) / 2.0),
                q(1.0 * 10.0 + 0.5),
                q(1.0),
                0.0,
                0.0,
                0.0,
            ],
        ];
        for (i, r) in expect.iter().enumerate() {
            for (j, v) in r.iter().enumerate() {
                assert_eq!(x[[i, j]].to_bits(), v.to_bits(), "row {i} col {j}");
            }
        }
    }

    #[test]
    fn integer_categories_match_integral_numbers_only() {
        let p = mixed(false);
        let mut batch = p.batch(3);
        // 2.0 matches category 2; 2.5 and "2" are unknown (ignored: zeros), as in sklearn.
        for d in [Value::Number(2.0), Value::Number(2.5), s("2")] {
            p.encode(
                &row(Value::Number(1.0), Value::Number(0.0), s("x"), d),
                &mut batch,
            )
            .unwrap();
        }
        let x = batch.finish().to_dense();
        assert_eq!(x.row(0).to_vec()[4..], [0.25, 0.0]);
        assert_eq!(x.row(1).to_vec()[4..], [0.0, 0.0]);
        assert_eq!(x.row(2).to_vec()[4..], [0.0, 0.0]);
    }

    #[test]
    fn sparse_encoding_uses_reciprocal_scaling_and_skips_zeros() {
        let p = mixed(true);
        assert!(p.is_sparse());
        let mut batch = p.batch(2);
        let mut v = row(
            Value::Number(1.0),
            Value::Number(0.0),
            s("x"),
            Value::Number(3.0),
        );
        v.push(s("eggs spam eggs unknown"));
        p.encode(&v, &mut batch).unwrap();
        v[4] = s("");
        v[0] = Value::Number(3.0);
        p.encode(&v, &mut batch).unwrap();
        let Features::Sparse(c) = batch.finish() else {
            panic!("sparse expected")
        };
        assert_eq!(c.nrows(), 2);
        assert_eq!(c.indptr(), &[0, 5, 9]);
        // Row 0: a -> (1-1)/2 = 0 is not stored; b=0.5; c=x; d=3 -> col 5; spam, eggs.
        let r = |v: f64, s: f64| v * (1.0 / s) * (1.0 / 4.0);
        let (idx, val) = c.row(0);
        assert_eq!(idx, &[1, 2, 5, 6, 8]);
        let want = [
            0.5 * (1.0 / 4.0),
            1.0 / 4.0,
            1.0 / 4.0,
            r(1.0, 2.0),
            r(2.0, 3.0),
        ];
        assert_eq!(val.len(), want.len());
        for (a, b) in val.iter().zip(want) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let (idx, _) = c.row(1);
        assert_eq!(idx, &[0, 1, 2, 5]);
        assert_eq!(
            Csr::from_parts(
                c.ncols(),
                c.indptr().to_vec(),
                c.indices().to_vec(),
                c.data().to_vec()
            ),
            Some(c.clone())
        );
        assert_eq!(
            Csr::from_parts(3, vec![0, 2], vec![2, 1], vec![1.0, 1.0]),
            None
        );
        assert_eq!(Csr::from_parts(3, vec![0, 1], vec![3], vec![1.0]), None);
        assert_eq!(c.to_dense().dim(), (2, 9));
    }

    /// Encodes `values`, expects `code`, and checks the batch is exactly as before.
    fn reject(
        p: &Program,
        batch: &mut BatchBuilder,
        values: &[Value<'_>],
        code: &str,
        mentions: &str,
    ) {
        let before = batch.clone();
        let e = p
            .encode(values, batch)
            .expect_err("expected a record error");
        assert_eq!(e.code(), code, "{e}");
        assert!(
            e.to_string().contains(mentions),
            "`{e}` should mention `{mentions}`"
        );
        assert_eq!(batch.rows(), before.rows());
        assert_eq!(batch.clone().finish(), before.finish());
    }

    #[test]
    fn record_errors_leave_the_batch_unchanged() {
        for text in [false, true] {
            let p = mixed(text);
            let mut batch = p.batch(8);
            let mut ok = row(
                Value::Number(1.0),
                Value::Number(2.0),
                s("x"),
                Value::Number(1.0),
            );
            if text {
                ok.push(s("spam"));
            }
            p.encode(&ok, &mut batch).unwrap();
            let with = |j: usize, v: Value<'static>| {
                let mut r = ok.clone();
                r[j] = v;
                r
            };
            let mut codes = BTreeSet::new();
            let mut check = |values: Vec<Value<'_>>, code: &'static str, mentions: &str| {
                reject(&p, &mut batch, &values, code, mentions);
                codes.insert(code);
            };
            check(with(0, Value::Missing), "feature_missing", "`a`");
            check(with(0, Value::Null), "feature_null", "`a`");
            check(
                with(0, Value::Str(Cow::Borrowed("1"))),
                "feature_not_number",
                "found string",
            );
            check(
                with(0, Value::Bool(true)),
                "feature_not_number",
                "found bool",
            );
            check(
                with(0, Value::Other("map")),
                "feature_not_number",
                "found map",
            );
            check(
                with(0, Value::Number(f64::INFINITY)),
                "feature_not_finite",
                "`a`",
            );
            check(
                with(0, Value::Number(f64::NAN)),
                "feature_not_finite",
                "`a`",
            );
            check(
                with(1, Value::Number(f64::NEG_INFINITY)),
                "feature_not_finite",
                "`b`",
            );
            // `c` has no imputer and handle_unknown="error": a missing value is an unknown
            // category, as in scikit-learn.
            check(with(2, Value::Missing), "category_unknown", "`c`");
            check(with(2, Value::Null), "category_unknown", "`c`");
            check(
                with(2, Value::Bool(false)),
                "category_wrong_type",
                "found bool",
            );
            check(
                with(2, Value::Str(Cow::Borrowed("zzz"))),
                "category_unknown",
                "\"zzz\"",
            );
            check(
                with(2, Value::Number(3.0)),
                "category_unknown",
                "category 3",
            );
            // f64::MAX * 10 overflows inside min_max_scaler.
            check(
                with(1, Value::Number(f64::MAX)),
                "transformed_not_finite",
                "f1",
            );
            check(ok[..3].to_vec(), "record_arity", "3 values");
            if text {
                check(
                    with(4, Value::Number(1.0)),
                    "text_not_string",
                    "found number",
                );
                check(with(4, Value::Missing), "feature_missing", "`t`");
                check(with(4, Value::Null), "feature_null", "`t`");
            }
            let other = mixed(!text);
            let before = batch.clone();
            let mut other_row = ok[..4].to_vec();
            if !text {
                other_row.push(s("spam"));
            }
            let e = other.encode(&other_row, &mut batch).unwrap_err();
            assert_eq!(e.code(), "batch_layout");
            assert_eq!(batch.finish(), before.finish());
            codes.insert("batch_layout");
            if text {
                let all: BTreeSet<_> = RecordError::CODES.iter().copied().collect();
                assert_eq!(codes, all);
            }
        }
    }

    #[test]
    fn unknown_imputed_category_is_reported_as_imputed() {
        let spec = &[("c", "category")];
        let t = blocks(serde_json::json!([{"inputs": ["c"], "steps": [
            {"kind": "impute", "strategy": "constant", "fill": ["missing"]},
            {"kind": "one_hot", "categories": [["x"]], "drop": null, "handle_unknown": "error"}]}]));
        let p = build(spec, t, 1).unwrap();
        let mut batch = p.batch(1);
        reject(
            &p,
            &mut batch,
            &[Value::Missing],
            "category_unknown",
            "\"missing\" (imputed)",
        );
    }

    #[test]
    fn program_and_batches_can_cross_threads() {
        // The Lambda shares one Program across tasks.
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Program>();
        send_sync::<BatchBuilder>();
        send_sync::<Features>();
        send_sync::<TransformError>();
        send_sync::<RecordError>();
    }

    #[test]
    fn impute_after_a_scaler_fills_in_scaled_space() {
        // sklearn lets NaN pass through scalers, so an imputer after one fills the scaled value.
        let t = blocks(serde_json::json!([{"inputs": ["a"], "steps": [
            {"kind": "standard_scaler", "mean": [10.0], "scale": [2.0]},
            {"kind": "impute", "strategy": "constant", "fill": [0.0]}]}]));
        let p = build(A, t, 1).unwrap();
        let mut batch = p.batch(2);
        assert_eq!(
            p.encode(&[Value::Null], &mut batch).unwrap().imputed,
            vec![0]
        );
        assert!(
            p.encode(&[Value::Number(14.0)], &mut batch)
                .unwrap()
                .imputed
                .is_empty()
        );
        assert_eq!(batch.finish().to_dense().column(0).to_vec(), vec![0.0, 2.0]);
    }

    #[test]
    fn fixtures_encode_exactly_like_sklearn() {
        for (name, json) in fixtures::ALL {
            let f = fixtures::load(json);
            assert_eq!(&f.name, name);
            let a = &f.artifact;
            let p = Program::new(&a.inputs, &a.transforms, &a.feature_names)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut batch = p.batch(f.rows.len());
            for row in &f.rows {
                let values = fixtures::values(&p, row);
                let e = p
                    .encode(&values, &mut batch)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                // Every missing input of these models has an imputer, so missing == imputed.
                let missing: Vec<usize> = values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| matches!(v, Value::Missing | Value::Null))
                    .map(|(i, _)| i)
                    .collect();
                assert_eq!(e.imputed, missing, "{name}");
            }
            let x = batch.finish().to_dense();
            assert_eq!(x.nrows(), f.features.len());
            for (i, want) in f.features.iter().enumerate() {
                for (j, w) in want.iter().enumerate() {
                    // Same operations in the same order: bit-identical, not merely close.
                    assert_eq!(
                        x[[i, j]].to_bits(),
                        w.to_bits(),
                        "{name} row {i} col {j}: {} vs {w}",
                        x[[i, j]]
                    );
                }
            }
        }
    }
}
