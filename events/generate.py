#!/usr/bin/env python3
"""Writes the sample events in events/ and their expected outcomes in events/expected/.

Run from the project root: python3 events/generate.py. Deterministic: rows come from
data/diabetes.csv, sequence numbers and times are fixed.
"""
import base64
import csv
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/stream-infer-input"
TABLE_STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/stream-infer-input/stream/2026-11-01T00:00:00.000"
)
T0 = 1795000000.0

with open(ROOT / "data" / "diabetes.csv") as f:
    ROWS = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def num(v):
    return int(v) if v == int(v) else v


def features(i):
    return {name: num(ROWS[i][name]) for name in FEATURES}


def seq(i):
    return "4959" + str(10**50 + i * 7919)


def kinesis_record(i, data, partition_key):
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


def b64(obj_or_text):
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    return base64.b64encode(text.encode()).decode()


def predicted(i, key, feats):
    return {"id": seq(i), "outcome": "predicted", "key": key, "features": feats}


def rejected(i, reason):
    return {"id": seq(i), "outcome": "rejected", "reason": reason}


def write(name, records, expected, config=None):
    (EVENTS / f"{name}.json").write_text(json.dumps({"Records": records}, indent=1) + "\n")
    doc = {"config": config or {}, "records": expected}
    (EVENTS / "expected" / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")


def kinesis_good():
    records, expected = [], []
    for i in range(100):
        key = f"patient-{i:04d}"
        payload = {"id": key, **features(i), "source": "clinic-a"}
        records.append(kinesis_record(i, b64(payload), key))
        expected.append(predicted(i, key, features(i)))
    write("kinesis", records, expected)


def kinesis_mixed():
    good = features(0)
    cases = [
        ("ok", b64({"id": "p-ok-1", **good}), None),
        ("not_base64", "this is not base64!", None),
        ("not_json", b64("{age: 59"), None),
        ("not_object", b64([59, 2, 32.1]), None),
        ("feature_missing", b64({k: v for k, v in good.items() if k != "bmi"}), None),
        ("feature_null", b64({**good, "bp": None}), None),
        ("feature_boolean", b64({**good, "sex": True}), None),
        ("feature_string", b64({**good, "age": "59"}), None),
        ("feature_wrong_type", b64({**good, "s1": [157]}), None),
        ("feature_not_finite", b64(json.dumps({**good, "s5": float("nan")})), None),
        ("feature_out_of_range", b64(json.dumps(good).replace('"s6": 87', '"s6": 1e400')), None),
        ("bad_envelope", None, None),
        ("ok", b64({"id": "p-ok-2", **features(1)}), None),
    ]
    records, expected = [], []
    for i, (reason, data, _) in enumerate(cases):
        record = kinesis_record(i, data, f"pk-{i}")
        if data is None:
            del record["kinesis"]["data"]
        records.append(record)
        if reason == "ok":
            key = json.loads(base64.b64decode(data))["id"]
            feats = {k: v for k, v in json.loads(base64.b64decode(data)).items() if k in FEATURES}
            expected.append(predicted(i, key, feats))
        else:
            expected.append(rejected(i, reason))
    write("kinesis-mixed", records, expected)


def kinesis_nested():
    cases = [
        ("ok", {"id": 7, "features": features(2)}),
        ("ok", {"id": 8, "age": 1, "features": features(3), "extra": {"a": 1}}),
        ("features_field_missing", {"id": 9, **features(4)}),
        ("features_field_not_object", {"id": 10, "features": [1, 2, 3]}),
        ("feature_missing", {"id": 11, "features": {"age": 50}}),
    ]
    records, expected = [], []
    for i, (reason, payload) in enumerate(cases):
        records.append(kinesis_record(i, b64(payload), str(payload["id"])))
        if reason == "ok":
            expected.append(predicted(i, str(payload["id"]), payload["features"]))
        else:
            expected.append(rejected(i, reason))
    write("kinesis-nested", records, expected, {"FEATURES_FIELD": "features"})


def dynamodb_record(i, event_name, new_image, key, view="NEW_AND_OLD_IMAGES"):
    dynamodb = {
        "ApproximateCreationDateTime": T0 + i,
        "Keys": {"id": {"S": key}},
        "SequenceNumber": str(1000000 + i * 100),
        "SizeBytes": 200,
        "StreamViewType": view,
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


def image(key, feats):
    item = {"id": {"S": key}, "clinic": {"S": "clinic-b"}}
    item.update({k: {"N": repr(v) if isinstance(v, float) else str(v)} for k, v in feats.items()})
    return item


def dseq(i):
    return str(1000000 + i * 100)


def dynamodb_good():
    records, expected = [], []
    for i in range(20):
        key = f"patient-{100 + i:04d}"
        feats = features(100 + i)
        records.append(dynamodb_record(i, "INSERT" if i % 3 else "MODIFY", image(key, feats), key))
        expected.append({"id": dseq(i), "outcome": "predicted", "key": key, "features": feats})
    write("dynamodb", records, expected)


def dynamodb_mixed():
    good = features(0)

    def with_attr(name, value):
        item = image("p", good)
        item[name] = value
        return item

    cases = [
        ("ok", "INSERT", image("d-ok-1", good)),
        ("skipped", "REMOVE", None),
        ("image_missing", "INSERT", None),
        ("feature_not_numeric", "INSERT", with_attr("bmi", {"N": "thirty-two"})),
        ("feature_not_finite", "MODIFY", with_attr("bmi", {"N": "NaN"})),
        ("feature_out_of_range", "INSERT", with_attr("bmi", {"N": "1e400"})),
        ("feature_null", "INSERT", with_attr("bp", {"NULL": True})),
        ("feature_boolean", "INSERT", with_attr("sex", {"BOOL": False})),
        ("feature_string", "INSERT", with_attr("age", {"S": "59"})),
        ("attribute_wrong_type", "INSERT", with_attr("s1", {"L": [{"N": "157"}]})),
        ("feature_missing", "INSERT", {k: v for k, v in image("p", good).items() if k != "s3"}),
        ("ok", "MODIFY", image("d-ok-2", features(1))),
    ]
    records, expected = [], []
    for i, (reason, event_name, new_image) in enumerate(cases):
        key = new_image["id"]["S"] if new_image else f"gone-{i}"
        view = "KEYS_ONLY" if reason == "image_missing" else "NEW_AND_OLD_IMAGES"
        records.append(dynamodb_record(i, event_name, new_image, key, view))
        if reason == "ok":
            feats = {k: float(v["N"]) for k, v in new_image.items() if k in FEATURES}
            expected.append({"id": dseq(i), "outcome": "predicted", "key": key, "features": feats})
        elif reason == "skipped":
            expected.append({"id": dseq(i), "outcome": "skipped"})
        else:
            expected.append({"id": dseq(i), "outcome": "rejected", "reason": reason})
    write("dynamodb-mixed", records, expected)


QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:stream-infer-input"


def message_id(i):
    return f"{i:08x}-5f1e-4a3c-9d2b-{7919 * (i + 1):012x}"


def sqs_record(i, body, attributes=None):
    import hashlib

    return {
        "messageId": message_id(i),
        "receiptHandle": base64.b64encode(f"receipt-{i}".encode()).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(int(T0 * 1000) + i * 250),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(int(T0 * 1000) + i * 250 + 20),
        },
        "messageAttributes": attributes or {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def sqs():
    """Ten messages (Lambda's default SQS batch size): plain JSON bodies, one base64 body declared
    by its content-transfer-encoding attribute, and one poison message."""
    base64_attribute = {
        "content-transfer-encoding": {
            "stringValue": "base64",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    records, expected = [], []
    for i in range(10):
        key = f"patient-{200 + i:04d}"
        payload = {"id": key, **features(200 + i)}
        if i == 4:
            records.append(sqs_record(i, "{\"id\": \"patient-0204\", age: 59"))
            expected.append({"id": message_id(i), "outcome": "rejected", "reason": "not_json"})
            continue
        if i == 7:
            records.append(sqs_record(i, b64(payload), base64_attribute))
        else:
            records.append(sqs_record(i, json.dumps(payload)))
        expected.append({"id": message_id(i), "outcome": "predicted", "key": key, "features": features(200 + i)})
    write("sqs", records, expected)


if __name__ == "__main__":
    kinesis_good()
    kinesis_mixed()
    kinesis_nested()
    dynamodb_good()
    dynamodb_mixed()
    sqs()
