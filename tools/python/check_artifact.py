#!/usr/bin/env python3
"""Reference evaluator for stream-infer artifacts (format_version 2), independent of scikit-learn.

It follows /work/scratch/SCHEMA.md literally using only numpy, `re` and a pure-Python
MurmurHash3, so that running it against sklearn's own predictions proves the importer wrote
what sklearn computes -- and shows the Rust side one exact reading of every field.

Usage:
    python check_artifact.py ARTIFACT.json EVENT.json EXPECTED.json [--tol 1e-9]

EVENT is a Kinesis or DynamoDB Streams Lambda event; EXPECTED is parity_cases.py's expected.json.
Exit 0 when every record matches within the relative tolerance, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import sys
from typing import Any

import numpy as np

SKLEARN_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")


class Rejected(Exception):
    """The record cannot be scored (the runtime would report it with this reason)."""


# --------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------


def is_word_char(ch: str) -> bool:
    """Python's `\\w` for str patterns: alphanumeric per str.isalnum(), or underscore.
    (Not the same set as Rust regex's Unicode `\\w`, which also contains marks and connectors.)"""
    return ch == "_" or ch.isalnum()


def tokenize(doc: str) -> list[str]:
    """`(?u)\\b\\w\\w+\\b` == every maximal run of word characters that is >= 2 code points long."""
    tokens, run = [], []
    for ch in doc:
        if is_word_char(ch):
            run.append(ch)
        else:
            if len(run) >= 2:
                tokens.append("".join(run))
            run = []
    if len(run) >= 2:
        tokens.append("".join(run))
    return tokens


def analyze(doc: str, step: dict) -> list[str]:
    if step["lowercase"]:
        doc = doc.lower()
    tokens = tokenize(doc)
    assert tokens == SKLEARN_TOKEN_RE.findall(doc), "run tokenizer disagrees with sklearn's regex"
    if step["stop_words"] is not None:
        stop = set(step["stop_words"])
        tokens = [t for t in tokens if t not in stop]
    lo, hi = step["ngram_range"]
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), hi + 1):
        out.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return out


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32, returned as a signed 32-bit int (sklearn.utils.murmurhash3_32)."""
    m = 0xFFFFFFFF
    c1, c2 = 0xCC9E2D51, 0x1B873593

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & m

    h = seed & m
    nblocks = len(data) // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * c1) & m
        k = rotl(k, 15)
        k = (k * c2) & m
        h ^= k
        h = rotl(h, 13)
        h = (h * 5 + 0xE6546B64) & m
    tail = data[4 * nblocks:]
    k = 0
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & m
        k = rotl(k, 15)
        k = (k * c2) & m
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & m
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & m
    h ^= h >> 16
    return h - (1 << 32) if h >= (1 << 31) else h


def hash_index_sign(token: str, n_features: int) -> tuple[int, int]:
    h = murmurhash3_32(token.encode("utf-8"), 0)
    if h == -(2 ** 31):  # sklearn: abs(-2**31) % n computed without overflow
        idx = (2147483647 - (n_features - 1)) % n_features
    else:
        idx = abs(h) % n_features
    return idx, (1 if h >= 0 else -1)


def normalize(vec: dict[int, float], norm: str | None) -> dict[int, float]:
    """sklearn.preprocessing.normalize on one CSR row: sum in ascending column order."""
    if norm is None:
        return vec
    total = 0.0
    for j in sorted(vec):
        total += vec[j] * vec[j] if norm == "l2" else abs(vec[j])
    if norm == "l2":
        total = math.sqrt(total)
    if total == 0.0:
        return vec
    return {j: v / total for j, v in vec.items()}


def text_block(doc: Any, steps: list[dict]) -> tuple[dict[int, float], int]:
    if not isinstance(doc, str):
        raise Rejected("missing_input" if doc is None else "bad_type")
    first = steps[0]
    terms = analyze(doc, first)
    vec: dict[int, float] = {}
    if first["kind"] == "count_vectorizer":
        width = len(first["vocabulary"])
        for t in terms:
            j = first["vocabulary"].get(t)
            if j is not None:
                vec[j] = vec.get(j, 0.0) + 1.0
        if first["binary"]:
            vec = {j: 1.0 for j in vec}
    elif first["kind"] == "hashing_vectorizer":
        width = first["n_features"]
        for t in terms:
            j, sign = hash_index_sign(t, width)
            vec[j] = vec.get(j, 0.0) + (sign if first["alternate_sign"] else 1.0)
        if first["binary"]:
            # sklearn fills every stored entry with 1: the sign is lost, and an index whose +1/-1
            # tokens cancelled to 0 is still stored (scipy keeps explicit zeros) and becomes 1 too.
            vec = {j: 1.0 for j in vec}
        vec = normalize(vec, first["norm"])
    else:
        raise AssertionError(first["kind"])
    for s in steps[1:]:
        if s["kind"] == "tfidf":
            if s["sublinear_tf"]:
                vec = {j: math.log(v) + 1.0 for j, v in vec.items()}
            if s["idf"] is not None:
                vec = {j: v * s["idf"][j] for j, v in vec.items()}
            vec = normalize(vec, s["norm"])
        elif s["kind"] == "max_abs_scaler":
            vec = {j: v / s["scale"][j] for j, v in vec.items()}
        elif s["kind"] == "standard_scaler":
            assert s["mean"] is None
            if s["scale"] is not None:
                vec = {j: v / s["scale"][j] for j, v in vec.items()}
        else:
            raise AssertionError(s["kind"])
    return vec, width


# --------------------------------------------------------------------------------------
# numbers and categories
# --------------------------------------------------------------------------------------


def scale_steps(x: np.ndarray, steps: list[dict]) -> np.ndarray:
    for s in steps:
        if s["kind"] == "standard_scaler":
            if s["mean"] is not None:
                x = x - np.asarray(s["mean"])
            if s["scale"] is not None:
                x = x / np.asarray(s["scale"])
        elif s["kind"] == "min_max_scaler":
            x = x * np.asarray(s["scale"]) + np.asarray(s["min"])
        elif s["kind"] == "max_abs_scaler":
            x = x / np.asarray(s["scale"])
        else:
            raise AssertionError(s["kind"])
    return x


def number_block(values: list[Any], steps: list[dict]) -> np.ndarray:
    vals = list(values)
    rest = steps
    if steps and steps[0]["kind"] == "impute":
        vals = [steps[0]["fill"][i] if v is None else v for i, v in enumerate(vals)]
        rest = steps[1:]
    out = []
    for v in vals:
        if v is None:
            raise Rejected("missing_input")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Rejected("bad_type")
        out.append(float(v))
    assert all(s["kind"] != "impute" for s in rest), "impute must come first in a number block"
    return scale_steps(np.asarray(out, dtype=np.float64), rest)


def same_category(a: Any, b: Any) -> bool:
    """JSON-exact equality: the string "1" is not the integer 1."""
    return type(a) is type(b) and a == b


def category_block(values: list[Any], steps: list[dict]) -> np.ndarray:
    vals = list(values)
    if steps[0]["kind"] == "impute":
        vals = [steps[0]["fill"][i] if v is None else v for i, v in enumerate(vals)]
        steps = steps[1:]
    (oh,) = steps
    assert oh["kind"] == "one_hot"
    drop = oh["drop"] or [None] * len(oh["categories"])
    out: list[float] = []
    for v, cats, d in zip(vals, oh["categories"], drop):
        # A missing value that no impute step filled is an unknown category, as in sklearn
        # (NaN/None is simply not among categories_): all zeros with "ignore", rejected with "error".
        if v is not None and (isinstance(v, bool) or not isinstance(v, (str, int))):
            raise Rejected("bad_type")
        hot = [v is not None and same_category(v, c) for c in cats]
        if not any(hot) and oh["handle_unknown"] == "error":
            raise Rejected("category_unknown")
        if d is not None:
            del hot[d]
        out.extend(1.0 if h else 0.0 for h in hot)
    return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------------------
# whole artifact
# --------------------------------------------------------------------------------------


def features(artifact: dict, record: dict) -> np.ndarray:
    kinds = {i["name"]: i["kind"] for i in artifact["inputs"]}
    parts = []
    for block in artifact["transforms"]["blocks"]:
        values = [record.get(name) for name in block["inputs"]]
        kind = {kinds[n] for n in block["inputs"]}
        assert len(kind) == 1, block["inputs"]
        kind = kind.pop()
        if kind == "number":
            parts.append(number_block(values, block["steps"]))
        elif kind == "category":
            parts.append(category_block(values, block["steps"]))
        else:
            assert len(values) == 1
            vec, width = text_block(values[0], block["steps"])
            dense = np.zeros(width)
            for j, v in vec.items():
                dense[j] = v
            parts.append(dense)
    x = np.concatenate(parts) if parts else np.zeros(0)
    x = scale_steps(x, artifact["transforms"]["then"])
    assert x.shape == (len(artifact["feature_names"]),)
    return x


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def evaluate(artifact: dict, record: dict) -> dict:
    """-> {"prediction", "probabilities", "decision"} like expected.json; raises Rejected."""
    x = features(artifact, record)
    est = artifact["estimator"]
    kind = est["kind"]
    if kind in ("linear_regression", "glm"):
        z = float(x @ np.asarray(est["coef"]) + est["intercept"])
        if kind == "glm" and est["link"] == "log":
            z = math.exp(z)
        return {"prediction": z, "probabilities": None, "decision": None}
    classes = est["classes"]
    z = np.asarray(est["coef"]) @ x + np.asarray(est["intercept"])
    # label from the decision values, exactly like sklearn's predict
    label = (classes[1] if z[0] > 0 else classes[0]) if len(z) == 1 else classes[int(np.argmax(z))]
    probs = None
    if kind == "logistic":
        mode = est["multi_class"]
        if mode == "binary":
            p1 = float(sigmoid(z)[0])
            p = [1.0 - p1, p1]
        elif mode == "multinomial":
            e = np.exp(z - z.max())
            p = list(e / e.sum())
        elif mode == "ovr":
            s = sigmoid(z)
            p = list(s / s.sum())
        else:
            raise AssertionError(mode)
        probs = {str(c): float(pk) for c, pk in zip(classes, p)}
    else:
        assert kind == "linear_classifier", kind
    return {"prediction": label, "probabilities": probs, "decision": [float(v) for v in z]}


# --------------------------------------------------------------------------------------
# events and comparison
# --------------------------------------------------------------------------------------


def dynamo_value(attr: dict) -> Any:
    ((t, v),) = attr.items()
    if t == "S":
        return v
    if t == "N":
        return int(v) if re.fullmatch(r"-?\d+", v) else float(v)
    if t == "NULL":
        return None
    if t == "BOOL":
        return v
    raise AssertionError(f"unsupported DynamoDB attribute type {t}")


def event_records(event: dict) -> list[tuple[str, dict]]:
    """(sequence number, payload) for every record of a Kinesis or DynamoDB Streams event."""
    out = []
    for r in event["Records"]:
        if r.get("eventSource") == "aws:kinesis":
            payload = json.loads(base64.b64decode(r["kinesis"]["data"]).decode("utf-8"))
            out.append((r["kinesis"]["sequenceNumber"], payload))
        elif r.get("eventSource") == "aws:dynamodb":
            image = r["dynamodb"]["NewImage"]
            out.append((r["dynamodb"]["SequenceNumber"], {k: dynamo_value(v) for k, v in image.items()}))
        else:
            raise AssertionError(f"unknown eventSource {r.get('eventSource')}")
    return out


def rel_err(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def compare(artifact: dict, event: dict, expected: dict, tol: float = 1e-9) -> tuple[float, list[str]]:
    """Max relative error over all numbers, and a list of mismatch descriptions."""
    worst, problems = 0.0, []
    want = {r["sequence_number"]: r for r in expected["records"]}
    records = event_records(event)
    assert len(records) == len(want), (len(records), len(want))

    def check(a: float, b: float, what: str) -> None:
        nonlocal worst
        e = rel_err(a, b)
        worst = max(worst, e)
        if e > tol and abs(a - b) > 1e-15:  # absolute floor for values that are ~0 by cancellation
            problems.append(f"{what}: got {a!r}, sklearn {b!r} (rel {e:.3g})")

    for seq, payload in records:
        exp = want[seq]
        tag = f"record {exp['id']} ({seq})"
        if payload.get("id") != exp["id"]:
            problems.append(f"{tag}: id {payload.get('id')!r} != {exp['id']!r}")
        try:
            got = evaluate(artifact, payload)
        except Rejected as r:
            problems.append(f"{tag}: rejected ({r})")
            continue
        if expected["kind"] == "regressor":
            check(got["prediction"], exp["prediction"], f"{tag} prediction")
        else:
            if not (type(got["prediction"]) is type(exp["prediction"]) and got["prediction"] == exp["prediction"]):
                problems.append(f"{tag}: label {got['prediction']!r} != sklearn {exp['prediction']!r}")
        for key in ("probabilities", "decision"):
            g, e = got[key], exp[key]
            if (g is None) != (e is None):
                problems.append(f"{tag}: {key} {g!r} vs sklearn {e!r}")
            elif isinstance(e, dict):
                if set(g) != set(e):
                    problems.append(f"{tag}: {key} labels {sorted(g)} vs {sorted(e)}")
                for k in e:
                    check(g.get(k, math.nan), e[k], f"{tag} {key}[{k}]")
            elif isinstance(e, list):
                if len(g) != len(e):
                    problems.append(f"{tag}: {key} length {len(g)} vs {len(e)}")
                for i, (a, b) in enumerate(zip(g, e)):
                    check(a, b, f"{tag} {key}[{i}]")
    return worst, problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="check an artifact against sklearn's expected outputs")
    p.add_argument("artifact")
    p.add_argument("event")
    p.add_argument("expected")
    p.add_argument("--tol", type=float, default=1e-9)
    a = p.parse_args(argv)
    load = lambda path: json.load(open(path, encoding="utf-8"))  # noqa: E731
    worst, problems = compare(load(a.artifact), load(a.event), load(a.expected), a.tol)
    for msg in problems:
        print(msg)
    print(f"max relative error {worst:.3g}; {len(problems)} mismatch(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
