#!/usr/bin/env python3
"""Tests for import_sklearn.py: refusals (exit code 2 + one-line message) and a few small
conversions checked against sklearn with check_artifact.evaluate.

Run with plain `python test_import.py` (no pytest). Ends with "N passed, N failed".
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import traceback
import warnings

import joblib
import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    CountVectorizer,
    HashingVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, PolynomialFeatures, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_artifact  # noqa: E402
import import_sklearn  # noqa: E402

TMP = tempfile.mkdtemp(prefix="import-sklearn-test-")
RNG = np.random.default_rng(0)
X_NUM = RNG.normal(size=(60, 3))
Y_BIN = (X_NUM[:, 0] + 0.5 * X_NUM[:, 1] > 0).astype(int)
DOCS = ["free prize click now", "invoice payment failed", "click here free bitcoin", "password reset email",
        "refund for my invoice", "urgent prize winner", "login error again", "free cash offer"] * 3
DOC_Y = ["spam", "ham", "spam", "ham", "ham", "spam", "ham", "spam"] * 3


def dump(obj, name="model.joblib") -> str:
    path = os.path.join(TMP, name)
    joblib.dump(obj, path)
    return path


def cli(path: str, *args: str) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, os.path.join(HERE, "import_sklearn.py"), path, "--name", "t", *args],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def refused(obj_or_path, *args: str) -> str:
    """Run the CLI, assert exit 2 with a one-line stderr message, and return the message."""
    path = obj_or_path if isinstance(obj_or_path, str) else dump(obj_or_path)
    code, out, err = cli(path, *args)
    assert code == 2, f"expected exit 2, got {code}: {err}"
    assert out == "", out
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    return lines[0]


def imported(model, **opts) -> dict:
    path = dump(model)
    artifact, _ = import_sklearn.import_file(path, import_sklearn.Options(name="t", **opts))
    json.loads(import_sklearn.dumps(artifact))  # serialisable, no NaN
    return artifact


def assert_parity(model, X, records) -> None:
    """check_artifact.evaluate(artifact) equals sklearn on every row."""
    artifact = imported(model) if not isinstance(records, tuple) else imported(model, **records[1])
    records = records[0] if isinstance(records, tuple) else records
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict(X)
        dec = model.decision_function(X) if hasattr(model, "decision_function") else None
    for i, rec in enumerate(records):
        got = check_artifact.evaluate(artifact, rec)
        if dec is None:
            assert check_artifact.rel_err(got["prediction"], float(pred[i])) < 1e-9
        else:
            assert got["prediction"] == pred[i], (got["prediction"], pred[i])
            for a, b in zip(got["decision"], np.atleast_1d(dec[i])):
                assert check_artifact.rel_err(a, float(b)) < 1e-9 or abs(a - b) < 1e-15, (a, b)


SUPPORTED_TAIL = "supported estimators: LinearRegression, Ridge,"


# ---------------------------------------------------------------------------- refusals


def test_gradient_boosting_in_pipeline():
    model = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=5, random_state=0))
    model.fit(X_NUM, Y_BIN)
    msg = refused(model)
    assert msg.startswith("pipeline step 'gradientboostingclassifier': GradientBoostingClassifier is not "
                          "supported (stream-infer serves linear models); " + SUPPORTED_TAIL), msg
    assert "supported transforms: StandardScaler" in msg, msg


def test_gradient_boosting_bare():
    msg = refused(GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X_NUM, Y_BIN))
    assert msg.startswith("model: GradientBoostingClassifier is not supported"), msg


def test_unfitted_logistic_regression():
    msg = refused(LogisticRegression())
    assert msg == "model: LogisticRegression is not fitted", msg


def test_unfitted_pipeline_step():
    msg = refused(make_pipeline(StandardScaler(), LogisticRegression()))
    assert msg == "pipeline step 'standardscaler': StandardScaler is not fitted", msg


def test_corrupt_file():
    path = os.path.join(TMP, "corrupt.joblib")
    good = open(dump(LinearRegression().fit(X_NUM, Y_BIN)), "rb").read()
    with open(path, "wb") as fh:
        fh.write(good[: len(good) // 2] + b"\x00garbage")
    msg = refused(path)
    assert msg.startswith(f"corrupt.joblib: does not load under scikit-learn {sklearn.__version__}: "), msg


def test_not_a_pickle():
    path = os.path.join(TMP, "model.pkl")
    with open(path, "w") as fh:
        fh.write("this is not a pickle\n")
    msg = refused(path)
    assert msg.startswith(f"model.pkl: does not load under scikit-learn {sklearn.__version__}: "), msg


def test_xgboost_pickle():
    path = os.path.join(TMP, "xgb.pkl")
    with open(path, "wb") as fh:  # what a pickled xgboost.XGBClassifier references first
        fh.write(b"\x80\x04cxgboost.sklearn\nXGBClassifier\n)\x81.")
    msg = refused(path)
    assert "does not load under scikit-learn" in msg and "No module named 'xgboost'" in msg, msg
    assert "xgboost objects are not supported" in msg, msg


def test_polynomial_features():
    model = make_pipeline(PolynomialFeatures(2), LinearRegression()).fit(X_NUM, Y_BIN)
    msg = refused(model)
    assert msg.startswith("pipeline step 'polynomialfeatures': PolynomialFeatures is not supported "
                          "(stream-infer serves linear models); supported estimators:"), msg


def test_other_sklearn_version():
    path = dump(LinearRegression().fit(X_NUM, Y_BIN))
    data = open(path, "rb").read()
    here = sklearn.__version__.encode()
    fake = b"0.24.2"[: len(here)].ljust(len(here), b"0")  # same length keeps the pickle valid
    assert data.count(here) == 1
    with open(path, "wb") as fh:
        fh.write(data.replace(here, fake))
    msg = refused(path)
    assert msg == (f"model.joblib: LinearRegression was pickled with scikit-learn {fake.decode()} but this "
                   f"importer runs scikit-learn {sklearn.__version__}; refit or re-export it with scikit-learn "
                   f"{sklearn.__version__}"), msg


def test_non_finite_coefficients():
    model = LinearRegression().fit(X_NUM, Y_BIN)
    model.coef_[1] = np.nan
    msg = refused(model)
    assert msg == "model: LinearRegression has non-finite coef_ (contains nan)", msg
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_NUM, Y_BIN)
    model[-1].intercept_[0] = np.inf
    msg = refused(model)
    assert msg == "pipeline step 'logisticregression': LogisticRegression has non-finite intercept_ (contains inf)"


def test_unsupported_options():
    cases = [
        (make_pipeline(MinMaxScaler(clip=True), LinearRegression()),
         "pipeline step 'minmaxscaler': MinMaxScaler option clip=True is not supported (only clip=False)"),
        (make_pipeline(SimpleImputer(add_indicator=True), LinearRegression()),
         "pipeline step 'simpleimputer': SimpleImputer option add_indicator=True is not supported"),
        (make_pipeline(SimpleImputer(missing_values=-1.0), LinearRegression()),
         "pipeline step 'simpleimputer': SimpleImputer option missing_values=-1.0 is not supported"),
    ]
    for model, want in cases:
        model.fit(X_NUM, Y_BIN)
        msg = refused(model)
        assert msg.startswith(want), (msg, want)
    cats = np.array([["a"], ["b"], ["a"], ["c"]] * 5, dtype=object)
    model = make_pipeline(OneHotEncoder(min_frequency=2), LogisticRegression()).fit(cats, [0, 1, 0, 1] * 5)
    msg = refused(model)
    assert msg.startswith("pipeline step 'onehotencoder': OneHotEncoder option min_frequency=2 is not supported"), msg
    text_cases = [
        (TfidfVectorizer(analyzer="char_wb"), "option analyzer='char_wb' is not supported"),
        (CountVectorizer(ngram_range=(1, 3)), "option ngram_range=(1, 3) is not supported"),
        (TfidfVectorizer(strip_accents="unicode"), "option strip_accents='unicode' is not supported"),
        (CountVectorizer(token_pattern=r"\b\w+\b"), "option token_pattern="),
        (CountVectorizer(tokenizer=str.split, token_pattern=None), "option tokenizer="),
    ]
    for vec, want in text_cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make_pipeline(vec, LogisticRegression()).fit(DOCS, DOC_Y)
        msg = refused(model)
        assert want in msg, (msg, want)
    # sklearn cannot even fit this on documents with a negative hashed count (log -> NaN);
    # assemble it from parts fitted on absolute counts.
    hv = HashingVectorizer(n_features=64)
    counts = abs(hv.transform(DOCS))
    tt = TfidfTransformer(sublinear_tf=True).fit(counts)
    model = make_pipeline(hv, tt, LogisticRegression().fit(tt.transform(counts), DOC_Y))
    assert "sublinear_tf=True) takes the log of negative counts" in refused(model)


def test_column_transformer_remainder_estimator():
    ct = ColumnTransformer([("a", StandardScaler(), [0])], remainder=MinMaxScaler())
    model = make_pipeline(ct, LinearRegression()).fit(X_NUM, Y_BIN)
    msg = refused(model)
    assert msg.startswith("pipeline step 'columntransformer' > transformer 'remainder': ColumnTransformer "
                          "remainder=MinMaxScaler is not supported"), msg


def test_duplicate_output_feature_names():
    # sklearn allows this format to name two columns alike; the runtime refuses such a model.
    ct = ColumnTransformer([("s", StandardScaler(), [0]), ("m", MinMaxScaler(), [0, 1])],
                           verbose_feature_names_out="{feature_name}")
    model = make_pipeline(ct, LinearRegression()).fit(X_NUM[:, :2], X_NUM[:, 2])
    assert list(ct.get_feature_names_out()) == ["x0", "x0", "x1"]
    msg = refused(model)
    assert "output feature names are not unique: 'x0' names columns 0 and 1" in msg, msg
    assert "verbose_feature_names_out=True" in msg, msg


def test_float_class_labels():
    msg = refused(LogisticRegression().fit(X_NUM, Y_BIN.astype(float)))
    assert msg.startswith("model: LogisticRegression class label 0.0 is a float"), msg


def test_transform_only():
    msg = refused(StandardScaler().fit(X_NUM))
    assert msg == "model: StandardScaler is a transform; the model must end with an estimator", msg


def test_features_wrong_length():
    msg = refused(LinearRegression().fit(X_NUM, Y_BIN), "--features", "a,b")
    assert msg == "--features has 2 names but the model reads 3 columns", msg


# ---------------------------------------------------------------------------- conversions


def test_success_stdout_and_provenance():
    model = LinearRegression().fit(X_NUM, Y_BIN)
    path = dump(model, "lr.joblib")
    code, out, err = cli(path, "--target", "score")
    assert code == 0 and err == "", (code, err)
    a = json.loads(out)
    assert a["format_version"] == 2 and a["version"] is None and a["target"] == "score" and a["metrics"] == {}
    assert a["inputs"] == [{"name": f"x{i}", "kind": "number"} for i in range(3)]
    assert a["feature_names"] == ["x0", "x1", "x2"]
    assert a["transforms"] == {"blocks": [{"inputs": ["x0", "x1", "x2"], "steps": []}], "then": []}
    prov = a["provenance"]
    assert prov["kind"] == "imported" and prov["source_file"] == "lr.joblib"
    assert prov["file_sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert prov["sklearn_version"] == sklearn.__version__ and prov["object"] == "LinearRegression"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["imported_at"]), prov["imported_at"]
    assert a["estimator"] == {"kind": "linear_regression", "coef": [float(c) for c in model.coef_],
                              "intercept": float(model.intercept_)}


def test_pickle_fallback_and_out_file():
    path = os.path.join(TMP, "plain.pkl")
    with open(path, "wb") as fh:
        pickle.dump(LinearRegression().fit(X_NUM, Y_BIN), fh)
    out = os.path.join(TMP, "plain.json")
    code, stdout, err = cli(path, "--out", out, "--features", "a,b,c")
    assert code == 0 and stdout == "", (code, err)
    assert [i["name"] for i in json.load(open(out))["inputs"]] == ["a", "b", "c"]


def test_modified_huber_note():
    model = SGDClassifier(loss="modified_huber", random_state=0).fit(X_NUM, Y_BIN)
    code, out, err = cli(dump(model))
    assert code == 0 and json.loads(out)["estimator"]["kind"] == "linear_classifier"
    assert err.startswith("note: model: SGDClassifier(loss='modified_huber') is imported as linear_classifier"), err


def test_english_stop_words_stored_sorted():
    model = make_pipeline(CountVectorizer(stop_words="english"), LogisticRegression()).fit(DOCS, DOC_Y)
    a = imported(model)
    assert a["transforms"]["blocks"][0]["steps"][0]["stop_words"] == sorted(ENGLISH_STOP_WORDS)
    assert a["inputs"] == [{"name": "text", "kind": "text"}]
    a = imported(model, text_field="body")
    assert a["inputs"] == [{"name": "body", "kind": "text"}]


def test_hashing_binary_collisions():
    """binary=True loses the sign and keeps cancelled (+1 -1 = 0) entries as 1, like sklearn."""
    docs = [" ".join(f"w{i}{j}" for j in range(12)) for i in range(30)]
    y = [i % 2 for i in range(30)]
    model = make_pipeline(HashingVectorizer(n_features=4, binary=True, norm=None), LogisticRegression()).fit(docs, y)
    assert_parity(model, docs, [{"text": d} for d in docs])


def test_bare_one_hot_then_scaler():
    """A bare OneHotEncoder pipeline: one category block, the scaler after it goes to "then"."""
    X = np.array([[1, "a"], [2, "b"], [3, "a"], [1, "c"], [2, "c"], [3, "b"]] * 4, dtype=object)
    y = [0, 1, 0, 1, 1, 0] * 4
    model = make_pipeline(OneHotEncoder(drop="first"), StandardScaler(with_mean=False), LogisticRegression())
    model.fit(X, y)
    a = imported(model, features=["tier", "plan"])
    assert a["inputs"] == [{"name": "tier", "kind": "category"}, {"name": "plan", "kind": "category"}]
    assert a["transforms"]["blocks"][0]["steps"][0]["categories"] == [[1, 2, 3], ["a", "b", "c"]]
    assert a["transforms"]["blocks"][0]["steps"][0]["drop"] == [0, 0]
    assert [s["kind"] for s in a["transforms"]["then"]] == ["standard_scaler"]
    assert_parity(model, X, ([{"tier": r[0], "plan": r[1]} for r in X], {"features": ["tier", "plan"]}))
    try:
        check_artifact.evaluate(a, {"tier": 9, "plan": "a"})
        raise AssertionError("unknown category with handle_unknown='error' must be rejected")
    except check_artifact.Rejected as r:
        assert str(r) == "category_unknown"
    try:
        check_artifact.evaluate(a, {"tier": "1", "plan": "a"})  # the string "1" is not the integer 1
        raise AssertionError("a string must not match an integer category")
    except check_artifact.Rejected:
        pass


def test_simulated_dataframe_fit():
    """pandas is not installed here: simulate a DataFrame fit by giving the fitted objects what
    sklearn records then (feature_names_in_, column names in transformers_)."""
    names = ["age", "income", "country", "unused"]
    X = np.array([[30.0, 1.0, "DE", 0.0], [40.0, 2.0, "FR", 0.0], [50.0, np.nan, "DE", 0.0],
                  [20.0, 4.0, "US", 0.0]] * 5, dtype=object)
    y = [0, 1, 1, 0] * 5
    ct = ColumnTransformer([("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), [2])])
    model = make_pipeline(ct, LogisticRegression()).fit(X, y)
    pred, dec = model.predict(X), model.decision_function(X)  # before the simulation breaks transform()
    ct.feature_names_in_ = np.array(names, dtype=object)
    ct.transformers_ = [("num", ct.transformers_[0][1], ["age", "income"]),
                        ("cat", ct.transformers_[1][1], ["country"]),
                        ("remainder", "drop", ["unused"])]
    a = imported(model)
    assert a["inputs"] == [{"name": "age", "kind": "number"}, {"name": "income", "kind": "number"},
                           {"name": "country", "kind": "category"}], a["inputs"]
    assert a["feature_names"] == ["num__age", "num__income", "cat__country_DE", "cat__country_FR",
                                  "cat__country_US"], a["feature_names"]
    for i, r in enumerate(X):
        got = check_artifact.evaluate(a, {"age": r[0], "income": None if r[1] != r[1] else r[1], "country": r[2]})
        assert got["prediction"] == pred[i]
        assert check_artifact.rel_err(got["decision"][0], float(dec[i])) < 1e-9


def test_resolve_columns():
    names = ["a", "b", "c", "d"]
    rc = import_sklearn.resolve_columns
    assert rc("c", names, 4, "w") == ([2], True)
    assert rc(["d", "a"], names, 4, "w") == ([3, 0], False)
    assert rc(slice("b", "c"), names, 4, "w") == ([1, 2], False)  # label slices include the stop
    assert rc(slice(1, 3), None, 4, "w") == ([1, 2], False)
    assert rc(np.array([True, False, True, False]), None, 4, "w") == ([0, 2], False)
    assert rc(-1, None, 4, "w") == ([3], True)
    assert rc([], names, 4, "w") == ([], False)


def main() -> int:
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
