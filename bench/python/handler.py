"""The usual Python Lambda for the same job, to measure stream-infer against.

Written the way Python Lambda users write it: the scikit-learn model is loaded with joblib at
module level, each Kinesis record is base64-decoded and json.loads-ed in a loop (DynamoDB images
go through boto3's TypeDeserializer; see records.py), and one model.predict runs per batch.
Predictions are written as JSON lines to OUT (stdout by default), like stream-infer's stdout
sink; rejected records are collected with their reason, as a dead-letter queue would get them.
"""

import json
import os
import sys

import joblib
import numpy as np

from records import decode_batch

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
MODEL = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
# The model method whose cost is "predict" (driver.py times it alone).
METHOD = "predict"
OUT = sys.stdout


def features(payloads, rejected):
    """One row per payload with every feature; the others are rejected."""
    rows, keys = [], []
    for seq, payload in payloads:
        try:
            rows.append([float(payload[name]) for name in FEATURES])
            keys.append((seq, payload.get("id")))
        except (KeyError, TypeError, ValueError) as error:
            rejected.append({"id": seq, "reason": repr(error)})
    return np.array(rows, dtype=float).reshape(len(rows), len(FEATURES)), keys


def predict(x):
    return MODEL.predict(x) if len(x) else np.empty(0)


def respond(keys, predictions, rejected):
    for (seq, key), value in zip(keys, predictions):
        OUT.write(json.dumps({"id": seq, "key": key, "prediction": float(value)}) + "\n")
    return {"batchItemFailures": []}


def handler(event, context):
    payloads, rejected = decode_batch(event)
    x, keys = features(payloads, rejected)
    return respond(keys, predict(x), rejected)
