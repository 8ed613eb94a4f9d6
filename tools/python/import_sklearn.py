#!/usr/bin/env python3
"""Convert a fitted scikit-learn linear model into a stream-infer artifact (format_version 2).

Usage:
    python import_sklearn.py MODEL.joblib|MODEL.pkl --name NAME [--target TARGET]
        [--out OUT.json] [--text-field FIELD] [--features a,b,c]

The artifact contract is /work/scratch/SCHEMA.md. The importer writes `"version": null`;
the Rust tool computes the content hash.

Structure
---------
* `load_model` unpickles with joblib (falling back to plain pickle) and refuses files
  pickled by another scikit-learn version.
* Every supported scikit-learn class has one converter function, registered by exact class
  in `TRANSFORMS` or `ESTIMATORS`. Anything not in a registry is refused, naming the
  object and its path in the pipeline.
* `convert` splits a (possibly nested) Pipeline into transforms + final estimator, lays the
  transforms out as SCHEMA.md "blocks" (+ "then" scalers), converts the estimator and checks
  that all widths agree.

Refusals raise `Refusal`; the CLI prints its message as one line on stderr and exits 2.
Unpickling runs code from the file: only import files you trust.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import pickle
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import InconsistentVersionWarning, NotFittedError
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    GammaRegressor,
    Lasso,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
    TweedieRegressor,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
)
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

FORMAT_VERSION = 2
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
EXIT_REFUSED = 2


class Refusal(Exception):
    """The model cannot be represented as an artifact; the message is shown to the user."""


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def cls_name(obj: Any) -> str:
    return type(obj).__name__


def step_path(parent: str | None, child: str) -> str:
    """Human-readable location of an object inside the model, e.g.
    "pipeline step 'ct' > transformer 'num' > step 'scaler'"."""
    return child if parent is None else f"{parent} > {child}"


def floats(values: Any, what: str, where: str, owner: Any) -> list[float]:
    """A 1-D float array as a list of Python floats; refuses NaN/Infinity."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise Refusal(f"{where}: {cls_name(owner)} has non-finite {what} (contains {bad})")
    return [float(v) for v in arr]


def float_matrix(values: Any, what: str, where: str, owner: Any) -> list[list[float]]:
    arr = values.toarray() if sp.issparse(values) else np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise Refusal(f"{where}: {cls_name(owner)} {what} has unexpected shape {arr.shape}")
    return [floats(row, what, where, owner) for row in arr]


def scalar_float(value: Any, what: str, where: str, owner: Any) -> float:
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.size != 1:
        raise Refusal(f"{where}: {cls_name(owner)} {what} has {arr.size} values; only one output is supported")
    return floats(arr, what, where, owner)[0]


def show(value: Any) -> str:
    """repr() without numpy's type wrapper: np.float64(0.0) -> 0.0."""
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def json_label(value: Any, what: str, where: str, owner: Any) -> str | int:
    """A class label or category value as a JSON string or integer (kept exactly)."""
    if isinstance(value, (bool, np.bool_)):
        raise Refusal(f"{where}: {cls_name(owner)} {what} {show(value)} is a boolean; only strings and integers are supported")
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        raise Refusal(
            f"{where}: {cls_name(owner)} {what} {show(value)} is a float; only strings and integers are supported "
            f"(refit with integer or string values)"
        )
    raise Refusal(f"{where}: {cls_name(owner)} {what} {show(value)} has unsupported type {type(value).__name__}")


def require_param(obj: Any, where: str, param: str, allowed: Callable[[Any], bool], expected: str) -> None:
    value = getattr(obj, param)
    if not allowed(value):
        raise Refusal(f"{where}: {cls_name(obj)} option {param}={show(value)} is not supported ({expected})")


def require_fitted(obj: Any, where: str) -> None:
    try:
        check_is_fitted(obj)
    except NotFittedError:
        raise Refusal(f"{where}: {cls_name(obj)} is not fitted") from None


def is_missing_marker(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------------------
# transforms: one converter per class. Each returns a list of SCHEMA.md Steps.
# --------------------------------------------------------------------------------------


def convert_standard_scaler(obj: StandardScaler, where: str) -> list[dict]:
    mean = floats(obj.mean_, "mean_", where, obj) if obj.with_mean else None
    scale = floats(obj.scale_, "scale_", where, obj) if obj.with_std else None
    return [{"kind": "standard_scaler", "mean": mean, "scale": scale}]


def convert_min_max_scaler(obj: MinMaxScaler, where: str) -> list[dict]:
    require_param(obj, where, "clip", lambda v: v is False, "only clip=False")
    return [{"kind": "min_max_scaler", "min": floats(obj.min_, "min_", where, obj),
             "scale": floats(obj.scale_, "scale_", where, obj)}]


def convert_max_abs_scaler(obj: MaxAbsScaler, where: str) -> list[dict]:
    return [{"kind": "max_abs_scaler", "scale": floats(obj.scale_, "scale_", where, obj)}]


def convert_simple_imputer(obj: SimpleImputer, where: str) -> list[dict]:
    require_param(obj, where, "missing_values", is_missing_marker, "only NaN or None")
    require_param(obj, where, "add_indicator", lambda v: v is False, "only add_indicator=False")
    require_param(obj, where, "strategy", lambda v: v in ("mean", "median", "most_frequent", "constant"),
                  "mean, median, most_frequent or constant")
    fill: list[Any] = []
    for i, stat in enumerate(obj.statistics_):
        if isinstance(stat, (str, np.str_)):
            fill.append(str(stat))
        elif isinstance(stat, (bool, np.bool_)):
            raise Refusal(f"{where}: SimpleImputer fill value {show(stat)} for column {i} is a boolean")
        elif isinstance(stat, (int, np.integer)):
            fill.append(int(stat))
        elif isinstance(stat, (float, np.floating)):
            if not math.isfinite(float(stat)):
                # sklearn drops such a column (keep_empty_features=False): the width would change.
                raise Refusal(
                    f"{where}: SimpleImputer has no fill value for column {i} (it was all-missing when fitted, "
                    f"so sklearn drops it); refit without that column or with keep_empty_features=True"
                )
            fill.append(float(stat))
        else:
            raise Refusal(f"{where}: SimpleImputer fill value {show(stat)} has unsupported type {type(stat).__name__}")
    return [{"kind": "impute", "strategy": obj.strategy, "fill": fill}]


def convert_one_hot_encoder(obj: OneHotEncoder, where: str) -> list[dict]:
    require_param(obj, where, "min_frequency", lambda v: v is None, "infrequent-category grouping is not supported")
    require_param(obj, where, "max_categories", lambda v: v is None, "infrequent-category grouping is not supported")
    if getattr(obj, "_infrequent_enabled", False):
        raise Refusal(f"{where}: OneHotEncoder groups infrequent categories, which is not supported")
    # 'infrequent_if_exist' and 'warn' behave exactly like 'ignore' when no infrequent categories exist
    # (checked just above): unknown values encode as all zeros.
    handle_unknown = {"error": "error", "ignore": "ignore", "infrequent_if_exist": "ignore", "warn": "ignore"}.get(
        obj.handle_unknown)
    if handle_unknown is None:
        raise Refusal(f"{where}: OneHotEncoder option handle_unknown={obj.handle_unknown!r} is not supported")
    categories = []
    for i, cats in enumerate(obj.categories_):
        values = []
        for c in cats:
            if is_missing_marker(c) or (isinstance(c, np.floating) and np.isnan(c)):
                raise Refusal(f"{where}: OneHotEncoder has a missing value (NaN/None) as a category of column {i}; "
                              f"impute it before encoding")
            values.append(json_label(c, f"category of column {i}", where, obj))
        categories.append(values)
    drop_idx = getattr(obj, "drop_idx_", None)
    if drop_idx is None:
        drop = None
    else:
        drop = [None if d is None else int(d) for d in drop_idx]
        if all(d is None for d in drop):
            drop = None  # e.g. drop='if_binary' with no binary column
    return [{"kind": "one_hot", "categories": categories, "drop": drop, "handle_unknown": handle_unknown}]


def _text_options(obj: Any, where: str) -> dict:
    """Options shared by CountVectorizer/TfidfVectorizer/HashingVectorizer; refuses the rest."""
    require_param(obj, where, "input", lambda v: v == "content", "only input='content'")
    require_param(obj, where, "analyzer", lambda v: v == "word", "only analyzer='word'")
    require_param(obj, where, "tokenizer", lambda v: v is None, "no custom tokenizer")
    require_param(obj, where, "preprocessor", lambda v: v is None, "no custom preprocessor")
    require_param(obj, where, "token_pattern", lambda v: v == DEFAULT_TOKEN_PATTERN,
                  f"only the default token_pattern {DEFAULT_TOKEN_PATTERN!r}")
    require_param(obj, where, "strip_accents", lambda v: v is None, "only strip_accents=None")
    ngram = tuple(int(n) for n in obj.ngram_range)
    if ngram not in ((1, 1), (1, 2), (2, 2)):
        raise Refusal(f"{where}: {cls_name(obj)} option ngram_range={obj.ngram_range!r} is not supported "
                      f"(only (1, 1), (1, 2) or (2, 2))")
    stop = obj.stop_words
    if stop is None:
        stop_words = None
    elif isinstance(stop, str):
        if stop != "english":
            raise Refusal(f"{where}: {cls_name(obj)} option stop_words={stop!r} is not supported "
                          f"('english', a list of strings, or None)")
        stop_words = sorted(ENGLISH_STOP_WORDS)
    else:
        words = list(stop)
        if not all(isinstance(w, str) for w in words):
            raise Refusal(f"{where}: {cls_name(obj)} option stop_words contains non-strings")
        stop_words = sorted(set(words))  # sklearn uses frozenset(stop_words); order is irrelevant
    return {"lowercase": bool(obj.lowercase), "ngram_range": list(ngram), "stop_words": stop_words,
            "binary": bool(obj.binary)}


def _require_float64(obj: Any, where: str) -> None:
    require_param(obj, where, "dtype", lambda v: np.dtype(v) == np.float64,
                  "only dtype=float64; other dtypes change the arithmetic")


def _count_vectorizer_step(obj: CountVectorizer, where: str) -> dict:
    vocab = {str(term): int(idx) for term, idx in obj.vocabulary_.items()}
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise Refusal(f"{where}: {cls_name(obj)} vocabulary_ indices are not 0..{len(vocab) - 1}")
    step = {"kind": "count_vectorizer", "vocabulary": vocab}
    step.update(_text_options(obj, where))
    return step


def convert_count_vectorizer(obj: CountVectorizer, where: str) -> list[dict]:
    return [_count_vectorizer_step(obj, where)]


def _tfidf_step(obj: Any, where: str) -> dict:
    require_param(obj, where, "norm", lambda v: v in ("l1", "l2", None), "'l1', 'l2' or None")
    idf = floats(obj.idf_, "idf_", where, obj) if obj.use_idf else None
    return {"kind": "tfidf", "idf": idf, "sublinear_tf": bool(obj.sublinear_tf), "norm": obj.norm}


def convert_tfidf_vectorizer(obj: TfidfVectorizer, where: str) -> list[dict]:
    _require_float64(obj, where)
    return [_count_vectorizer_step(obj, where), _tfidf_step(obj, where)]


def convert_tfidf_transformer(obj: TfidfTransformer, where: str) -> list[dict]:
    return [_tfidf_step(obj, where)]


def convert_hashing_vectorizer(obj: HashingVectorizer, where: str) -> list[dict]:
    _require_float64(obj, where)
    require_param(obj, where, "norm", lambda v: v in ("l1", "l2", None), "'l1', 'l2' or None")
    step = {"kind": "hashing_vectorizer", "n_features": int(obj.n_features),
            "alternate_sign": bool(obj.alternate_sign)}
    opts = _text_options(obj, where)
    step.update({k: opts[k] for k in ("lowercase", "ngram_range", "stop_words", "binary")})
    step["norm"] = obj.norm
    return [step]


TRANSFORMS: dict[type, Callable[[Any, str], list[dict]]] = {
    StandardScaler: convert_standard_scaler,
    MinMaxScaler: convert_min_max_scaler,
    MaxAbsScaler: convert_max_abs_scaler,
    SimpleImputer: convert_simple_imputer,
    OneHotEncoder: convert_one_hot_encoder,
    CountVectorizer: convert_count_vectorizer,
    TfidfVectorizer: convert_tfidf_vectorizer,
    TfidfTransformer: convert_tfidf_transformer,
    HashingVectorizer: convert_hashing_vectorizer,
}
VECTORIZERS = (CountVectorizer, TfidfVectorizer, HashingVectorizer)
SCALER_KINDS = ("standard_scaler", "min_max_scaler", "max_abs_scaler")


# --------------------------------------------------------------------------------------
# estimators: one converter per class. Each returns (Estimator dict, note or None).
# --------------------------------------------------------------------------------------


def _coef_vector(obj: Any, where: str) -> list[float]:
    coef = obj.coef_.toarray() if sp.issparse(obj.coef_) else np.asarray(obj.coef_)
    if coef.ndim == 2:
        if coef.shape[0] != 1:
            raise Refusal(f"{where}: {cls_name(obj)} predicts {coef.shape[0]} targets; only one output is supported")
        coef = coef[0]
    return floats(coef, "coef_", where, obj)


def convert_linear_regression(obj: Any, where: str) -> tuple[dict, str | None]:
    return {"kind": "linear_regression", "coef": _coef_vector(obj, where),
            "intercept": scalar_float(obj.intercept_, "intercept_", where, obj)}, None


def _glm(obj: Any, where: str, power: float, link: str) -> tuple[dict, str | None]:
    return {"kind": "glm", "power": float(power), "link": link, "coef": _coef_vector(obj, where),
            "intercept": scalar_float(obj.intercept_, "intercept_", where, obj)}, None


def convert_poisson(obj: PoissonRegressor, where: str) -> tuple[dict, str | None]:
    return _glm(obj, where, 1.0, "log")


def convert_gamma(obj: GammaRegressor, where: str) -> tuple[dict, str | None]:
    return _glm(obj, where, 2.0, "log")


def convert_tweedie(obj: TweedieRegressor, where: str) -> tuple[dict, str | None]:
    link = obj.link
    if link == "auto":  # sklearn: identity for power <= 0, log otherwise
        link = "identity" if obj.power <= 0 else "log"
    if link not in ("identity", "log"):
        raise Refusal(f"{where}: TweedieRegressor option link={obj.link!r} is not supported")
    return _glm(obj, where, obj.power, link)


def _classes(obj: Any, where: str) -> list[str | int]:
    classes = [json_label(c, "class label", where, obj) for c in obj.classes_]
    if len(classes) < 2:
        raise Refusal(f"{where}: {cls_name(obj)} was fitted on a single class")
    return classes


def _class_coef(obj: Any, where: str, n_classes: int) -> tuple[list[list[float]], list[float]]:
    """coef_ as K rows (1 row for binary). RidgeClassifier keeps a 1-D coef_ for binary problems."""
    coef = obj.coef_.toarray() if sp.issparse(obj.coef_) else np.asarray(obj.coef_, dtype=np.float64)
    if coef.ndim == 1:
        coef = coef.reshape(1, -1)
    intercept = np.atleast_1d(np.asarray(obj.intercept_, dtype=np.float64))
    rows = 1 if n_classes == 2 else n_classes
    if coef.shape[0] != rows or intercept.shape != (rows,):
        raise Refusal(f"{where}: {cls_name(obj)} has coef_ shape {coef.shape} / intercept_ shape {intercept.shape}, "
                      f"expected {rows} row(s) for {n_classes} classes")
    return float_matrix(coef, "coef_", where, obj), floats(intercept, "intercept_", where, obj)


def convert_logistic_regression(obj: LogisticRegression, where: str) -> tuple[dict, str | None]:
    classes = _classes(obj, where)
    coef, intercept = _class_coef(obj, where, len(classes))
    # scikit-learn 1.8 removed the multi_class parameter: binary problems use a sigmoid on one row,
    # more classes use softmax over K rows. One-vs-rest logistic is OneVsRestClassifier(LogisticRegression).
    if getattr(obj, "multi_class", "deprecated") != "deprecated":
        raise Refusal(f"{where}: LogisticRegression option multi_class={obj.multi_class!r} is not supported")
    mode = "binary" if len(classes) == 2 else "multinomial"
    return {"kind": "logistic", "classes": classes, "coef": coef, "intercept": intercept, "multi_class": mode}, None


def _linear_classifier(obj: Any, where: str) -> dict:
    classes = _classes(obj, where)
    coef, intercept = _class_coef(obj, where, len(classes))
    return {"kind": "linear_classifier", "classes": classes, "coef": coef, "intercept": intercept}


def convert_sgd_classifier(obj: SGDClassifier, where: str) -> tuple[dict, str | None]:
    if obj.loss == "log_loss":
        # predict_proba = sigmoid(z) for binary, OvR-normalised sigmoids for multiclass
        est = _linear_classifier(obj, where)
        mode = "binary" if len(est["classes"]) == 2 else "ovr"
        return {"kind": "logistic", "classes": est["classes"], "coef": est["coef"], "intercept": est["intercept"],
                "multi_class": mode}, None
    note = None
    if obj.loss == "modified_huber":
        note = (f"{where}: SGDClassifier(loss='modified_huber') is imported as linear_classifier: labels and "
                f"decision values match sklearn, predict_proba is not served")
    return _linear_classifier(obj, where), note


def convert_linear_svc(obj: LinearSVC, where: str) -> tuple[dict, str | None]:
    return _linear_classifier(obj, where), None


def convert_ridge_classifier(obj: RidgeClassifier, where: str) -> tuple[dict, str | None]:
    if getattr(obj._label_binarizer, "y_type_", "") == "multilabel-indicator":
        raise Refusal(f"{where}: RidgeClassifier was fitted on multilabel targets, which is not supported")
    return _linear_classifier(obj, where), None


def convert_one_vs_rest(obj: OneVsRestClassifier, where: str) -> tuple[dict, str | None]:
    """OneVsRestClassifier(LogisticRegression): the scikit-learn >= 1.8 way to get OvR logistic."""
    if obj.label_binarizer_.y_type_ not in ("binary", "multiclass"):
        raise Refusal(f"{where}: OneVsRestClassifier was fitted on {obj.label_binarizer_.y_type_} targets; "
                      f"only binary/multiclass are supported")
    for i, inner in enumerate(obj.estimators_):
        inner_where = step_path(where, f"estimator {i}")
        if type(inner) is not LogisticRegression:
            raise Refusal(f"{inner_where}: OneVsRestClassifier is supported only around LogisticRegression, "
                          f"got {cls_name(inner)} (a class absent from a training fold gives a constant predictor)")
        if len(inner.classes_) != 2:
            raise Refusal(f"{inner_where}: expected a binary LogisticRegression")
    classes = _classes(obj, where)
    coef = [float_matrix(e.coef_, "coef_", where, e)[0] for e in obj.estimators_]
    intercept = [scalar_float(e.intercept_, "intercept_", where, e) for e in obj.estimators_]
    mode = "binary" if len(classes) == 2 else "ovr"
    return {"kind": "logistic", "classes": classes, "coef": coef, "intercept": intercept, "multi_class": mode}, None


ESTIMATORS: dict[type, Callable[[Any, str], tuple[dict, str | None]]] = {
    LinearRegression: convert_linear_regression,
    Ridge: convert_linear_regression,
    Lasso: convert_linear_regression,
    ElasticNet: convert_linear_regression,
    SGDRegressor: convert_linear_regression,
    PoissonRegressor: convert_poisson,
    GammaRegressor: convert_gamma,
    TweedieRegressor: convert_tweedie,
    LogisticRegression: convert_logistic_regression,
    SGDClassifier: convert_sgd_classifier,
    LinearSVC: convert_linear_svc,
    RidgeClassifier: convert_ridge_classifier,
    OneVsRestClassifier: convert_one_vs_rest,
}

CONTAINERS = "Pipeline, ColumnTransformer (remainder 'drop' or 'passthrough')"


def unsupported(obj: Any, where: str) -> Refusal:
    est = ", ".join(c.__name__ for c in ESTIMATORS)
    tr = ", ".join(c.__name__ for c in TRANSFORMS)
    return Refusal(f"{where}: {cls_name(obj)} is not supported (stream-infer serves linear models); "
                   f"supported estimators: {est}; supported transforms: {tr}; containers: {CONTAINERS}")


# --------------------------------------------------------------------------------------
# pipeline layout
# --------------------------------------------------------------------------------------


@dataclass
class Blocks:
    """The SCHEMA.md transforms section under construction."""
    blocks: list[dict] = field(default_factory=list)
    then: list[dict] = field(default_factory=list)
    input_kinds: dict[int, str] = field(default_factory=dict)  # input column index -> kind

    def use(self, idx: int, kind: str, names: list[str], where: str) -> None:
        old = self.input_kinds.get(idx)
        if old is not None and old != kind:
            raise Refusal(f"{where}: input '{names[idx]}' is used both as {old} and as {kind}, "
                          f"which the artifact cannot express")
        self.input_kinds[idx] = kind


def flatten_pipeline(pipe: Pipeline, where: str | None) -> list[tuple[str, Any]]:
    """(path, object) for each active step; nested Pipelines are inlined."""
    out = []
    for name, step in pipe.steps:
        path = step_path(where, f"pipeline step '{name}'")
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if type(step) is Pipeline:
            out.extend(flatten_pipeline(step, path))
        else:
            out.append((path, step))
    return out


def transform_steps(obj: Any, where: str) -> list[dict]:
    """Look up and run the converter of one transform (after checking it is fitted)."""
    conv = TRANSFORMS.get(type(obj))
    if conv is None:
        raise unsupported(obj, where)
    require_fitted(obj, where)
    return conv(obj, where)


def chain_to_block(chain: list[tuple[str, Any]], cols: list[int], scalar: bool, names: list[str],
                   layout: Blocks, in_column_transformer: bool, where: str) -> tuple[dict, list[dict]]:
    """Turn a chain of transforms applied to columns `cols` into one Block.

    Returns (block, leftover): leftover are scalers that follow a one_hot in a bare pipeline and
    therefore belong in "then" (SCHEMA.md category blocks end with the one_hot)."""
    converted = [(path, obj, transform_steps(obj, path)) for path, obj in chain]
    flat_kinds = [s["kind"] for _, _, steps in converted for s in steps]
    first_path = converted[0][0] if converted else where

    if any(isinstance(obj, VECTORIZERS) for _, obj, _ in converted):
        path0, obj0, _ = converted[0]
        if not isinstance(obj0, VECTORIZERS):
            raise Refusal(f"{path0}: {cls_name(obj0)} before a text vectorizer is not supported "
                          f"(the vectorizer must come first for a text input)")
        if len(cols) != 1 or not scalar:
            raise Refusal(f"{path0}: {cls_name(obj0)} must read a single text column given as one column "
                          f"name (e.g. 'message'), not a list")
        owned = [(path, obj, s) for path, obj, ss in converted for s in ss]
        steps = [s for _, _, s in owned]
        # grammar: vectorizer [tfidf] (max_abs_scaler | standard_scaler with mean null)*
        i = 2 if len(steps) > 1 and steps[1]["kind"] == "tfidf" else 1
        for path, obj, s in owned[i:]:
            if s["kind"] in ("count_vectorizer", "hashing_vectorizer"):
                raise Refusal(f"{path}: a second text vectorizer on the same column is not supported")
            if s["kind"] == "tfidf":
                raise Refusal(f"{path}: more than one tf-idf weighting on one text column is not supported")
            if s["kind"] == "max_abs_scaler" or (s["kind"] == "standard_scaler" and s["mean"] is None):
                continue
            raise Refusal(f"{path}: {cls_name(obj)} after a text vectorizer is not supported "
                          f"(only TfidfTransformer, MaxAbsScaler, StandardScaler(with_mean=False))")
        hashing = steps[0]
        tfidf = next((s for s in steps if s["kind"] == "tfidf"), None)
        if hashing["kind"] == "hashing_vectorizer" and tfidf is not None and tfidf["sublinear_tf"] \
                and hashing["alternate_sign"] and not hashing["binary"]:
            raise Refusal(f"{first_path}: HashingVectorizer(alternate_sign=True) followed by "
                          f"TfidfTransformer(sublinear_tf=True) takes the log of negative counts (NaN in sklearn)")
        layout.use(cols[0], "text", names, first_path)
        return {"inputs": [names[cols[0]]], "steps": steps}, []

    if "one_hot" in flat_kinds:
        steps: list[dict] = []
        leftover: list[dict] = []
        seen_one_hot = False
        for path, obj, ss in converted:
            for s in ss:
                if s["kind"] == "one_hot":
                    if seen_one_hot:
                        raise Refusal(f"{path}: a second OneHotEncoder on the same columns is not supported")
                    seen_one_hot = True
                    steps.append(s)
                elif not seen_one_hot:
                    if s["kind"] != "impute" or any(x["kind"] == "impute" for x in steps):
                        raise Refusal(f"{path}: {cls_name(obj)} before a OneHotEncoder is not supported "
                                      f"(only one SimpleImputer)")
                    steps.append(s)
                else:
                    if s["kind"] not in SCALER_KINDS or in_column_transformer:
                        where_hint = ("inside a ColumnTransformer block" if in_column_transformer
                                      else "after a OneHotEncoder")
                        raise Refusal(f"{path}: {cls_name(obj)} after a OneHotEncoder {where_hint} is not "
                                      f"supported (put scalers after the ColumnTransformer instead)")
                    leftover.append(s)
        for s in steps:
            if s["kind"] == "impute" and not all(isinstance(v, (str, int)) for v in s["fill"]):
                raise Refusal(f"{first_path}: SimpleImputer fills category columns with {s['fill']}; "
                              f"only strings and integers are supported")
        for c in cols:
            layout.use(c, "category", names, first_path)
        return {"inputs": [names[c] for c in cols], "steps": steps}, leftover

    # numeric block
    if scalar:
        raise Refusal(f"{where}: numeric columns must be selected with a list, not a single column name")
    steps = []
    for path, obj, ss in converted:
        for s in ss:
            if s["kind"] not in ("impute",) + SCALER_KINDS:
                raise Refusal(f"{path}: {cls_name(obj)} is not supported on numeric columns")
            if s["kind"] == "impute":
                if steps:
                    raise Refusal(f"{path}: SimpleImputer must be the first step on numeric columns "
                                  f"(and appear once)")
                if not all(isinstance(v, (int, float)) for v in s["fill"]):
                    raise Refusal(f"{path}: SimpleImputer fills numeric columns with non-numbers {s['fill']}")
            steps.append(s)
    for c in cols:
        layout.use(c, "number", names, first_path)
    return {"inputs": [names[c] for c in cols], "steps": steps}, []


def resolve_columns(spec: Any, names_in: list[str] | None, n_features: int, where: str) -> tuple[list[int], bool]:
    """ColumnTransformer column spec -> (column indices, given-as-scalar)."""
    def by_name(name: str) -> int:
        if names_in is None:
            raise Refusal(f"{where}: column {name!r} is given by name but the model has no feature_names_in_")
        if name not in names_in:
            raise Refusal(f"{where}: column {name!r} is not among the fitted columns")
        return names_in.index(name)

    if isinstance(spec, (str, np.str_)):
        return [by_name(str(spec))], True
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, (bool, np.bool_)):
        return [int(spec) % n_features], True
    if isinstance(spec, slice):
        if isinstance(spec.start, str) or isinstance(spec.stop, str):  # label slices include the stop
            start = by_name(spec.start) if spec.start is not None else 0
            stop = by_name(spec.stop) + 1 if spec.stop is not None else n_features
            return list(range(start, stop, spec.step or 1)), False
        return list(range(n_features))[spec], False
    if callable(spec):
        raise Refusal(f"{where}: callable column selectors are not supported")
    arr = np.asarray(spec)
    if arr.size == 0:
        return [], False
    if arr.dtype.kind == "b":
        return [int(i) for i in np.flatnonzero(arr)], False
    if arr.dtype.kind in "iu":
        return [int(i) % n_features for i in arr], False
    return [by_name(str(s)) for s in arr], False


def is_identity_remainder(obj: Any) -> bool:
    """The fitted form of remainder='passthrough' is an identity FunctionTransformer."""
    return type(obj) is FunctionTransformer and obj.func is None


def layout_column_transformer(ct: ColumnTransformer, where: str, names: list[str], names_in: list[str] | None,
                              layout: Blocks) -> None:
    require_fitted(ct, where)
    if ct.transformer_weights is not None:
        raise Refusal(f"{where}: ColumnTransformer option transformer_weights is not supported")
    n = int(ct.n_features_in_)
    for name, trans, spec in ct.transformers_:
        entry = step_path(where, f"transformer '{name}'")
        cols, scalar = resolve_columns(spec, names_in, n, entry)
        if isinstance(trans, str) and trans == "drop":
            continue
        if not cols:
            continue
        if name == "remainder" and not (isinstance(ct.remainder, str) and ct.remainder in ("drop", "passthrough")):
            raise Refusal(f"{entry}: ColumnTransformer remainder={cls_name(ct.remainder)} is not supported "
                          f"(only 'drop' or 'passthrough')")
        if (isinstance(trans, str) and trans == "passthrough") or (name == "remainder" and is_identity_remainder(trans)):
            chain: list[tuple[str, Any]] = []
        elif type(trans) is Pipeline:
            chain = flatten_pipeline(trans, entry)
        else:
            chain = [(entry, trans)]
        block, leftover = chain_to_block(chain, cols, scalar, names, layout, True, entry)
        assert not leftover
        width_expected = ct.output_indices_[name].stop - ct.output_indices_[name].start
        width = block_width(block)
        if width != width_expected:
            raise Refusal(f"{entry}: internal error: computed width {width}, sklearn has {width_expected}")
        layout.blocks.append(block)


def block_width(block: dict) -> int:
    steps = block["steps"]
    for s in steps:
        if s["kind"] == "count_vectorizer":
            return len(s["vocabulary"])
        if s["kind"] == "hashing_vectorizer":
            return s["n_features"]
        if s["kind"] == "one_hot":
            drop = s["drop"] or [None] * len(s["categories"])
            return sum(len(c) - (0 if d is None else 1) for c, d in zip(s["categories"], drop))
    return len(block["inputs"])


# --------------------------------------------------------------------------------------
# feature names
# --------------------------------------------------------------------------------------


def _hash_names(n: int) -> list[str]:
    return [f"hash_{i}" for i in range(n)]


def _chain_names(chain: list[Any], input_features: list[str] | None) -> list[str]:
    """sklearn output names of a chain of fitted transforms; a HashingVectorizer has no
    get_feature_names_out, so its columns are named hash_<i>."""
    names = input_features
    for obj in chain:
        if isinstance(obj, HashingVectorizer):
            names = _hash_names(obj.n_features)
        else:
            names = list(obj.get_feature_names_out(names))
    return [str(n) for n in names]


def _ct_names_with_hashing(ct: ColumnTransformer, input_features: list[str] | None) -> list[str]:
    if ct.verbose_feature_names_out is True:
        prefix = lambda t, f: f"{t}__{f}"  # noqa: E731
    elif ct.verbose_feature_names_out is False:
        prefix = lambda t, f: f  # noqa: E731
    elif isinstance(ct.verbose_feature_names_out, str):
        prefix = lambda t, f: ct.verbose_feature_names_out.format(transformer_name=t, feature_name=f)  # noqa: E731
    else:
        prefix = ct.verbose_feature_names_out
    feats = input_features if input_features is not None else [str(n) for n in ct.feature_names_in_]
    out = []
    for name, trans, spec in ct.transformers_:
        cols, _ = resolve_columns(spec, list(getattr(ct, "feature_names_in_", [])) or None, ct.n_features_in_, name)
        if (isinstance(trans, str) and trans == "drop") or not cols:
            continue
        sub = [feats[c] for c in cols]
        if isinstance(trans, str):
            names = sub
        elif type(trans) is Pipeline:
            names = _chain_names([s for _, s in flatten_pipeline(trans, None)], sub)
        elif isinstance(trans, VECTORIZERS):
            names = _chain_names([trans], None)
        else:
            names = _chain_names([trans], sub)
        out.extend(prefix(name, f) for f in names)
    return out


def feature_names(transforms: list[Any], names_in_sklearn: list[str] | None) -> list[str]:
    """get_feature_names_out() of the transform part, in sklearn's naming."""
    if not transforms:
        return list(names_in_sklearn or [])
    first = transforms[0]
    if isinstance(first, ColumnTransformer):
        if any(isinstance(o, HashingVectorizer) for o in _walk(first)):
            names = _ct_names_with_hashing(first, names_in_sklearn)
        else:
            names = [str(n) for n in first.get_feature_names_out(names_in_sklearn)]
        return _chain_names(transforms[1:], names)
    if isinstance(first, VECTORIZERS):
        return _chain_names(transforms, None)
    return _chain_names(transforms, names_in_sklearn)


def _walk(obj: Any):
    yield obj
    if type(obj) is Pipeline:
        for _, s in obj.steps:
            yield from _walk(s)
    if isinstance(obj, ColumnTransformer):
        for _, t, _ in getattr(obj, "transformers_", obj.transformers):
            yield from _walk(t)


# --------------------------------------------------------------------------------------
# top level
# --------------------------------------------------------------------------------------


def describe(obj: Any) -> str:
    if type(obj) is Pipeline:
        return f"Pipeline(steps=[{', '.join(name for name, _ in obj.steps)}])"
    if isinstance(obj, ColumnTransformer):
        return f"ColumnTransformer(transformers=[{', '.join(t[0] for t in obj.transformers)}])"
    if isinstance(obj, OneVsRestClassifier):
        return f"OneVsRestClassifier(estimator={cls_name(obj.estimator)})"
    return cls_name(obj)


@dataclass
class Options:
    name: str
    target: str = "y"
    text_field: str = "text"
    features: list[str] | None = None


def convert(model: Any, opts: Options) -> tuple[dict, list[str]]:
    """Fitted sklearn object -> (artifact without provenance, notes for stderr)."""
    notes: list[str] = []
    if type(model) is Pipeline:
        steps = flatten_pipeline(model, None)
        if not steps:
            raise Refusal("model: Pipeline has no steps")
    else:
        steps = [("model", model)]
    est_where, est = steps[-1]
    trans_steps = steps[:-1]

    conv = ESTIMATORS.get(type(est))
    if conv is None:
        if type(est) in TRANSFORMS or isinstance(est, ColumnTransformer):
            raise Refusal(f"{est_where}: {cls_name(est)} is a transform; the model must end with an estimator")
        raise unsupported(est, est_where)

    # Check everything is supported and fitted before doing any layout work, in pipeline order.
    for where, obj in trans_steps:
        if isinstance(obj, ColumnTransformer):
            if type(obj) is not ColumnTransformer:
                raise unsupported(obj, where)
            require_fitted(obj, where)
        elif type(obj) not in TRANSFORMS:
            if type(obj) in ESTIMATORS:
                raise Refusal(f"{where}: {cls_name(obj)} is an estimator in the middle of a pipeline; "
                              f"only the last step may be an estimator")
            raise unsupported(obj, where)
        else:
            require_fitted(obj, where)
    require_fitted(est, est_where)

    # ---- input names
    layout = Blocks()
    first = trans_steps[0][1] if trans_steps else None
    text_model = isinstance(first, VECTORIZERS)
    holder = first if first is not None else est
    names_in_sklearn: list[str] | None = None
    if text_model:
        names = [opts.text_field]
        if opts.features is not None:
            raise Refusal("--features does not apply to a text pipeline; use --text-field")
    else:
        n_in = getattr(holder, "n_features_in_", None)
        if n_in is None:
            raise Refusal(f"{trans_steps[0][0] if trans_steps else est_where}: {cls_name(holder)} "
                          f"has no n_features_in_")
        n_in = int(n_in)
        fitted_names = getattr(holder, "feature_names_in_", None)
        if fitted_names is not None:
            names_in_sklearn = [str(n) for n in fitted_names]
        if opts.features is not None:
            if len(opts.features) != n_in:
                raise Refusal(f"--features has {len(opts.features)} names but the model reads {n_in} columns")
            names = list(opts.features)
            if names_in_sklearn is not None and names != names_in_sklearn:
                notes.append("note: --features renames the model's fitted columns "
                             f"{names_in_sklearn}; feature_names keep sklearn's names")
        else:
            names = names_in_sklearn or [f"x{i}" for i in range(n_in)]
        if len(set(names)) != len(names):
            raise Refusal(f"input names are not unique: {names}")

    # ---- blocks
    transforms = [obj for _, obj in trans_steps]
    if trans_steps and isinstance(first, ColumnTransformer):
        layout_column_transformer(first, trans_steps[0][0], names, names_in_sklearn, layout)
        rest = trans_steps[1:]
    else:
        # A bare pipeline: one implicit block over all inputs. Steps that cannot live in that block
        # (scalers after a one_hot) move to "then".
        ct_later = [w for w, o in trans_steps if isinstance(o, ColumnTransformer)]
        if ct_later:
            raise Refusal(f"{ct_later[0]}: a ColumnTransformer must be the first step of the pipeline")
        cols = [0] if text_model else list(range(len(names)))
        block, leftover = chain_to_block(trans_steps, cols, text_model, names, layout, False,
                                         est_where if not trans_steps else trans_steps[0][0])
        layout.blocks.append(block)
        layout.then.extend(leftover)
        rest = []
    for where, obj in rest:
        for s in transform_steps(obj, where):
            if s["kind"] not in SCALER_KINDS:
                raise Refusal(f"{where}: {cls_name(obj)} after a ColumnTransformer is not supported "
                              f"(only StandardScaler, MinMaxScaler, MaxAbsScaler)")
            layout.then.append(s)

    # ---- estimator
    estimator, note = conv(est, est_where)
    if note:
        notes.append("note: " + note)
    width = sum(block_width(b) for b in layout.blocks)
    coef_width = len(estimator["coef"]) if estimator["kind"] in ("linear_regression", "glm") \
        else len(estimator["coef"][0])
    if coef_width != width:
        raise Refusal(f"{est_where}: {cls_name(est)} has {coef_width} coefficients but the transforms "
                      f"produce {width} columns")
    for s in layout.then:
        for key in ("mean", "scale", "min"):
            if s.get(key) is not None and len(s[key]) != width:
                raise Refusal(f"internal error: a scaler after the column blocks has {len(s[key])} columns, "
                              f"expected {width}")

    fnames = feature_names(transforms, None if text_model else (names_in_sklearn or names))
    if len(fnames) != width:
        raise Refusal(f"internal error: {len(fnames)} feature names for {width} columns")
    # The runtime refuses a model whose columns share a name (ModelDuplicateFeature); say so here,
    # with the likely cause, rather than write an artifact that cannot load.
    first_at: dict[str, int] = {}
    for j, fname in enumerate(fnames):
        if fname in first_at:
            raise Refusal(f"output feature names are not unique: {fname!r} names columns {first_at[fname]} and {j} "
                          f"(a ColumnTransformer's verbose_feature_names_out that drops the transformer name?); "
                          f"use verbose_feature_names_out=True")
        first_at[fname] = j

    used = sorted(layout.input_kinds)
    inputs = [{"name": names[i], "kind": layout.input_kinds[i]} for i in used]
    artifact = {
        "format_version": FORMAT_VERSION,
        "name": opts.name,
        "version": None,
        "target": opts.target,
        "inputs": inputs,
        "transforms": {"blocks": layout.blocks, "then": layout.then},
        "feature_names": fnames,
        "estimator": estimator,
        "provenance": None,  # filled by import_file
        "metrics": {},
    }
    return artifact, notes


def load_model(path: str) -> Any:
    """joblib.load, falling back to pickle.load; refuses other scikit-learn versions."""
    current = sklearn.__version__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = joblib.load(path)
        except Exception as joblib_err:  # noqa: BLE001 - any unpickling failure is a refusal
            try:
                with open(path, "rb") as fh:
                    model = pickle.load(fh)
            except Exception as pickle_err:  # noqa: BLE001
                cause = f"{type(pickle_err).__name__}: {pickle_err}"
                if str(joblib_err) != str(pickle_err):
                    cause = f"joblib: {type(joblib_err).__name__}: {joblib_err}; pickle: {cause}"
                hint = ""
                missing = getattr(pickle_err, "name", None) or getattr(joblib_err, "name", None)
                if missing and str(missing).split(".")[0] in ("xgboost", "lightgbm", "catboost"):
                    hint = f" ({missing} objects are not supported: stream-infer serves scikit-learn linear models)"
                raise Refusal(f"{os.path.basename(path)}: does not load under scikit-learn {current}: "
                              f"{' '.join(cause.split())}{hint}") from None
    for w in caught:
        if issubclass(w.category, InconsistentVersionWarning):
            m = w.message
            raise Refusal(f"{os.path.basename(path)}: {m.estimator_name} was pickled with scikit-learn "
                          f"{m.original_sklearn_version} but this importer runs scikit-learn "
                          f"{m.current_sklearn_version}; refit or re-export it with scikit-learn "
                          f"{m.current_sklearn_version}")
    return model


def import_file(path: str, opts: Options) -> tuple[dict, list[str]]:
    model = load_model(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        artifact, notes = convert(model, opts)
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    artifact["provenance"] = {
        "kind": "imported",
        "source_file": os.path.basename(path),
        "file_sha256": digest,
        "sklearn_version": sklearn.__version__,
        "imported_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "object": describe(model),
    }
    return artifact, notes


def dumps(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a fitted scikit-learn object saved with joblib.dump or pickle")
    p.add_argument("--name", required=True, help="artifact name")
    p.add_argument("--target", default="y", help="target column name (default: y)")
    p.add_argument("--out", help="write the artifact here (default: stdout)")
    p.add_argument("--text-field", default="text",
                   help="record field read by a bare text pipeline (default: text)")
    p.add_argument("--features", help="comma-separated input names overriding feature_names_in_ / x0..xN-1")
    args = p.parse_args(argv)
    features = [f.strip() for f in args.features.split(",")] if args.features is not None else None
    opts = Options(name=args.name, target=args.target, text_field=args.text_field, features=features)
    try:
        artifact, notes = import_file(args.model, opts)
    except Refusal as r:
        print(" ".join(str(r).split()), file=sys.stderr)
        return EXIT_REFUSED
    for n in notes:
        print(" ".join(n.split()), file=sys.stderr)
    text = dumps(artifact)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
