//! The training CSV as typed columns: each input column read as numbers, categories or text,
//! each cell a value or missing (empty), the target read as numbers or labels, and the CSV line
//! of every row so that a bad cell is named by line and column.

use std::borrow::Cow;
use std::cmp::Ordering;

use stream_infer::model::Value;
use stream_infer::model::schema::{InputKind, Label};

use super::{EstimatorParams, TrainError, TypedOptions};

/// One input column, cells in file order.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub name: String,
    pub cells: Cells,
}

#[derive(Debug, Clone)]
pub(super) enum Cells {
    /// `None` is an empty cell.
    Number(Vec<Option<f64>>),
    /// Integers when every non-empty cell is one (so records sending numbers match them),
    /// strings otherwise. `None` is an empty cell.
    Category(Vec<Option<Label>>),
    /// Documents; an empty cell is an empty document.
    Text(Vec<String>),
}

impl Cells {
    pub fn kind(&self) -> InputKind {
        match self {
            Cells::Number(_) => InputKind::Number,
            Cells::Category(_) => InputKind::Category,
            Cells::Text(_) => InputKind::Text,
        }
    }
}

/// What is predicted, per row.
#[derive(Debug, Clone)]
pub(super) enum Target {
    Values(Vec<f64>),
    /// Integers when every label is one, strings otherwise, as the records will carry them.
    Labels(Vec<Label>),
}

#[derive(Debug, Clone)]
pub(super) struct Table {
    /// Input columns in model order.
    pub inputs: Vec<Column>,
    pub target: Target,
    /// The CSV line each row starts on.
    lines: Vec<u64>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn line(&self, row: usize) -> u64 {
        self.lines[row]
    }

    /// Row `row` as the runtime's decoder would hand it to the transforms: one value per input,
    /// an empty cell as a missing field.
    pub fn values(&self, row: usize) -> Vec<Value<'_>> {
        self.inputs
            .iter()
            .map(|column| match &column.cells {
                Cells::Number(v) => v[row].map_or(Value::Missing, Value::Number),
                Cells::Category(v) => match &v[row] {
                    None => Value::Missing,
                    Some(Label::Str(s)) => Value::Str(Cow::Borrowed(s)),
                    // Integer categories are within ±2^53 (see `labels`), so exact as f64.
                    Some(Label::Int(i)) => Value::Number(*i as f64),
                    Some(Label::UInt(u)) => Value::Number(*u as f64),
                },
                Cells::Text(v) => Value::Str(Cow::Borrowed(&v[row])),
            })
            .collect()
    }
}

/// Reads the columns `options` asks for, with the kinds it gives them.
pub(super) fn read(options: &TypedOptions) -> Result<Table, TrainError> {
    let path = &options.csv;
    let csv_error = |cause| TrainError::Csv {
        path: path.clone(),
        cause,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TrainError::MissingColumn {
                path: path.clone(),
                column: name.to_owned(),
                available: header.join(", "),
            })
    };
    let target = column(&options.target)?;
    let names: Vec<String> = match &options.features {
        Some(names) => names.clone(),
        None => header
            .iter()
            .filter(|h| **h != options.target)
            .cloned()
            .collect(),
    };
    let positions = names
        .iter()
        .map(|n| column(n))
        .collect::<Result<Vec<_>, _>>()?;

    // Raw cells, column by column, so each column's type can be decided from all of them.
    let mut raw: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    let mut raw_target = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        lines.push(record.position().map_or(0, |p| p.line()));
        for (cells, &index) in raw.iter_mut().zip(&positions) {
            cells.push(record.get(index).unwrap_or("").to_owned());
        }
        raw_target.push(record.get(target).unwrap_or("").trim().to_owned());
    }

    let impute = options.impute.is_some();
    let empty = |row: usize, column: &str| TrainError::EmptyCell {
        path: path.clone(),
        line: lines[row],
        column: column.to_owned(),
    };
    let mut inputs = Vec::with_capacity(names.len());
    for (name, cells) in names.into_iter().zip(raw) {
        let cells = if options.text.as_ref() == Some(&name) {
            Cells::Text(cells)
        } else if options.categorical.contains(&name) {
            if let Some(row) = cells.iter().position(|c| c.trim().is_empty())
                && !impute
            {
                return Err(empty(row, &name));
            }
            Cells::Category(labels(cells.iter().map(|c| c.trim())))
        } else {
            let mut values = Vec::with_capacity(cells.len());
            for (row, cell) in cells.iter().enumerate() {
                let text = cell.trim();
                if text.is_empty() {
                    if !impute {
                        return Err(empty(row, &name));
                    }
                    values.push(None);
                    continue;
                }
                values.push(Some(number(text).ok_or_else(|| TrainError::NotNumber {
                    path: path.clone(),
                    line: lines[row],
                    column: name.clone(),
                    value: text.to_owned(),
                })?));
            }
            Cells::Number(values)
        };
        inputs.push(Column { name, cells });
    }

    if let Some(row) = raw_target.iter().position(|t| t.is_empty()) {
        return Err(TrainError::EmptyTarget {
            path: path.clone(),
            line: lines[row],
            column: options.target.clone(),
        });
    }
    let target = if matches!(options.estimator, EstimatorParams::Logistic { .. }) {
        let labels = labels(raw_target.iter().map(String::as_str));
        Target::Labels(
            labels
                .into_iter()
                .map(|l| l.expect("no target is empty"))
                .collect(),
        )
    } else {
        let mut values = Vec::with_capacity(raw_target.len());
        for (row, text) in raw_target.iter().enumerate() {
            values.push(number(text).ok_or_else(|| TrainError::NotNumber {
                path: path.clone(),
                line: lines[row],
                column: options.target.clone(),
                value: text.clone(),
            })?);
        }
        Target::Values(values)
    };
    Ok(Table {
        inputs,
        target,
        lines,
    })
}

fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The largest integer every f64 holds exactly: integer categories beyond it could not be
/// matched exactly by a record's JSON number, so such a column is read as strings.
const EXACT_INTEGER: i64 = 1 << 53;

/// Cells as labels: all integers when every non-empty cell is an integer within ±2^53, all
/// strings otherwise. Empty cells are `None`.
fn labels<'a>(cells: impl Iterator<Item = &'a str> + Clone) -> Vec<Option<Label>> {
    let integer = |c: &str| c.parse::<i64>().ok().filter(|v| v.abs() <= EXACT_INTEGER);
    let integers = cells
        .clone()
        .filter(|c| !c.is_empty())
        .all(|c| integer(c).is_some());
    cells
        .map(|c| {
            if c.is_empty() {
                None
            } else if integers {
                integer(c).map(Label::Int)
            } else {
                Some(Label::Str(c.to_owned()))
            }
        })
        .collect()
}

/// Label order as scikit-learn sorts `classes_` and `categories_`: integers by value, strings by
/// code point (Rust's byte order on UTF-8 is the same). A column never mixes the two.
pub(super) fn order(a: &Label, b: &Label) -> Ordering {
    match (a.as_i128(), b.as_i128()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => match (a, b) {
            (Label::Str(x), Label::Str(y)) => x.cmp(y),
            _ => Ordering::Equal,
        },
    }
}

/// The distinct labels in ascending order, each with how often it occurs.
pub(super) fn counts<'a>(labels: impl Iterator<Item = &'a Label>) -> Vec<(Label, usize)> {
    let mut sorted: Vec<&Label> = labels.collect();
    sorted.sort_by(|a, b| order(a, b));
    let mut out: Vec<(Label, usize)> = Vec::new();
    for label in sorted {
        match out.last_mut() {
            Some((last, n)) if last == label => *n += 1,
            _ => out.push((label.clone(), 1)),
        }
    }
    out
}
