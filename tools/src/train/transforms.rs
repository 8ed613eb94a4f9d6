//! Fitting the declared transforms on the training rows: imputation fills, standardization,
//! one-hot categories and a TF-IDF vocabulary, each as scikit-learn's defaults would fit them,
//! written as format_version 2 blocks so the Lambda applies the same steps to every record.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use stream_infer::model::schema::{
    Block, Fill, HandleUnknown, Impute as ImputeStep, ImputeStrategy, Input, Label, Norm, OneHot,
    StandardScaler, Step, TOKEN_PATTERN, Tfidf, Transforms, Vectorizer,
};

use super::table::{self, Cells, Table};
use super::{Impute, TrainError, TypedOptions};

/// The transform half of a format_version 2 artifact.
#[derive(Debug, Clone)]
pub(super) struct Fitted {
    pub inputs: Vec<Input>,
    pub transforms: Transforms,
    pub feature_names: Vec<String>,
    pub imputed: Vec<Imputed>,
}

/// A column with empty cells, and what fills them (in training, and for records missing the
/// field at runtime).
#[derive(Debug, Clone, PartialEq)]
pub struct Imputed {
    pub column: String,
    /// Empty cells in the whole file (training and held-out rows).
    pub cells: usize,
    pub strategy: ImputeStrategy,
    pub fill: Fill,
}

/// Fits every block on the `training` rows of `table`.
///
/// Blocks come in a fixed order, numbers then categories then text, like a ColumnTransformer
/// listing its transformers; `inputs` keeps the table's column order. Feature names follow
/// scikit-learn: a number column's own name, `<column>_<category>` for a one-hot column (as
/// `OneHotEncoder.get_feature_names_out`), and `<column>__<term>` for a text term.
pub(super) fn fit(
    options: &TypedOptions,
    table: &Table,
    training: &[usize],
) -> Result<Fitted, TrainError> {
    let path = &options.csv;
    let no_values = |column: &str| TrainError::NoValues {
        path: path.clone(),
        column: column.to_owned(),
        rows: training.len(),
    };
    let all_rows: Vec<usize> = (0..table.rows()).collect();
    let drop_first = !options.estimator.penalized();
    let mut imputed = Vec::new();
    let mut blocks = Vec::new();
    let mut feature_names = Vec::new();

    // Numbers: one block, an optional impute step, then an optional standard scaler.
    let numbers: Vec<(&str, &[Option<f64>])> = table
        .inputs
        .iter()
        .filter_map(|c| match &c.cells {
            Cells::Number(v) => Some((c.name.as_str(), v.as_slice())),
            _ => None,
        })
        .collect();
    if !numbers.is_empty() {
        let mut fills = Vec::new();
        let (mut means, mut scales) = (Vec::new(), Vec::new());
        for &(name, cells) in &numbers {
            let mut present: Vec<f64> = training.iter().filter_map(|&i| cells[i]).collect();
            if present.is_empty() {
                return Err(no_values(name));
            }
            let fill = options.impute.map(|impute| {
                let strategy = impute.for_numbers();
                let fill = number_fill(impute, &mut present);
                let missing = all_rows.iter().filter(|&&i| cells[i].is_none()).count();
                if missing > 0 {
                    imputed.push(Imputed {
                        column: name.to_owned(),
                        cells: missing,
                        strategy,
                        fill: Fill::Float(fill),
                    });
                }
                fill
            });
            fills.extend(fill);
            if options.standardize {
                let column: Vec<f64> = training
                    .iter()
                    .map(|&i| {
                        cells[i]
                            .or(fill)
                            .expect("an empty cell is an error without --impute")
                    })
                    .collect();
                let (mean, scale) = standardization(&column);
                means.push(mean);
                scales.push(scale);
            }
            feature_names.push(name.to_owned());
        }
        let mut steps = Vec::new();
        if let Some(strategy) = options.impute {
            steps.push(Step::Impute(ImputeStep {
                strategy: strategy.for_numbers(),
                fill: fills.into_iter().map(Fill::Float).collect(),
            }));
        }
        if options.standardize {
            steps.push(Step::StandardScaler(StandardScaler {
                mean: Some(means),
                scale: Some(scales),
            }));
        }
        blocks.push(Block {
            inputs: numbers.iter().map(|(n, _)| (*n).to_owned()).collect(),
            steps,
        });
    }

    // Categories: one block, an optional most-frequent impute, then a one-hot encoder over the
    // categories seen in training, sorted; an unknown category encodes as all zeros (as the
    // dropped first category does when there is one).
    let categories: Vec<(&str, &[Option<Label>])> = table
        .inputs
        .iter()
        .filter_map(|c| match &c.cells {
            Cells::Category(v) => Some((c.name.as_str(), v.as_slice())),
            _ => None,
        })
        .collect();
    if !categories.is_empty() {
        let mut fills = Vec::new();
        let mut lists = Vec::new();
        for &(name, cells) in &categories {
            let seen = table::counts(training.iter().filter_map(|&i| cells[i].as_ref()));
            if seen.is_empty() {
                return Err(no_values(name));
            }
            if options.impute.is_some() {
                // The most frequent category; the smallest of a tie, as scikit-learn picks.
                let (fill, _) = seen
                    .iter()
                    .fold(None::<&(Label, usize)>, |best, c| match best {
                        Some(b) if b.1 >= c.1 => Some(b),
                        _ => Some(c),
                    })
                    .expect("seen is not empty");
                let missing = all_rows.iter().filter(|&&i| cells[i].is_none()).count();
                if missing > 0 {
                    imputed.push(Imputed {
                        column: name.to_owned(),
                        cells: missing,
                        strategy: ImputeStrategy::MostFrequent,
                        fill: label_fill(fill),
                    });
                }
                fills.push(label_fill(fill));
            }
            // Without a penalty, a full one-hot column set plus the intercept has no unique
            // least-squares solution, so the first category is dropped (scikit-learn's
            // `drop="first"`) and becomes the baseline the intercept describes.
            let skip = usize::from(drop_first);
            for (category, _) in &seen[skip..] {
                feature_names.push(format!("{name}_{category}"));
            }
            lists.push(seen.into_iter().map(|(c, _)| c).collect());
        }
        let mut steps = Vec::new();
        if options.impute.is_some() {
            steps.push(Step::Impute(ImputeStep {
                strategy: ImputeStrategy::MostFrequent,
                fill: fills,
            }));
        }
        let drop = drop_first.then(|| vec![Some(0); lists.len()]);
        steps.push(Step::OneHot(OneHot {
            categories: lists,
            drop,
            handle_unknown: HandleUnknown::Ignore,
        }));
        blocks.push(Block {
            inputs: categories.iter().map(|(n, _)| (*n).to_owned()).collect(),
            steps,
        });
    }

    // Text: scikit-learn's TfidfVectorizer() defaults, fitted on the training documents.
    for column in &table.inputs {
        let Cells::Text(docs) = &column.cells else {
            continue;
        };
        let training_docs: Vec<&str> = training.iter().map(|&i| docs[i].as_str()).collect();
        let (vocabulary, idf) = tfidf(&training_docs);
        if vocabulary.is_empty() {
            return Err(TrainError::EmptyText {
                path: path.clone(),
                column: column.name.clone(),
                rows: training.len(),
            });
        }
        // The vocabulary's indices follow its sorted order, so the names do too.
        feature_names.extend(vocabulary.keys().map(|t| format!("{}__{t}", column.name)));
        blocks.push(Block {
            inputs: vec![column.name.clone()],
            steps: vec![
                Step::Vectorizer(Vectorizer::CountVectorizer {
                    vocabulary,
                    lowercase: true,
                    ngram_range: (1, 1),
                    stop_words: None,
                    binary: false,
                }),
                Step::Tfidf(Tfidf {
                    idf: Some(idf),
                    sublinear_tf: false,
                    norm: Some(Norm::L2),
                }),
            ],
        });
    }

    let inputs = table
        .inputs
        .iter()
        .map(|c| Input {
            name: c.name.clone(),
            kind: c.cells.kind(),
        })
        .collect();
    Ok(Fitted {
        inputs,
        transforms: Transforms {
            blocks,
            then: Vec::new(),
        },
        feature_names,
        imputed,
    })
}

fn label_fill(label: &Label) -> Fill {
    match label {
        Label::Str(s) => Fill::Str(s.clone()),
        Label::Int(v) => Fill::Int(*v),
        Label::UInt(v) => Fill::UInt(*v),
    }
}

/// `SimpleImputer`'s statistic of the present values (which this sorts).
fn number_fill(strategy: Impute, present: &mut [f64]) -> f64 {
    let n = present.len();
    if strategy == Impute::Mean {
        // Summed in file order, before the sort below.
        return present.iter().sum::<f64>() / n as f64;
    }
    present.sort_by(f64::total_cmp);
    match strategy {
        Impute::Median if n % 2 == 1 => present[n / 2],
        // numpy's median averages the two middle values of an even count.
        Impute::Median => (present[n / 2 - 1] + present[n / 2]) / 2.0,
        // The most frequent value; the smallest of a tie (scipy's mode, as scikit-learn uses).
        Impute::Mean | Impute::MostFrequent => {
            let (mut best, mut best_count) = (present[0], 0);
            let mut start = 0;
            while start < n {
                let end = start + present[start..].partition_point(|&v| v == present[start]);
                if end - start > best_count {
                    (best, best_count) = (present[start], end - start);
                }
                start = end;
            }
            best
        }
    }
}

/// `StandardScaler`: the mean and the population standard deviation; a constant column keeps
/// scale 1, as scikit-learn's does.
fn standardization(column: &[f64]) -> (f64, f64) {
    let n = column.len() as f64;
    let mean = column.iter().sum::<f64>() / n;
    let variance = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let scale = variance.sqrt();
    (mean, if scale > 0.0 { scale } else { 1.0 })
}

/// `TfidfVectorizer()` fitted on `docs`: lowercase, the default token pattern, every term kept,
/// terms indexed in sorted order, and smooth idf `ln((1 + n) / (1 + df)) + 1`.
pub(super) fn tfidf(docs: &[&str]) -> (BTreeMap<String, u32>, Vec<f64>) {
    let tokens = Regex::new(TOKEN_PATTERN).expect("the runtime's token pattern compiles");
    let mut df: BTreeMap<String, usize> = BTreeMap::new();
    for doc in docs {
        // The whole string is lowercased at once, as the runtime's encoder (and Python) do.
        let lowered = doc.to_lowercase();
        let terms: BTreeSet<&str> = tokens.find_iter(&lowered).map(|m| m.as_str()).collect();
        for term in terms {
            *df.entry(term.to_owned()).or_default() += 1;
        }
    }
    let n = docs.len() as f64 + 1.0;
    let idf = df
        .values()
        .map(|&d| (n / (d as f64 + 1.0)).ln() + 1.0)
        .collect();
    let vocabulary = df
        .into_keys()
        .enumerate()
        .map(|(i, term)| (term, i as u32))
        .collect();
    (vocabulary, idf)
}
