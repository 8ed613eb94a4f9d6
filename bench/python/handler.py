"""The usual Python Lambda for the same job, to measure stream-infer against.

Written the way Python Lambda users write it: the scikit-learn model is loaded with joblib at
module level, each Kinesis record is base64-decoded and json.loads-ed in a loop (DynamoDB images
go through boto3's TypeDeserializer), and one model.predict runs per batch. Predictions are
written as JSON lines to OUT (stdout by default), like stream-infer's stdout sink; rejected
records are collected with their reason, as a dead-letter queue would get them.
"""

import base64
import json
import os
import sys

import joblib
import numpy as np
from boto3.dynamodb.types import TypeDeserializer

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
MODEL = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
OUT = sys.stdout
_deserializer = TypeDeserializer()


def decode(record):
    """A record's payload as a dict."""
    if "kinesis" in record:
        return json.loads(base64.b64decode(record["kinesis"]["data"]))
    image = record["dynamodb"]["NewImage"]
    return {name: _deserializer.deserialize(value) for name, value in image.items()}


def sequence_number(record):
    if "kinesis" in record:
        return record["kinesis"]["sequenceNumber"]
    return record["dynamodb"]["SequenceNumber"]


def decode_batch(event):
    """Decodes every record: the payloads to predict, and the rejected records with a reason."""
    payloads, rejected = [], []
    for record in event["Records"]:
        seq = sequence_number(record)
        try:
            payloads.append((seq, decode(record)))
        except Exception as error:  # a bad record must not fail the batch
            rejected.append({"id": seq, "reason": repr(error)})
    return payloads, rejected


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
