#!/usr/bin/env python3
"""Fits the bundled sample models, imports them, and writes their events and expected outcomes.

Run from the project root with the pinned scikit-learn:

    .venv/bin/python models/make_samples.py

It writes, for each sample:

    model/<sample>.json             the artifact, made by `stream-infer import` (content hash set)
    events/<event>.json             a real Lambda event: good records and a few bad ones
    events/expected/<event>.json    MODEL_URI and each record's outcome, reason, key, label and
                                    the probabilities scikit-learn computed for it

The samples:

    classifier   breast-cancer StandardScaler + LogisticRegression on 30 snake_case numbers
                 (labels "benign" / "malignant"), Kinesis event events/kinesis-classifier.json
    text         TfidfVectorizer + LogisticRegression on generated support tickets (labels
                 "account" / "billing" / "bug"), reading the Kinesis field `textblob`,
                 events/kinesis-text.json
    categorical  a churn classifier (labels "churn" / "stay") behind a ColumnTransformer:
                 one-hot country (unknown ignored) and plan (unknown is an error), imputed and
                 scaled numbers, and one scaled number with no imputer; DynamoDB `S`/`N`
                 attributes, events/dynamodb-categorical.json

Deterministic: the data come from scikit-learn's bundled breast-cancer set and from generators
with fixed seeds, and the fits are deterministic, so a re-run writes the same events,
expectations and artifact versions (content hashes). Only provenance changes: `imported_at`, and
the text model's `file_sha256`, because a fitted TfidfVectorizer pickles an object's address
(`_stop_words_id`). The fitted objects go to a temporary directory and are not kept.

`stream-infer import` runs as `target/debug/stream-infer`, or as the command in
`STREAM_INFER` (for example `STREAM_INFER="cargo run --quiet --bin stream-infer --"`).
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import random
import shlex
import subprocess
import sys
import tempfile
import warnings
from typing import Any

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
MODELS = ROOT / "model"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/stream-infer-input"
TABLE_STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/customers/stream/2026-11-01T00:00:00.000"
)
T0 = 1795000000.0


# --------------------------------------------------------------------------------------
# event shapes (as events/generate.py writes them)
# --------------------------------------------------------------------------------------


def seq(i: int) -> str:
    return "4959" + str(10**50 + i * 7919)


def dseq(i: int) -> str:
    return str(1000000 + i * 100)


def b64(obj_or_text: Any) -> str:
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text, ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def kinesis_record(i: int, data: str, partition_key: str) -> dict:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq(i),
            "data": data,
            "approximateArrivalTimestamp": T0 + i * 0.25,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000000:" + seq(i),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-infer",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def dynamodb_record(i: int, event_name: str, key: str, new_image: dict | None) -> dict:
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": T0 + i,
        "Keys": {"id": {"S": key}},
        "SequenceNumber": dseq(i),
        "SizeBytes": 200,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_image is not None:
        dynamodb["NewImage"] = new_image
    if event_name == "REMOVE":
        dynamodb["OldImage"] = {"id": {"S": key}}
    return {
        "eventID": f"{i:032x}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": TABLE_STREAM_ARN,
    }


def attribute(v: Any) -> dict:
    """A DynamoDB attribute value as the stream shows it."""
    if v is None:
        return {"NULL": True}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, int):
        return {"N": str(v)}
    return {"N": repr(float(v))}


# --------------------------------------------------------------------------------------
# expectations
# --------------------------------------------------------------------------------------


def predicted(record_id: str, key: str, model: Any, label: Any, proba: np.ndarray, imputed=()) -> dict:
    """A predicted record: scikit-learn's label and probability of each class."""
    want: dict[str, Any] = {
        "id": record_id,
        "outcome": "predicted",
        "key": key,
        "prediction": str(label),
        "probabilities": {str(c): float(p) for c, p in zip(model.classes_, proba)},
    }
    if imputed:
        want["imputed"] = list(imputed)
    return want


def rejected(record_id: str, reason: str) -> dict:
    return {"id": record_id, "outcome": "rejected", "reason": reason}


def sklearn_predict(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        # "Found unknown categories … encoded as all zeros" is the point of one record.
        warnings.simplefilter("ignore")
        return model.predict(X), model.predict_proba(X)


def write_event(name: str, records: list[dict], expected: list[dict], model_file: str) -> None:
    (EVENTS / f"{name}.json").write_text(
        json.dumps({"Records": records}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    doc = {"config": {"MODEL_URI": f"model/{model_file}"}, "records": expected}
    (EVENTS / "expected" / f"{name}.json").write_text(
        json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
    )


def import_model(model: Any, tmp: pathlib.Path, file: str, args: list[str]) -> None:
    """Dumps `model` and converts it with `stream-infer import` into model/<file>."""
    joblib_path = tmp / file.replace(".json", ".joblib")
    joblib.dump(model, joblib_path)
    command = shlex.split(os.environ.get("STREAM_INFER", str(ROOT / "target/debug/stream-infer")))
    env = {**os.environ, "STREAM_INFER_PYTHON": sys.executable}
    subprocess.run(
        [*command, "import", str(joblib_path), *args, "--out", str(MODELS / file)],
        check=True,
        cwd=ROOT,
        env=env,
    )


# --------------------------------------------------------------------------------------
# 1. a binary classifier on numbers: breast cancer
# --------------------------------------------------------------------------------------


def snake(name: str) -> str:
    return "_".join(name.lower().split())


def classifier(tmp: pathlib.Path) -> None:
    data = load_breast_cancer()
    names = [snake(n) for n in data.feature_names]  # mean_radius, …, worst_fractal_dimension
    labels = np.asarray(data.target_names, dtype=object)[data.target]  # "malignant" / "benign"
    X_train, X_test, y_train, _ = train_test_split(
        data.data, labels, test_size=10, random_state=0, stratify=labels
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    import_model(model, tmp, "classifier.json",
                 ["--name", "breast-cancer", "--target", "diagnosis", "--features", ",".join(names)])

    def row(x: np.ndarray) -> dict:
        return {n: float(v) for n, v in zip(names, x)}

    labels_out, proba = sklearn_predict(model, X_test)
    good = row(X_test[0])
    # (key, payload or None when the record is hand-made, reason when rejected)
    cases: list[tuple[str, Any, str | None]] = [
        (f"case-{i + 1:03d}", {"id": f"case-{i + 1:03d}", **row(x)}, None) for i, x in enumerate(X_test)
    ]
    cases += [
        ("bad-json", "{\"id\": \"bad-json\", \"mean_radius\": 17.99", "not_json"),
        ("no-radius", {"id": "no-radius", **{k: v for k, v in good.items() if k != "mean_radius"}},
         "feature_missing"),
        ("radius-string", {"id": "radius-string", **good, "mean_radius": "17.99"}, "feature_not_number"),
        ("texture-null", {"id": "texture-null", **good, "mean_texture": None}, "feature_null"),
    ]
    records, expected = [], []
    for i, (key, payload, reason) in enumerate(cases):
        records.append(kinesis_record(i, b64(payload), key))
        if reason is None:
            expected.append(predicted(seq(i), key, model, labels_out[i], proba[i]))
        else:
            expected.append(rejected(seq(i), reason))
    write_event("kinesis-classifier", records, expected, "classifier.json")


# --------------------------------------------------------------------------------------
# 2. a text classifier: support tickets
# --------------------------------------------------------------------------------------

TICKET_WORDS = {
    "billing": ["invoice", "charged", "twice", "refund", "payment", "card", "bill", "receipt", "subscription",
                "price", "discount", "coupon", "vat", "renewal", "overcharged", "Rechnung"],
    "bug": ["crash", "crashes", "error", "500", "timeout", "broken", "freezes", "upload", "sync", "slow",
            "button", "blank", "screen", "exception", "app", "Fehler"],
    "account": ["password", "reset", "login", "email", "username", "locked", "2fa", "profile", "delete",
                "address", "verification", "account", "settings", "name", "code", "Passwort"],
}
TICKET_TEMPLATES = [
    "Hi, the {a} {b} and I need help with my {c}",
    "{A} {b} again, {c} still not fixed",
    "Why is my {a} {b}? See {c}",
    "Please check the {a}: {b} and {c}",
    "{a}! {b} {c} since yesterday",
    "Question about {a} and {b} ({c})",
]
TICKET_FILLER = ["today", "again", "still", "please", "urgent", "thanks", "yesterday", "help", "since", "monday"]


def tickets(n: int = 300, seed: int = 20261101) -> tuple[list[str], list[str]]:
    """n generated tickets, a third per label, with some cross-talk so no word decides alone."""
    rnd = random.Random(seed)
    labels = list(TICKET_WORDS)
    texts, ys = [], []
    for i in range(n):
        label = labels[i % len(labels)]
        own = TICKET_WORDS[label]
        other = TICKET_WORDS[rnd.choice(labels)] + TICKET_FILLER

        def pick() -> str:
            return rnd.choice(own if rnd.random() < 0.8 else other)

        a, b, c = pick(), pick(), pick()
        text = rnd.choice(TICKET_TEMPLATES).format(a=a, b=b, c=c, A=a.upper())
        if rnd.random() < 0.3:
            text += " " + " ".join(rnd.choice(TICKET_FILLER) for _ in range(rnd.randint(1, 3)))
        texts.append(text)
        ys.append(label)
    return texts, ys


# Written by hand, not drawn from the generator: tickets the model never saw.
TEXT_EVENT = [
    ("T-1001", "I was charged twice for my subscription this month, please refund one payment"),
    ("T-1002", "The app crashes with error 500 every time I upload a photo"),
    ("T-1003", "Password reset email never arrives, my account is locked"),
    ("T-1004", "Where can I download the invoice and VAT receipt for last month?"),
    ("T-1005", "Screen stays blank after login, sync is broken since the update"),
    ("T-1006", "Please delete my profile and change the email address on my account"),
    ("T-1007", "Die Rechnung ist falsch: zu viel bezahlt, bitte Rückerstattung"),
    ("T-1008", "2FA code not accepted, cannot change my username"),
    ("T-1009", "Upload is very slow and then a timeout exception 🙁"),
    ("T-1010", ""),
]


def text(tmp: pathlib.Path) -> None:
    texts, labels = tickets()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(max_iter=1000))
    model.fit(texts, labels)
    import_model(model, tmp, "text.json",
                 ["--name", "support-tickets", "--target", "category", "--text-field", "textblob"])

    labels_out, proba = sklearn_predict(model, [t for _, t in TEXT_EVENT])
    cases: list[tuple[str, Any, str | None]] = [
        (key, {"id": key, "textblob": t, "channel": "email"}, None) for key, t in TEXT_EVENT
    ]
    cases += [
        ("T-1011", {"id": "T-1011", "textblob": 42}, "text_not_string"),
        ("T-1012", {"id": "T-1012", "subject": "refund please"}, "feature_missing"),
        ("T-1013", {"id": "T-1013", "textblob": None}, "feature_null"),
        ("T-1014", "textblob=my invoice is wrong", "not_json"),
    ]
    records, expected = [], []
    for i, (key, payload, reason) in enumerate(cases):
        records.append(kinesis_record(i, b64(payload), key))
        if reason is None:
            expected.append(predicted(seq(i), key, model, labels_out[i], proba[i]))
        else:
            expected.append(rejected(seq(i), reason))
    write_event("kinesis-text", records, expected, "text.json")


# --------------------------------------------------------------------------------------
# 3. categories and numbers on DynamoDB: churn
# --------------------------------------------------------------------------------------

CHURN_INPUTS = ["country", "plan", "age", "monthly_spend", "tenure_months", "support_calls"]
COUNTRIES = ["US", "DE", "FR", "GB", "IN"]
PLANS = ["basic", "pro", "enterprise"]


def customers(n: int = 600, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, n, p=[0.35, 0.2, 0.15, 0.15, 0.15])
    plan = rng.choice(PLANS, n, p=[0.5, 0.35, 0.15])
    age = np.round(rng.uniform(18, 75, n))
    spend = np.round(rng.lognormal(3.4, 0.5, n), 2)
    tenure = rng.integers(0, 72, n).astype(float)
    calls = rng.poisson(1.5, n).astype(float)
    logit = (0.6 * calls - 0.04 * tenure - 0.6 * (plan == "enterprise") - 0.2 * (plan == "pro")
             + 0.4 * (country == "US") - 0.3 * (country == "DE") - 0.015 * (age - 45) + 0.01 * (spend - 30))
    y = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-logit)), "churn", "stay").astype(object)
    X = np.empty((n, len(CHURN_INPUTS)), dtype=object)
    for j, column in enumerate([country, plan, age, spend, tenure, calls]):
        X[:, j] = list(column)
    return X, y


def categorical(tmp: pathlib.Path) -> None:
    X, y = customers()
    c = {name: j for j, name in enumerate(CHURN_INPUTS)}
    prep = ColumnTransformer([
        ("country", OneHotEncoder(handle_unknown="ignore"), [c["country"]]),
        ("plan", OneHotEncoder(handle_unknown="error"), [c["plan"]]),
        ("numbers", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
         [c["age"], c["monthly_spend"], c["tenure_months"]]),
        ("calls", StandardScaler(), [c["support_calls"]]),
    ])
    model = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))])
    model.fit(X, y)
    import_model(model, tmp, "categorical.json",
                 ["--name", "churn", "--target", "churned", "--features", ",".join(CHURN_INPUTS)])

    def customer(country, plan, age, spend, tenure, calls) -> dict:
        return dict(zip(CHURN_INPUTS, [country, plan, age, spend, tenure, calls]))

    good = [
        customer("US", "basic", 23, 19.99, 2, 5),
        customer("DE", "enterprise", 51, 129.0, 60, 0),
        customer("FR", "pro", 38, 49.5, 14, 1),
        customer("GB", "basic", 64, 12.0, 40, 3),
        customer("IN", "pro", 29, 35.25, 7, 2),
        customer("US", "enterprise", 45, 240.0, 36, 4),
        customer("DE", "basic", 33, 9.99, 1, 0),
        customer("FR", "basic", 70, 22.0, 71, 6),
    ]
    # (key, event name, attributes or None, reason or None, imputed inputs)
    cases: list[tuple[str, str, dict | None, str | None, list[str]]] = [
        (f"cust-{i + 1:03d}", "INSERT" if i % 3 else "MODIFY", {k: attribute(v) for k, v in g.items()}, None, [])
        for i, g in enumerate(good)
    ]
    base = {k: attribute(v) for k, v in good[2].items()}
    cases += [
        # A country the encoder never saw: handle_unknown="ignore" gives all zeros, as in scikit-learn.
        ("cust-brazil", "INSERT", {**base, "country": {"S": "BR"}}, None, []),
        # A missing number and a NULL one, both with an imputer: filled with the training median.
        ("cust-no-spend", "INSERT", {k: v for k, v in base.items() if k != "monthly_spend"}, None,
         ["monthly_spend"]),
        ("cust-null-age", "MODIFY", {**base, "age": {"NULL": True}}, None, ["age"]),
        # A plan the encoder never saw, where handle_unknown="error".
        ("cust-platinum", "INSERT", {**base, "plan": {"S": "platinum"}}, "category_unknown", []),
        # support_calls has no imputer.
        ("cust-no-calls", "INSERT", {k: v for k, v in base.items() if k != "support_calls"}, "feature_missing", []),
        ("cust-bool-country", "INSERT", {**base, "country": {"BOOL": True}}, "category_wrong_type", []),
        ("cust-bad-spend", "INSERT", {**base, "monthly_spend": {"N": "forty"}}, "feature_not_numeric", []),
        ("cust-gone", "REMOVE", None, "skipped", []),
    ]

    def sklearn_row(attrs: dict) -> list:
        row = []
        for name in CHURN_INPUTS:
            a = attrs.get(name, {"NULL": True})
            row.append(np.nan if "NULL" in a else a["S"] if "S" in a else float(a["N"]))
        return row

    good_cases = [case for case in cases if case[3] is None]
    X_event = np.array([sklearn_row(attrs) for _, _, attrs, _, _ in good_cases], dtype=object)
    labels_out, proba = sklearn_predict(model, X_event)
    records, expected, g = [], [], 0
    for i, (key, event_name, attrs, reason, imputed) in enumerate(cases):
        image = None if attrs is None else {"id": {"S": key}, **attrs}
        records.append(dynamodb_record(i, event_name, key, image))
        if reason is None:
            expected.append(predicted(dseq(i), key, model, labels_out[g], proba[g], imputed))
            g += 1
        elif reason == "skipped":
            expected.append({"id": dseq(i), "outcome": "skipped"})
        else:
            expected.append(rejected(dseq(i), reason))
    write_event("dynamodb-categorical", records, expected, "categorical.json")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        classifier(pathlib.Path(tmp))
        text(pathlib.Path(tmp))
        categorical(pathlib.Path(tmp))
