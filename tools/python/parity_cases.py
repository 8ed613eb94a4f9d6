#!/usr/bin/env python3
"""Build the sklearn parity cases for stream-infer and self-check the importer on them.

Usage:
    python parity_cases.py OUTDIR [--only CASE[,CASE...]]

For every case this writes OUTDIR/<case>/:
    model.joblib         the fitted sklearn object (fixed random_state)
    event.json           a Kinesis Lambda event whose records carry {"id", <input fields>} as base64 JSON
    event-dynamodb.json  (column_transformer only) the same records as a DynamoDB Streams event
    expected.json        sklearn's predict / predict_proba / decision_function on those records,
                         which were not used for fitting
    artifact.json        import_sklearn.py's output for model.joblib ("version": null)
and OUTDIR/text_dataset.csv, the generated text data set used by the text cases.

Then it evaluates each artifact.json with check_artifact.py (numpy only, SCHEMA.md semantics)
on the decoded event payloads and requires agreement with sklearn within 1e-9 relative.
Exit 0 when every case passes.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import random
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine, make_regression
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfTransformer, TfidfVectorizer
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
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_artifact  # noqa: E402

SEQ_BASE = 49590338271490256608559692538361571095921575989136588898
TOL = 1e-9


@dataclass
class Case:
    """A fitted model plus held-out rows, both as sklearn input and as record payloads."""
    model: Any
    kind: str                       # "regressor" | "classifier"
    payloads: list[dict]            # {"id", <fields>} per record, None/absent for missing values
    X: Any                          # the same rows as sklearn input
    proba: bool = False             # expected.json carries predict_proba
    import_args: list[str] = field(default_factory=list)
    target: str = "y"
    dynamodb: bool = False


def snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def num_payloads(X: np.ndarray, names: list[str], prefix: str = "r") -> list[dict]:
    return [{"id": f"{prefix}{i:04d}", **{n: float(v) for n, v in zip(names, row)}} for i, row in enumerate(X)]


def tabular(model: Any, X: np.ndarray, y: np.ndarray, names: list[str] | None, kind: str, *, test_size: int = 40,
            proba: bool = False, target: str = "y", seed: int = 0, stratify: bool = False) -> Case:
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=test_size, random_state=seed,
                                        stratify=y if stratify else None)
    model.fit(Xtr, ytr)
    payload_names = names or [f"x{i}" for i in range(X.shape[1])]
    args = ["--features", ",".join(names)] if names else []
    return Case(model, kind, num_payloads(Xte, payload_names), Xte, proba, args, target)


# --------------------------------------------------------------------------------------
# numeric cases
# --------------------------------------------------------------------------------------


def diabetes() -> tuple[np.ndarray, np.ndarray, list[str]]:
    d = load_diabetes()
    return d.data, d.target, list(d.feature_names)  # age, sex, bmi, bp, s1..s6


def case_diabetes_ols() -> Case:
    X, y, names = diabetes()
    model = LinearRegression().fit(X, y)  # all 442 rows
    rng = np.random.default_rng(442)
    rows = X[rng.choice(len(X), 30, replace=False)]
    Xte = rows + rng.normal(0.0, 0.01, rows.shape)  # perturbed: not rows the model was fitted on
    return Case(model, "regressor", num_payloads(Xte, names), Xte, False, ["--features", ",".join(names)],
                "disease_progression")


def case_ridge() -> Case:
    X, y, names = diabetes()
    return tabular(Ridge(alpha=0.5), X, y, names, "regressor", target="disease_progression")


def case_lasso() -> Case:
    X, y = make_regression(n_samples=300, n_features=8, n_informative=5, noise=5.0, random_state=1)
    return tabular(Lasso(alpha=0.1, random_state=0), X, y, None, "regressor")  # names x0..x7


def case_elasticnet() -> Case:
    X, y = make_regression(n_samples=300, n_features=6, noise=3.0, random_state=2)
    names = ["length", "width", "height", "weight", "age", "speed"]
    model = make_pipeline(StandardScaler(), ElasticNet(alpha=0.05, l1_ratio=0.3, random_state=0))
    return tabular(model, X, y, names, "regressor")


def case_sgd_regressor() -> Case:
    X, y, names = diabetes()
    model = make_pipeline(StandardScaler(), SGDRegressor(random_state=0, max_iter=2000))
    return tabular(model, X, y, names, "regressor", target="disease_progression")


def glm_data(seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 0.5, (400, 4))
    mu = np.exp(0.3 + X @ np.array([0.4, -0.2, 0.1, 0.3]))
    return X, mu, ["temp", "humidity", "wind", "traffic"]


def case_poisson() -> Case:
    X, mu, names = glm_data(10)
    y = np.random.default_rng(11).poisson(mu).astype(float)
    return tabular(PoissonRegressor(alpha=1e-3), X, y, names, "regressor", target="count")


def case_gamma() -> Case:
    X, mu, names = glm_data(20)
    y = np.random.default_rng(21).gamma(2.0, mu / 2.0)
    return tabular(GammaRegressor(alpha=1e-3), X, y, names, "regressor", target="cost")


def case_tweedie() -> Case:
    X, mu, names = glm_data(30)
    rng = np.random.default_rng(31)
    y = np.where(rng.random(len(mu)) < 0.3, 0.0, rng.gamma(2.0, mu / 2.0))
    return tabular(TweedieRegressor(power=1.5, alpha=1e-3), X, y, names, "regressor", target="claims")


def case_tweedie_identity() -> Case:
    X, mu, names = glm_data(40)
    y = mu + np.random.default_rng(41).normal(0.0, 0.1, len(mu))
    return tabular(TweedieRegressor(power=0.0, link="identity", alpha=1e-3), X, y, names, "regressor")


# --------------------------------------------------------------------------------------
# classifiers
# --------------------------------------------------------------------------------------


def breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    d = load_breast_cancer()
    return d.data, d.target.astype(np.int64), [snake(n) for n in d.feature_names]


def iris() -> tuple[np.ndarray, np.ndarray, list[str]]:
    d = load_iris()
    return d.data, np.asarray(d.target_names)[d.target].astype(object), [snake(n) for n in d.feature_names]


def wine() -> tuple[np.ndarray, np.ndarray, list[str]]:
    d = load_wine()
    return d.data, np.asarray(d.target_names)[d.target].astype(object), [snake(n) for n in d.feature_names]


def case_breast_cancer_logistic() -> Case:
    X, y, names = breast_cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return tabular(model, X, y, names, "classifier", test_size=50, proba=True, target="diagnosis")


def case_iris_multinomial() -> Case:
    X, y, names = iris()
    return tabular(LogisticRegression(max_iter=1000), X, y, names, "classifier", test_size=30, proba=True,
                   target="species", stratify=True)


def case_iris_ovr() -> Case:
    X, y, names = iris()
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000))
    return tabular(model, X, y, names, "classifier", test_size=30, proba=True, target="species", stratify=True)


def case_linear_svc() -> Case:
    X, y, names = breast_cancer()
    labels = np.where(y == 0, "malignant", "benign").astype(object)
    model = make_pipeline(StandardScaler(), LinearSVC(random_state=0))
    return tabular(model, X, labels, names, "classifier", test_size=50, target="diagnosis")


def case_ridge_classifier() -> Case:
    X, y, names = wine()
    model = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0))
    return tabular(model, X, y, names, "classifier", test_size=40, target="cultivar", stratify=True)


def case_ridge_classifier_binary() -> Case:
    X, y, names = breast_cancer()
    return tabular(RidgeClassifier(alpha=1.0), X, y, names, "classifier", test_size=50, target="diagnosis")


def case_sgd_hinge() -> Case:
    X, y, names = iris()
    model = make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", random_state=0))
    return tabular(model, X, y, names, "classifier", test_size=30, target="species", stratify=True)


def case_sgd_log_loss() -> Case:
    X, y, names = wine()
    model = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0))
    return tabular(model, X, y, names, "classifier", test_size=40, proba=True, target="cultivar", stratify=True)


def case_sgd_modified_huber() -> Case:
    X, y, names = breast_cancer()
    model = make_pipeline(MinMaxScaler(), SGDClassifier(loss="modified_huber", random_state=0))
    return tabular(model, X, y, names, "classifier", test_size=50, target="diagnosis")  # no probabilities


# --------------------------------------------------------------------------------------
# ColumnTransformer with numbers and categories
# --------------------------------------------------------------------------------------

CT_COLUMNS = ["age", "income", "tenure_months", "country", "plan", "has_card", "tier", "channel", "score"]


def customers(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    countries = np.array(["DE", "FR", "US", "ES", "IT"], dtype=object)
    plans = np.array(["basic", "pro", "enterprise"], dtype=object)
    channels = np.array(["web", "app", "phone"], dtype=object)
    rows = []
    for _ in range(n):
        age = float(np.round(rng.uniform(18, 80), 1))
        income = float(np.round(rng.lognormal(10.5, 0.4), 2)) if rng.random() > 0.1 else np.nan
        rows.append([age, income, float(rng.integers(0, 120)), rng.choice(countries), rng.choice(plans),
                     "yes" if rng.random() < 0.6 else "no", int(rng.integers(1, 4)),
                     rng.choice(channels) if rng.random() > 0.1 else np.nan, float(np.round(rng.normal(0, 1), 3))])
    X = np.array(rows, dtype=object)
    logit = (0.03 * (X[:, 0].astype(float) - 45) - 0.4 * (X[:, 4] == "enterprise") + 0.5 * (X[:, 3] == "US")
             - 0.3 * (X[:, 5] == "yes") + 0.2 * X[:, 6].astype(float) - 0.01 * X[:, 2].astype(float)
             + 0.5 * X[:, 8].astype(float))
    y = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit.astype(float))), "churn", "stay").astype(object)
    return X, y


def case_column_transformer() -> Case:
    rng = np.random.default_rng(7)
    X, y = customers(440, rng)
    Xtr, Xte, ytr = X[:400], X[400:].copy(), y[:400]
    c = {n: i for i, n in enumerate(CT_COLUMNS)}
    ct = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]),
         [c["age"], c["income"]]),
        ("minmax", MinMaxScaler(), [c["tenure_months"]]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), [c["country"], c["plan"]]),
        ("bin", OneHotEncoder(drop="if_binary", sparse_output=False), [c["has_card"], c["tier"]]),
        ("chan", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                           ("onehot", OneHotEncoder(drop="first"))]), [c["channel"]]),
    ], remainder="passthrough")  # score passes through
    model = Pipeline([("prep", ct), ("maxabs", MaxAbsScaler()), ("clf", LogisticRegression(max_iter=2000))])
    model.fit(Xtr, ytr)
    # held-out rows with edge cases: missing numbers (absent / null), an unknown country, missing channel
    # (imputed), missing plan (not imputed: unknown)
    Xte[0, c["income"]] = np.nan
    Xte[1, c["income"]] = np.nan
    Xte[2, c["country"]] = "ZZ"
    Xte[3, c["channel"]] = np.nan
    Xte[4, c["age"]] = np.nan
    Xte[5, c["plan"]] = np.nan  # missing category, no imputer, handle_unknown='ignore' -> all zeros
    payloads = []
    for i, row in enumerate(Xte):
        p: dict[str, Any] = {"id": f"c{i:04d}"}
        for name, v in zip(CT_COLUMNS, row):
            if isinstance(v, float) and np.isnan(v):
                if i % 2 == 1:
                    p[name] = None  # null; even rows leave the field out
                continue
            p[name] = v if isinstance(v, (str, int)) else float(v)
        payloads.append(p)
    return Case(model, "classifier", payloads, Xte, True, ["--features", ",".join(CT_COLUMNS)], "churned",
                dynamodb=True)


# --------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------

TEXT_WORDS = {
    "billing": ["invoice", "charged", "twice", "refund", "payment", "card", "bill", "Rechnung", "überweisung",
                "€49", "receipt", "VAT", "subscription", "price", "coupon", "factură"],
    "technical": ["crash", "error", "timeout", "login_page", "api", "500", "bug", "slow", "upload", "sync",
                  "Fehler", "café-app", "naïve", "ΟΔΟΣ", "東京", "server"],
    "account": ["password", "reset", "email", "username", "delete", "profile", "2fa", "locked", "İstanbul",
                "Zürich", "address", "straße", "ÉCOLE", "settings", "name", "account"],
    "spam": ["winner", "free", "prize", "click", "bitcoin", "offer", "urgent", "lottery", "cash", "💰",
             "guaranteed", "deal", "viagra", "casino", "bonus", "FREE!!!"],
}
TEXT_TEMPLATES = [
    "Hi, my {a} is {b} and the {c} does not work",
    "{A} {b}!! please help with the {c} asap 🙂",
    "I think the {a} {b} again, see {c} and {d}",
    "The {a} and the {b} are wrong; {c}? {d}.",
    "{a} {b} {c} — can't {d} anymore, thanks",
    "Re: {A} / {b} ({c}) — {d}_{a}",
]
FILLER = ["today", "yesterday", "the", "again", "still", "please", "my", "your", "a", "it", "x2"]
STOP_LIST = ["the", "and", "is", "my", "your", "does", "not", "please", "with", "see", "are", "can", "hi",
             "thanks", "re"]


def text_dataset(n: int = 320, seed: int = 5) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    cats = list(TEXT_WORDS)
    for i in range(n):
        cat = cats[i % len(cats)] if rnd.random() < 0.9 else rnd.choice(cats)
        words = TEXT_WORDS[cat]
        # a little cross-talk so the classes are not perfectly separable
        pick = lambda: rnd.choice(words if rnd.random() < 0.8 else TEXT_WORDS[rnd.choice(cats)] + FILLER)  # noqa
        a, b, c, d = pick(), pick(), pick(), pick()
        text = rnd.choice(TEXT_TEMPLATES).format(a=a, b=b, c=c, d=d, A=a.upper())
        if rnd.random() < 0.3:
            text += " " + " ".join(rnd.choice(FILLER) for _ in range(rnd.randint(1, 4)))
        rows.append({"id": f"t{i:04d}", "text": text, "category": cat, "spam": "spam" if cat == "spam" else "ham",
                     "priority": rnd.randint(1, 5), "customer_tier": rnd.choice(["gold", "silver"])})
    return rows


EXTRA_DOCS = ["", "the and is my", "zzz qqq unknownword", "Ünïcödé ΣΊΣΥΦΟΣ İSTANBUL ǅemal 東京 ①②", "a b c 1 2 3"]


def split_text(seed: int = 5) -> tuple[list[dict], list[dict]]:
    rows = text_dataset(seed=seed)
    test = rows[-40:] + [{"id": f"x{i}", "text": t, "category": None, "spam": None, "priority": i + 1,
                          "customer_tier": "gold"} for i, t in enumerate(EXTRA_DOCS)]
    return rows[:-40], test


def case_text_tfidf() -> Case:
    train, test = split_text()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), stop_words=STOP_LIST), LogisticRegression(max_iter=2000))
    model.fit([r["text"] for r in train], [r["category"] for r in train])
    payloads = [{"id": r["id"], "textblob": r["text"]} for r in test]
    return Case(model, "classifier", payloads, [r["text"] for r in test], True, ["--text-field", "textblob"],
                "category")


def case_text_hashing() -> Case:
    train, test = split_text()
    model = make_pipeline(
        HashingVectorizer(n_features=2 ** 12, ngram_range=(1, 2), stop_words="english"),
        TfidfTransformer(),
        SGDClassifier(loss="log_loss", random_state=0),
    )
    model.fit([r["text"] for r in train], [r["spam"] for r in train])
    payloads = [{"id": r["id"], "text": r["text"]} for r in test]
    return Case(model, "classifier", payloads, [r["text"] for r in test], True, [], "spam")


def case_text_column_transformer() -> Case:
    train, test = split_text()
    cols = ["message", "priority", "customer_tier"]
    to_x = lambda rows: np.array([[r["text"], float(r["priority"]), r["customer_tier"]] for r in rows],  # noqa
                                 dtype=object)
    ct = ColumnTransformer([
        ("msg", Pipeline([("count", CountVectorizer(binary=True, lowercase=False, stop_words="english")),
                          ("tfidf", TfidfTransformer(sublinear_tf=True, norm="l1")),
                          ("maxabs", MaxAbsScaler())]), 0),  # one column given as a scalar: 1-D text
        ("num", StandardScaler(), [1]),
    ])  # customer_tier is dropped (remainder='drop')
    model = make_pipeline(ct, LogisticRegression(max_iter=2000))
    model.fit(to_x(train), [r["category"] for r in train])
    payloads = [{"id": r["id"], "message": r["text"], "priority": r["priority"],
                 "customer_tier": r["customer_tier"]} for r in test]
    return Case(model, "classifier", payloads, to_x(test), True, ["--features", ",".join(cols)], "category")


CASES: dict[str, Callable[[], Case]] = {
    "diabetes_ols": case_diabetes_ols,
    "ridge": case_ridge,
    "lasso": case_lasso,
    "elasticnet": case_elasticnet,
    "sgd_regressor": case_sgd_regressor,
    "poisson": case_poisson,
    "gamma": case_gamma,
    "tweedie": case_tweedie,
    "tweedie_identity": case_tweedie_identity,
    "breast_cancer_logistic": case_breast_cancer_logistic,
    "iris_multinomial": case_iris_multinomial,
    "iris_ovr": case_iris_ovr,
    "linear_svc": case_linear_svc,
    "ridge_classifier": case_ridge_classifier,
    "ridge_classifier_binary": case_ridge_classifier_binary,
    "sgd_hinge": case_sgd_hinge,
    "sgd_log_loss": case_sgd_log_loss,
    "sgd_modified_huber": case_sgd_modified_huber,
    "column_transformer": case_column_transformer,
    "text_tfidf": case_text_tfidf,
    "text_hashing": case_text_hashing,
    "text_column_transformer": case_text_column_transformer,
}


# --------------------------------------------------------------------------------------
# events, expected outputs, import and self-check
# --------------------------------------------------------------------------------------


def seq_no(i: int) -> str:
    return str(SEQ_BASE + 1000 * i)


def kinesis_event(payloads: list[dict]) -> dict:
    records = []
    for i, p in enumerate(payloads):
        seq = seq_no(i)
        data = base64.b64encode(json.dumps(p, ensure_ascii=False).encode("utf-8")).decode("ascii")
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": seq, "data": data,
                        "approximateArrivalTimestamp": 1700000000.0},
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{seq}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/x",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
        })
    return {"Records": records}


def dynamo_attr(v: Any) -> dict:
    if v is None:
        return {"NULL": True}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int):
        return {"N": str(v)}
    if isinstance(v, float):
        return {"N": repr(v)}
    raise TypeError(type(v))


def dynamodb_event(payloads: list[dict]) -> dict:
    records = []
    for i, p in enumerate(payloads):
        image = {k: dynamo_attr(v) for k, v in p.items()}
        records.append({
            "eventID": f"{i + 1:032x}",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1700000000.0,
                "Keys": {"id": {"S": p["id"]}},
                "NewImage": image,
                "SequenceNumber": seq_no(i),
                "SizeBytes": len(json.dumps(image)),
                "StreamViewType": "NEW_IMAGE",
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/customers/stream/2023-11-14T22:13:20.000",
        })
    return {"Records": records}


def label_json(v: Any) -> str | int:
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return int(v)
    raise TypeError(f"label {v!r} of type {type(v)}")


def expected_outputs(case: Case) -> dict:
    m = case.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Found unknown categories ... encoded as all zeros"
        pred = m.predict(case.X)
        proba = m.predict_proba(case.X) if case.proba else None
        decision = m.decision_function(case.X) if case.kind == "classifier" else None
    records = []
    for i, p in enumerate(case.payloads):
        rec: dict[str, Any] = {"id": p["id"], "sequence_number": seq_no(i)}
        if case.kind == "regressor":
            rec["prediction"] = float(pred[i])
        else:
            rec["prediction"] = label_json(pred[i])
        rec["probabilities"] = None if proba is None else {
            str(label_json(c)): float(pk) for c, pk in zip(m.classes_, proba[i])}
        if decision is None:
            rec["decision"] = None
        else:
            row = np.atleast_1d(decision[i])
            rec["decision"] = [float(v) for v in row]
        records.append(rec)
    return {"kind": case.kind, "records": records}


def write_json(path: str, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, ensure_ascii=False, allow_nan=False)
        fh.write("\n")


def write_text_dataset(outdir: str) -> None:
    with open(os.path.join(outdir, "text_dataset.csv"), "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "text", "category", "spam", "priority", "customer_tier"])
        w.writeheader()
        for r in text_dataset():
            w.writerow(r)


def run_case(name: str, outdir: str) -> tuple[bool, float, int, str]:
    case = CASES[name]()
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    model_path = os.path.join(d, "model.joblib")
    joblib.dump(case.model, model_path)
    kin = kinesis_event(case.payloads)
    write_json(os.path.join(d, "event.json"), kin)
    events = [("kinesis", kin)]
    if case.dynamodb:
        ddb = dynamodb_event(case.payloads)
        write_json(os.path.join(d, "event-dynamodb.json"), ddb)
        events.append(("dynamodb", ddb))
    expected = expected_outputs(case)
    write_json(os.path.join(d, "expected.json"), expected)

    artifact_path = os.path.join(d, "artifact.json")
    cmd = [sys.executable, os.path.join(HERE, "import_sklearn.py"), model_path, "--name", name.replace("_", "-"),
           "--target", case.target, "--out", artifact_path, *case.import_args]
    # The arguments `stream-infer import` needs for this case, for the Rust parity test.
    write_json(os.path.join(d, "import.json"),
               {"args": ["--name", name.replace("_", "-"), "--target", case.target, *case.import_args]})
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return False, float("nan"), len(case.payloads), f"importer exit {proc.returncode}: {proc.stderr.strip()}"
    note = proc.stderr.strip()
    with open(artifact_path, encoding="utf-8") as fh:
        artifact = json.load(fh)
    worst, problems = 0.0, []
    for label, ev in events:
        w, p = check_artifact.compare(artifact, ev, expected, TOL)
        worst = max(worst, w)
        problems += [f"[{label}] {msg}" for msg in p]
    detail = "; ".join(problems[:3]) if problems else note
    return not problems, worst, len(case.payloads), detail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir")
    p.add_argument("--only", help="comma-separated case names")
    a = p.parse_args(argv)
    names = a.only.split(",") if a.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error(f"unknown case(s): {unknown}")
    os.makedirs(a.outdir, exist_ok=True)
    write_text_dataset(a.outdir)
    failed = 0
    print(f"{'case':26} {'records':>7} {'max rel err':>12}  result")
    for n in names:
        ok, worst, count, detail = run_case(n, a.outdir)
        failed += not ok
        print(f"{n:26} {count:7d} {worst:12.3g}  {'PASS' if ok else 'FAIL'}{'  ' + detail if detail else ''}")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
