//! Text block steps (count/hashing vectorizers and tf-idf) that reproduce scikit-learn 1.9.1's `transform` exactly.
//!
//! The pipeline per document mirrors scikit-learn's order of operations:
//! lowercase the whole string, find tokens with the default pattern `(?u)\b\w\w+\b`,
//! drop stop words, build word n-grams joined by one space, map each term to a column
//! (vocabulary lookup or signed murmurhash3), sum duplicate columns, apply `binary`,
//! apply the hashing vectorizer's own `norm`, then tf-idf (`sublinear_tf`, idf, `norm`).

use std::collections::{BTreeMap, HashMap, HashSet};

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Row normalization, as scikit-learn's `normalize(norm="l1"|"l2")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    L1,
    L2,
}

/// The vectorizer step of a text block, exactly as SCHEMA.md writes it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Vectorizer {
    /// scikit-learn `CountVectorizer` (and the counting half of `TfidfVectorizer`).
    CountVectorizer {
        /// Fitted `vocabulary_`: term -> column. Indices must be a permutation of `0..len`.
        vocabulary: BTreeMap<String, u32>,
        lowercase: bool,
        /// `(min_n, max_n)`, written as a two-element JSON array.
        ngram_range: (usize, usize),
        /// The resolved stop-word list (`get_stop_words()`), or null.
        #[serde(deserialize_with = "required")]
        stop_words: Option<Vec<String>>,
        binary: bool,
    },
    /// scikit-learn `HashingVectorizer`.
    HashingVectorizer {
        n_features: u32,
        alternate_sign: bool,
        lowercase: bool,
        /// `(min_n, max_n)`, written as a two-element JSON array.
        ngram_range: (usize, usize),
        #[serde(deserialize_with = "required")]
        stop_words: Option<Vec<String>>,
        binary: bool,
        #[serde(deserialize_with = "required")]
        norm: Option<Norm>,
    },
}

/// The `tfidf` step (scikit-learn `TfidfTransformer`, or the second half of `TfidfVectorizer`).
///
/// `"kind": "tfidf"` is written on serialization and accepted but not required on
/// deserialization, so this struct reads a bare SCHEMA step object and also works as the
/// payload of an enclosing `#[serde(tag = "kind")]` step enum (which consumes the tag).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(from = "TfidfRepr", into = "TfidfRepr")]
pub struct Tfidf {
    /// Fitted `idf_`, one per vectorizer column; null when `use_idf=False`.
    pub idf: Option<Vec<f64>>,
    pub sublinear_tf: bool,
    pub norm: Option<Norm>,
}

/// The only accepted value of a `tfidf` step's optional `kind` tag.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum TfidfKind {
    Tfidf,
}

/// Wire form of [`Tfidf`]: an optional, checked tag and no unknown fields.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TfidfRepr {
    #[serde(default)]
    kind: Option<TfidfKind>,
    #[serde(deserialize_with = "required")]
    idf: Option<Vec<f64>>,
    sublinear_tf: bool,
    #[serde(deserialize_with = "required")]
    norm: Option<Norm>,
}

impl From<TfidfRepr> for Tfidf {
    fn from(repr: TfidfRepr) -> Tfidf {
        Tfidf {
            idf: repr.idf,
            sublinear_tf: repr.sublinear_tf,
            norm: repr.norm,
        }
    }
}

impl From<Tfidf> for TfidfRepr {
    fn from(tfidf: Tfidf) -> TfidfRepr {
        TfidfRepr {
            kind: Some(TfidfKind::Tfidf),
            idf: tfidf.idf,
            sublinear_tf: tfidf.sublinear_tf,
            norm: tfidf.norm,
        }
    }
}

/// Deserializes an `Option` field that must be present (null allowed). serde would otherwise
/// read a missing `norm` as null, silently replacing scikit-learn's default of `"l2"`.
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// Why a text block specification cannot be reproduced exactly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TextSpecError {
    #[error("ngram_range ({min_n}, {max_n}) is not supported: need 1 <= min_n <= max_n <= 2")]
    NgramRange { min_n: usize, max_n: usize },
    #[error("count_vectorizer vocabulary is empty")]
    EmptyVocabulary,
    #[error("vocabulary term {term:?} has index {index}, outside 0..{size}")]
    VocabularyIndexOutOfRange {
        term: String,
        index: u32,
        size: usize,
    },
    #[error("vocabulary terms {first:?} and {second:?} share index {index}")]
    VocabularyDuplicateIndex {
        index: u32,
        first: String,
        second: String,
    },
    #[error("hashing_vectorizer n_features {0} is outside scikit-learn's range 1..=2147483646")]
    NFeatures(u32),
    #[error("tfidf idf has {got} values but the vectorizer has {expected} columns")]
    IdfLength { expected: usize, got: usize },
    #[error("tfidf idf[{index}] = {value} is not a finite positive number")]
    IdfValue { index: usize, value: f64 },
    #[error(
        "tfidf sublinear_tf after a hashing_vectorizer with alternate_sign=true and binary=false \
         takes the log of negative or cancelled counts; scikit-learn fails with \"Input contains NaN\""
    )]
    SublinearOnSignedHashing,
    #[error("token pattern failed to compile: {0}")]
    TokenPattern(String),
}

/// scikit-learn's default `token_pattern` `(?u)\b\w\w+\b` finds maximal runs of two or more
/// Python word characters. Python's `\w` is `str.isalnum()` or `_`, which is exactly the
/// Unicode general categories L* and N* plus `_` (checked over every code point assigned in
/// Python 3.11's Unicode 14 database). It excludes combining marks, unlike Rust's `\w`.
pub const TOKEN_PATTERN: &str = r"[\p{L}\p{N}_]{2,}";

/// scikit-learn's `n_features` upper bound (`Interval(1, 2**31 - 1, closed="left")`).
const MAX_N_FEATURES: u32 = 2_147_483_646;

/// How terms become columns.
#[derive(Debug, Clone)]
enum Terms {
    Vocabulary(HashMap<String, u32>),
    Hashing {
        n_features: u32,
        alternate_sign: bool,
        norm: Option<Norm>,
    },
}

/// A validated text block, ready to encode documents.
#[derive(Debug, Clone)]
pub struct TextEncoder {
    terms: Terms,
    width: usize,
    lowercase: bool,
    ngram_min: usize,
    ngram_max: usize,
    stop_words: HashSet<String>,
    binary: bool,
    tfidf: Option<Tfidf>,
    token_re: Regex,
}

impl TextEncoder {
    /// Validates the steps and precomputes the lookups `encode` needs.
    pub fn new(vectorizer: Vectorizer, tfidf: Option<Tfidf>) -> Result<TextEncoder, TextSpecError> {
        let (terms, width, lowercase, ngram_range, stop_words, binary) = match vectorizer {
            Vectorizer::CountVectorizer {
                vocabulary,
                lowercase,
                ngram_range,
                stop_words,
                binary,
            } => {
                check_vocabulary(&vocabulary)?;
                let width = vocabulary.len();
                (
                    Terms::Vocabulary(vocabulary.into_iter().collect()),
                    width,
                    lowercase,
                    ngram_range,
                    stop_words,
                    binary,
                )
            }
            Vectorizer::HashingVectorizer {
                n_features,
                alternate_sign,
                lowercase,
                ngram_range,
                stop_words,
                binary,
                norm,
            } => {
                if !(1..=MAX_N_FEATURES).contains(&n_features) {
                    return Err(TextSpecError::NFeatures(n_features));
                }
                // Signed hashing leaves negative and cancelled (zero) entries, and `binary`
                // is the only step that turns them positive before tf-idf's logarithm.
                if alternate_sign && !binary && tfidf.as_ref().is_some_and(|t| t.sublinear_tf) {
                    return Err(TextSpecError::SublinearOnSignedHashing);
                }
                let terms = Terms::Hashing {
                    n_features,
                    alternate_sign,
                    norm,
                };
                (
                    terms,
                    n_features as usize,
                    lowercase,
                    ngram_range,
                    stop_words,
                    binary,
                )
            }
        };
        let (ngram_min, ngram_max) = ngram_range;
        if !(1 <= ngram_min && ngram_min <= ngram_max && ngram_max <= 2) {
            return Err(TextSpecError::NgramRange {
                min_n: ngram_min,
                max_n: ngram_max,
            });
        }
        if let Some(idf) = tfidf.as_ref().and_then(|t| t.idf.as_ref()) {
            if idf.len() != width {
                return Err(TextSpecError::IdfLength {
                    expected: width,
                    got: idf.len(),
                });
            }
            if let Some((index, &value)) = idf
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v > 0.0))
            {
                return Err(TextSpecError::IdfValue { index, value });
            }
        }
        let token_re =
            Regex::new(TOKEN_PATTERN).map_err(|e| TextSpecError::TokenPattern(e.to_string()))?;
        Ok(TextEncoder {
            terms,
            width,
            lowercase,
            ngram_min,
            ngram_max,
            stop_words: stop_words.unwrap_or_default().into_iter().collect(),
            binary,
            tfidf,
            token_re,
        })
    }

    /// Number of columns this block contributes (`len(vocabulary)` or `n_features`).
    pub fn width(&self) -> usize {
        self.width
    }

    /// One document -> sparse entries `(column, value)`, columns relative to this block,
    /// strictly ascending, no zeros kept, equal to scikit-learn's `transform` row for `doc`.
    ///
    /// `out` is cleared first, so one buffer can be reused across calls.
    pub fn encode(&self, doc: &str, out: &mut Vec<(u32, f64)>) {
        out.clear();
        // Lowercasing the whole string (not char by char) keeps the final-sigma rule that
        // Python's `str.lower()` applies.
        let lowered;
        let text = if self.lowercase {
            lowered = doc.to_lowercase();
            lowered.as_str()
        } else {
            doc
        };
        // Stop words are removed before n-grams are built, as scikit-learn does, so a bigram
        // can span a removed stop word.
        let tokens: Vec<&str> = self
            .token_re
            .find_iter(text)
            .map(|m| m.as_str())
            .filter(|t| !self.stop_words.contains(*t))
            .collect();
        let mut gram = String::new();
        for n in self.ngram_min..=self.ngram_max {
            if n == 1 {
                for token in &tokens {
                    self.push_term(token, out);
                }
            } else {
                for window in tokens.windows(n) {
                    gram.clear();
                    for (i, token) in window.iter().enumerate() {
                        if i > 0 {
                            gram.push(' ');
                        }
                        gram.push_str(token);
                    }
                    self.push_term(&gram, out);
                }
            }
        }
        // scikit-learn sums duplicate columns (counts, or signed hash collisions); the sums
        // are of ±1.0 so the order does not matter.
        out.sort_unstable_by_key(|e| e.0);
        out.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
        // scikit-learn keeps a signed collision that cancels to 0.0 as an explicit entry,
        // and `binary` (`X.data.fill(1)`) turns it into 1.0, so zeros are dropped only after it.
        if self.binary {
            for entry in out.iter_mut() {
                entry.1 = 1.0;
            }
        }
        out.retain(|e| e.1 != 0.0);
        if let Terms::Hashing {
            norm: Some(norm), ..
        } = self.terms
        {
            normalize(norm, out);
        }
        if let Some(tfidf) = &self.tfidf {
            if tfidf.sublinear_tf {
                for entry in out.iter_mut() {
                    entry.1 = entry.1.ln() + 1.0;
                }
            }
            if let Some(idf) = &tfidf.idf {
                for entry in out.iter_mut() {
                    // Columns are below `width`, which `new` checked equals `idf.len()`.
                    entry.1 *= idf[entry.0 as usize];
                }
            }
            if let Some(norm) = tfidf.norm {
                normalize(norm, out);
            }
            // `1 + ln(tf)` is 0 for tf = 1/e, reachable only after a hashing norm.
            out.retain(|e| e.1 != 0.0);
        }
    }

    /// Maps one term to its column and pushes a unit (or signed unit) count.
    fn push_term(&self, term: &str, out: &mut Vec<(u32, f64)>) {
        match &self.terms {
            Terms::Vocabulary(vocabulary) => {
                if let Some(&column) = vocabulary.get(term) {
                    out.push((column, 1.0));
                }
            }
            Terms::Hashing {
                n_features,
                alternate_sign,
                ..
            } => {
                let h = murmurhash3_32_signed(term);
                let sign = if *alternate_sign && h < 0 { -1.0 } else { 1.0 };
                out.push((hash_column(h, *n_features), sign));
            }
        }
    }
}

/// Checks that the vocabulary indices are a permutation of `0..len`, as scikit-learn requires.
fn check_vocabulary(vocabulary: &BTreeMap<String, u32>) -> Result<(), TextSpecError> {
    let size = vocabulary.len();
    if size == 0 {
        return Err(TextSpecError::EmptyVocabulary);
    }
    let mut owner: Vec<Option<&str>> = vec![None; size];
    for (term, &index) in vocabulary {
        let Some(slot) = owner.get_mut(index as usize) else {
            return Err(TextSpecError::VocabularyIndexOutOfRange {
                term: term.clone(),
                index,
                size,
            });
        };
        if let Some(previous) = *slot {
            // Order the pair so the message does not depend on hash-map iteration order.
            let (first, second) = if previous <= term.as_str() {
                (previous, term.as_str())
            } else {
                (term.as_str(), previous)
            };
            return Err(TextSpecError::VocabularyDuplicateIndex {
                index,
                first: first.to_owned(),
                second: second.to_owned(),
            });
        }
        *slot = Some(term);
    }
    // `size` distinct indices all below `size` cover every column exactly once.
    Ok(())
}

/// scikit-learn's `murmurhash3_32(term.encode("utf-8"), seed=0, positive=False)`.
fn murmurhash3_32_signed(term: &str) -> i32 {
    // Reading from an in-memory byte slice cannot fail, so the error arm is unreachable.
    let unsigned = murmur3::murmur3_32(&mut term.as_bytes(), 0).unwrap_or(0);
    unsigned as i32
}

/// scikit-learn's `abs(h) % n_features`, where `abs(-2**31)` is defined as `2**31`.
fn hash_column(h: i32, n_features: u32) -> u32 {
    h.unsigned_abs() % n_features
}

/// scikit-learn's `inplace_csr_row_normalize_l1/l2`: sum in column order, skip empty rows,
/// divide (not multiply by a reciprocal) so the rounding matches.
fn normalize(norm: Norm, row: &mut [(u32, f64)]) {
    let total = match norm {
        Norm::L1 => row.iter().fold(0.0, |acc, e| acc + e.1.abs()),
        Norm::L2 => row.iter().fold(0.0, |acc, e| acc + e.1 * e.1),
    };
    if total == 0.0 {
        return;
    }
    let divisor = match norm {
        Norm::L1 => total,
        Norm::L2 => total.sqrt(),
    };
    for entry in row.iter_mut() {
        entry.1 /= divisor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const FIXTURE: &str = include_str!("../../tests/fixtures/model/text_parity.json");

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).expect("fixture is valid JSON")
    }

    fn count(vocabulary: &[(&str, u32)], ngram_range: (usize, usize)) -> Vectorizer {
        Vectorizer::CountVectorizer {
            vocabulary: vocabulary.iter().map(|&(t, i)| (t.to_owned(), i)).collect(),
            lowercase: true,
            ngram_range,
            stop_words: None,
            binary: false,
        }
    }

    fn hashing(
        n_features: u32,
        alternate_sign: bool,
        binary: bool,
        norm: Option<Norm>,
    ) -> Vectorizer {
        Vectorizer::HashingVectorizer {
            n_features,
            alternate_sign,
            lowercase: true,
            ngram_range: (1, 1),
            stop_words: None,
            binary,
            norm,
        }
    }

    fn tfidf(idf: Option<Vec<f64>>, sublinear_tf: bool) -> Option<Tfidf> {
        Some(Tfidf {
            idf,
            sublinear_tf,
            norm: Some(Norm::L2),
        })
    }

    #[test]
    fn matches_sklearn_on_every_fixture_config() {
        let fixture = fixture();
        let docs: Vec<&str> = fixture["docs"]
            .as_array()
            .expect("docs")
            .iter()
            .map(|d| d.as_str().expect("doc is a string"))
            .collect();
        let configs = fixture["configs"].as_array().expect("configs");
        assert!(configs.len() >= 19);
        let mut worst = 0.0_f64;
        let mut entries = 0usize;
        let mut zeros_dropped = 0usize;
        let mut out = Vec::new();
        for config in configs {
            let name = config["name"].as_str().expect("name");
            let steps = config["steps"].as_array().expect("steps");
            let vectorizer: Vectorizer = serde_json::from_value(steps[0].clone()).expect(name);
            // Serializing back must give the SCHEMA step object unchanged.
            assert_eq!(
                serde_json::to_value(&vectorizer).expect(name),
                steps[0],
                "{name}"
            );
            let tfidf: Option<Tfidf> = steps.get(1).map(|s| {
                let t: Tfidf = serde_json::from_value(s.clone()).expect(name);
                assert_eq!(serde_json::to_value(&t).expect(name), *s, "{name}");
                t
            });
            let encoder = TextEncoder::new(vectorizer, tfidf).expect(name);
            let rows = config["rows"].as_array().expect("rows");
            assert_eq!(rows.len(), docs.len(), "{name}");
            for (doc, row) in docs.iter().zip(rows) {
                let indices = row["indices"].as_array().expect("indices");
                let data = row["data"].as_array().expect("data");
                // scikit-learn may keep explicit zeros (cancelled signed collisions); encode
                // must not emit them, and every other entry must match.
                let expected: Vec<(u32, f64)> = indices
                    .iter()
                    .zip(data)
                    .map(|(j, v)| {
                        (
                            j.as_u64().expect("index") as u32,
                            v.as_f64().expect("value"),
                        )
                    })
                    .filter(|e| {
                        let zero = e.1 == 0.0;
                        zeros_dropped += usize::from(zero);
                        !zero
                    })
                    .collect();
                encoder.encode(doc, &mut out);
                let got_cols: Vec<u32> = out.iter().map(|e| e.0).collect();
                let want_cols: Vec<u32> = expected.iter().map(|e| e.0).collect();
                assert_eq!(got_cols, want_cols, "{name}: columns for {doc:?}");
                assert!(
                    got_cols.windows(2).all(|w| w[0] < w[1]),
                    "{name}: ascending"
                );
                assert!(
                    got_cols.iter().all(|&c| (c as usize) < encoder.width()),
                    "{name}"
                );
                for (&(col, got), &(_, want)) in out.iter().zip(&expected) {
                    assert!(
                        got != 0.0 && got.is_finite(),
                        "{name}: {doc:?} col {col} = {got}"
                    );
                    let rel = (got - want).abs() / want.abs().max(got.abs());
                    assert!(
                        rel <= 1e-12,
                        "{name}: {doc:?} col {col}: got {got}, want {want}"
                    );
                    worst = worst.max(rel);
                    entries += 1;
                }
            }
        }
        println!(
            "{} configs, {entries} entries matched, worst relative error {worst:e}, {zeros_dropped} explicit sklearn zeros not emitted",
            configs.len()
        );
    }

    #[test]
    fn murmur_matches_sklearn_signed_hash() {
        let fixture = fixture();
        let checks = fixture["hash_checks"].as_array().expect("hash_checks");
        assert!(checks.len() > 500);
        for check in checks {
            let s = check["s"].as_str().expect("s");
            let h = check["h"].as_i64().expect("h");
            assert_eq!(i64::from(murmurhash3_32_signed(s)), h, "{s:?}");
        }
    }

    #[test]
    fn hash_column_handles_int_min_like_sklearn() {
        for n in [1u32, 2, 3, 7, 16, 1000, 1 << 20, MAX_N_FEATURES] {
            // scikit-learn's special case for h == -2**31.
            let sklearn = (2_147_483_647u64 - (u64::from(n) - 1)) % u64::from(n);
            assert_eq!(
                u64::from(hash_column(i32::MIN, n)),
                sklearn,
                "n_features {n}"
            );
            assert_eq!(hash_column(-5, n), 5 % n);
            assert_eq!(hash_column(i32::MAX, n), (i32::MAX as u32) % n);
        }
    }

    #[test]
    fn deserializes_schema_step_objects() {
        let v: Vectorizer = serde_json::from_str(
            r#"{"kind":"count_vectorizer","vocabulary":{"term":0,"two words":1},"lowercase":true,
                "ngram_range":[1,2],"stop_words":["the","a"],"binary":false}"#,
        )
        .expect("count_vectorizer");
        assert!(matches!(
            v,
            Vectorizer::CountVectorizer {
                ngram_range: (1, 2),
                ..
            }
        ));
        let h: Vectorizer = serde_json::from_str(
            r#"{"kind":"hashing_vectorizer","n_features":1048576,"alternate_sign":true,"lowercase":true,
                "ngram_range":[1,1],"stop_words":null,"binary":false,"norm":"l2"}"#,
        )
        .expect("hashing_vectorizer");
        assert!(matches!(
            h,
            Vectorizer::HashingVectorizer {
                norm: Some(Norm::L2),
                ..
            }
        ));
        let t: Tfidf =
            serde_json::from_str(r#"{"kind":"tfidf","idf":null,"sublinear_tf":false,"norm":"l1"}"#)
                .expect("tfidf");
        assert_eq!(
            t,
            Tfidf {
                idf: None,
                sublinear_tf: false,
                norm: Some(Norm::L1)
            }
        );
        assert_eq!(
            serde_json::to_value(&t).expect("serialize"),
            json!({"kind":"tfidf","idf":null,"sublinear_tf":false,"norm":"l1"})
        );
        // The tag is optional for the struct, so an enclosing tagged enum can consume it.
        let bare: Tfidf = serde_json::from_str(r#"{"idf":[1.5],"sublinear_tf":true,"norm":null}"#)
            .expect("bare tfidf");
        assert_eq!(bare.idf, Some(vec![1.5]));
    }

    #[test]
    fn works_inside_an_enclosing_step_enum() {
        // How an integrator can embed these types in a SCHEMA `Step` enum.
        #[derive(Debug, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Step {
            MaxAbsScaler {
                #[allow(dead_code)]
                scale: Vec<f64>,
            },
            Tfidf(Tfidf),
            #[serde(untagged)]
            Vectorizer(Vectorizer),
        }
        let steps: Vec<Step> = serde_json::from_str(
            r#"[{"kind":"count_vectorizer","vocabulary":{"ab":0},"lowercase":true,"ngram_range":[1,1],"stop_words":null,"binary":false},
                {"kind":"tfidf","idf":[2.0],"sublinear_tf":false,"norm":"l2"},
                {"kind":"max_abs_scaler","scale":[1.0]}]"#,
        )
        .expect("steps");
        assert!(matches!(
            steps[0],
            Step::Vectorizer(Vectorizer::CountVectorizer { .. })
        ));
        assert!(matches!(&steps[1], Step::Tfidf(t) if t.idf == Some(vec![2.0])));
        assert!(matches!(steps[2], Step::MaxAbsScaler { .. }));
    }

    #[test]
    fn rejects_malformed_step_json() {
        let bad = [
            // ngram_range must be a two-element array.
            r#"{"kind":"count_vectorizer","vocabulary":{"ab":0},"lowercase":true,"ngram_range":[1,1,1],"stop_words":null,"binary":false}"#,
            r#"{"kind":"count_vectorizer","vocabulary":{"ab":0},"lowercase":true,"ngram_range":1,"stop_words":null,"binary":false}"#,
            // A field the runtime does not implement must not be silently ignored.
            r#"{"kind":"count_vectorizer","vocabulary":{"ab":0},"lowercase":true,"ngram_range":[1,1],"stop_words":null,"binary":false,"strip_accents":"unicode"}"#,
            // A missing optional field is an error, not a silent null.
            r#"{"kind":"hashing_vectorizer","n_features":16,"alternate_sign":true,"lowercase":true,"ngram_range":[1,1],"stop_words":null,"binary":false}"#,
            r#"{"kind":"hashing_vectorizer","n_features":16,"alternate_sign":true,"lowercase":true,"ngram_range":[1,1],"stop_words":null,"binary":false,"norm":"max"}"#,
            r#"{"kind":"char_vectorizer"}"#,
        ];
        for json in bad {
            assert!(serde_json::from_str::<Vectorizer>(json).is_err(), "{json}");
        }
        assert!(
            serde_json::from_str::<Tfidf>(
                r#"{"idf":null,"sublinear_tf":false,"norm":null,"smooth_idf":true}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Tfidf>(r#"{"idf":null,"sublinear_tf":false}"#).is_err());
        assert!(
            serde_json::from_str::<Tfidf>(
                r#"{"kind":"other","idf":null,"sublinear_tf":false,"norm":null}"#
            )
            .is_err()
        );
    }

    #[test]
    fn refuses_specs_it_cannot_reproduce() {
        let vocab = [("ab", 0), ("cd", 1)];
        for (lo, hi) in [(0, 1), (2, 1), (1, 3), (3, 3)] {
            assert_eq!(
                TextEncoder::new(count(&vocab, (lo, hi)), None).err(),
                Some(TextSpecError::NgramRange {
                    min_n: lo,
                    max_n: hi
                })
            );
        }
        assert_eq!(
            TextEncoder::new(count(&[], (1, 1)), None).err(),
            Some(TextSpecError::EmptyVocabulary)
        );
        assert_eq!(
            TextEncoder::new(count(&[("ab", 0), ("cd", 2)], (1, 1)), None).err(),
            Some(TextSpecError::VocabularyIndexOutOfRange {
                term: "cd".into(),
                index: 2,
                size: 2
            })
        );
        assert_eq!(
            TextEncoder::new(count(&[("ab", 1), ("cd", 1)], (1, 1)), None).err(),
            Some(TextSpecError::VocabularyDuplicateIndex {
                index: 1,
                first: "ab".into(),
                second: "cd".into()
            })
        );
        assert_eq!(
            TextEncoder::new(count(&vocab, (1, 1)), tfidf(Some(vec![1.0]), false)).err(),
            Some(TextSpecError::IdfLength {
                expected: 2,
                got: 1
            })
        );
        for value in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err =
                TextEncoder::new(count(&vocab, (1, 1)), tfidf(Some(vec![1.0, value]), false)).err();
            assert!(
                matches!(err, Some(TextSpecError::IdfValue { index: 1, .. })),
                "{value}"
            );
        }
        for n in [0, MAX_N_FEATURES + 1, u32::MAX] {
            assert_eq!(
                TextEncoder::new(hashing(n, true, false, None), None).err(),
                Some(TextSpecError::NFeatures(n))
            );
        }
        assert_eq!(
            TextEncoder::new(hashing(4, true, false, Some(Norm::L2)), tfidf(None, true)).err(),
            Some(TextSpecError::SublinearOnSignedHashing)
        );
        // Binary or unsigned hashing keeps every value positive, so sublinear tf is fine,
        // and scikit-learn allows tf-idf after a normalized hashing vectorizer.
        assert!(
            TextEncoder::new(hashing(4, true, true, Some(Norm::L2)), tfidf(None, true)).is_ok()
        );
        assert!(
            TextEncoder::new(
                hashing(4, false, false, Some(Norm::L2)),
                tfidf(Some(vec![1.0; 4]), true)
            )
            .is_ok()
        );
        // The error text names the problem.
        let msg = TextSpecError::NgramRange { min_n: 1, max_n: 3 }.to_string();
        assert!(msg.contains("(1, 3)"), "{msg}");
    }

    #[test]
    fn encode_clears_and_reuses_the_buffer() {
        let encoder = TextEncoder::new(count(&[("ab", 0), ("cd", 1), ("ab cd", 2)], (1, 2)), None)
            .expect("spec");
        assert_eq!(encoder.width(), 3);
        let mut out = vec![(9, 9.0)];
        encoder.encode("AB cd x ab", &mut out);
        assert_eq!(out, vec![(0, 2.0), (1, 1.0), (2, 1.0)]);
        encoder.encode("nothing here", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn tokenizer_follows_python_word_characters() {
        let encoder = TextEncoder::new(
            count(
                &[
                    ("nai", 0),
                    ("ve", 1),
                    ("naïve", 2),
                    ("σίσυφος", 3),
                    ("stanbul", 4),
                    ("a_b", 5),
                ],
                (1, 1),
            ),
            None,
        )
        .expect("spec");
        let mut out = Vec::new();
        // A combining diaeresis is not a word character in Python, so it splits the token.
        encoder.encode("nai\u{308}ve", &mut out);
        assert_eq!(out, vec![(0, 1.0), (1, 1.0)]);
        encoder.encode("na\u{ef}ve NAÏVE", &mut out);
        assert_eq!(out, vec![(2, 2.0)]);
        // Whole-string lowercasing applies the final-sigma rule; `İ` becomes `i` plus a combining
        // dot above, which then splits the token exactly as in Python.
        encoder.encode("ΣΊΣΥΦΟΣ İstanbul a_b", &mut out);
        assert_eq!(out, vec![(3, 1.0), (4, 1.0), (5, 1.0)]);
    }
}
