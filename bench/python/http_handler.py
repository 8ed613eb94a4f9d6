"""The usual Python model service behind a Function URL, to measure the HTTP door against.

Written the way such handlers are written: the scikit-learn model is loaded with joblib at module
level; the handler json.loads the body, takes one instance or {"instances": [...]}, builds one
row per instance in the model's feature order (an instance without every feature gets an error
in its place), makes one model.predict per request, and answers a Function URL response with a
JSON body, as stream-infer's DOOR=http does.
"""

import base64
import json
import os

import joblib
import numpy as np

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
MODEL = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
MODEL_REF = {"name": "diabetes", "version": os.environ.get("MODEL_VERSION", "1")}
HEADERS = {"content-type": "application/json"}


def answer(status, body):
    return {"statusCode": status, "headers": HEADERS, "body": json.dumps(body), "isBase64Encoded": False}


def error(status, reason, message):
    return answer(status, {"error": {"reason": reason, "message": message}})


def handler(event, context):
    if event["rawPath"] != "/predict":
        return error(404, "not_found", "no such route")
    if event["requestContext"]["http"]["method"] != "POST":
        return error(405, "method_not_allowed", "use POST")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    try:
        request = json.loads(body)
    except ValueError as e:
        return error(400, "not_json", str(e))
    instances = request["instances"] if isinstance(request, dict) and "instances" in request else [request]
    if len(instances) > 1000:
        return error(413, "too_many_instances", f"{len(instances)} instances")
    rows, where, predictions = [], [], [None] * len(instances)
    for i, instance in enumerate(instances):
        try:
            rows.append([float(instance[name]) for name in FEATURES])
            where.append(i)
        except (KeyError, TypeError, ValueError) as e:
            predictions[i] = {"error": {"reason": "feature_missing", "message": repr(e)}}
    if rows:
        for i, value in zip(where, MODEL.predict(np.array(rows, dtype=float))):
            predictions[i] = {"prediction": float(value)}
    return answer(200, {"predictions": predictions, "model": MODEL_REF})
