"""The usual Python Lambda for a scikit-learn classifier pipeline, to measure stream-infer's
imported classifiers against.

The fitted pipeline is loaded with joblib at module level from MODEL_PATH. Records are decoded
as in handler.py (records.py). The inputs are either numeric fields (FEATURES, comma-separated:
one float row per record) or one text field (TEXT_FIELD: the list of strings a TfidfVectorizer
pipeline takes). One `predict_proba` runs per batch, and each record's label is the class of its
highest probability, which is what `predict` would answer for a logistic regression without a
second pass. Each prediction is one JSON line on OUT with the label and the probability of each
class, like stream-infer's stdout sink.
"""

import json
import os
import sys

import joblib
import numpy as np

from records import decode_batch

MODEL = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
FEATURES = [f for f in os.environ.get("FEATURES", "").split(",") if f]
TEXT_FIELD = os.environ.get("TEXT_FIELD")
CLASSES = [c.item() if hasattr(c, "item") else c for c in MODEL.classes_]
# The model method whose cost is "predict" (driver.py times it alone).
METHOD = "predict_proba"
OUT = sys.stdout


def features(payloads, rejected):
    """The pipeline's input, one row per accepted payload; the others are rejected."""
    rows, keys = [], []
    for seq, payload in payloads:
        try:
            if TEXT_FIELD:
                text = payload[TEXT_FIELD]
                if not isinstance(text, str):
                    raise TypeError(f"{TEXT_FIELD} is not a string")
                rows.append(text)
            else:
                rows.append([float(payload[name]) for name in FEATURES])
            keys.append((seq, payload.get("id")))
        except (KeyError, TypeError, ValueError) as error:
            rejected.append({"id": seq, "reason": repr(error)})
    if TEXT_FIELD:
        return rows, keys
    return np.array(rows, dtype=float).reshape(len(rows), len(FEATURES)), keys


def predict(x):
    return MODEL.predict_proba(x) if len(x) else np.empty((0, len(CLASSES)))


def respond(keys, probabilities, rejected):
    for (seq, key), p in zip(keys, probabilities):
        OUT.write(json.dumps({
            "id": seq, "key": key, "prediction": CLASSES[int(np.argmax(p))],
            "probabilities": {str(c): float(v) for c, v in zip(CLASSES, p)},
        }) + "\n")
    return {"batchItemFailures": []}


def handler(event, context):
    payloads, rejected = decode_batch(event)
    x, keys = features(payloads, rejected)
    return respond(keys, predict(x), rejected)
