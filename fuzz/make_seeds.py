#!/usr/bin/env python3
"""Writes the fuzz corpus seeds under fuzz/corpus/: every sample event, one example per reason
code, and the producer formats (gzip, zlib, KPL aggregates, a byte-order mark).

Run from anywhere: `python3 fuzz/make_seeds.py`. The seeds are committed; rerun this after adding
a reason code or a sample event, and commit what changes. Standard library only.
"""

import base64
import gzip
import hashlib
import json
import pathlib
import shutil
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

DIABETES = {"id": "p-1", "age": 59, "sex": 2, "bmi": 32.1, "bp": 101, "s1": 157, "s2": 93.2,
            "s3": 38, "s4": 4, "s5": 4.8598, "s6": 87}
CATEGORICAL = {"id": "c-1", "country": "US", "plan": "basic", "age": 23, "monthly_spend": 19.99,
               "tenure_months": 2, "support_calls": 5}
TEXT = {"id": "t-1", "textblob": "I was charged twice for my subscription, please refund"}


def classifier_row():
    model = json.loads((ROOT / "model" / "classifier.json").read_text())
    row = {"id": "case-1"}
    row.update({i["name"]: 1.0 + n / 10 for n, i in enumerate(model["inputs"])})
    return row


def with_(row, **changes):
    out = dict(row)
    out.update(changes)
    return out


def dumps(value):
    return json.dumps(value).encode()


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def kpl(records, keys=("pk-a", "pk-b"), corrupt_md5=False, truncate=0):
    """A KPL AggregatedRecord: magic, protobuf, MD5 of the protobuf."""
    body = b"".join(field(1, 2, k.encode()) for k in keys)
    for index, data in enumerate(records):
        record = field(1, 0, index % len(keys)) + field(3, 2, data)
        body += field(3, 2, record)
    if truncate:
        body = body[:-truncate]
    digest = hashlib.md5(body).digest()
    if corrupt_md5:
        digest = bytes([digest[0] ^ 0xFF]) + digest[1:]
    return b"\xf3\x89\x9a\xc2" + body + digest


def payloads():
    """One Kinesis payload per reason code a payload can cause, and the producer formats."""
    row = DIABETES
    return {
        "ok-diabetes.json": dumps(row),
        "ok-nested.json": dumps({"id": 7, "features": with_(row, id=None)}),
        "ok-classifier.json": dumps(classifier_row()),
        "ok-text.json": dumps(TEXT),
        "ok-categorical.json": dumps(CATEGORICAL),
        "ok-bom.json": b"\xef\xbb\xbf" + dumps(row),
        "ok-gzip.bin": gzip.compress(dumps(row), mtime=0),
        "ok-zlib.bin": zlib.compress(dumps(row)),
        "ok-kpl.bin": kpl([dumps(with_(row, id=f"k-{i}")) for i in range(3)]),
        "ok-kpl-gzip.bin": kpl([gzip.compress(dumps(row), mtime=0), dumps(row)]),
        "ok-big-id.json": dumps(with_(row, id=18446744073709551617)),
        "not_json.json": b'{"age": 59, "sex":',
        "not_json-binary.bin": bytes(range(256)),
        "not_json-empty.bin": b"",
        "not_object.json": b"[1, 2, 3]",
        "features_field_missing.json": dumps(with_(row)),
        "features_field_not_object.json": dumps({"id": 1, "features": 5}),
        "feature_missing.json": dumps({"id": "m", "age": 59}),
        "feature_null.json": dumps(with_(row, age=None)),
        "feature_boolean.json": dumps(with_(row, age=True)),
        "feature_string.json": dumps(with_(row, age="59")),
        "feature_wrong_type.json": dumps(with_(row, age=[59])),
        "feature_not_finite.json": dumps(row).replace(b'"age": 59', b'"age": NaN'),
        "feature_out_of_range.json": dumps(row).replace(b'"age": 59', b'"age": 1e400'),
        "feature_not_number.json": dumps(with_(classifier_row(), mean_radius="wide")),
        "text_not_string.json": dumps(with_(TEXT, textblob=5)),
        "category_wrong_type.json": dumps(with_(CATEGORICAL, country=["US"])),
        "category_unknown.json": dumps(with_(CATEGORICAL, plan="platinum-unheard-of")),
        "transformed_not_finite.json": dumps(with_(CATEGORICAL, support_calls=1.7e308)),
        "prediction_not_finite.json": dumps({k: (1e308 if k != "id" else "big") for k in row}),
        "duplicate_field.json": dumps(row)[:-1] + b', "age": 60}',
        "duplicate_field-features.json":
            b'{"id": 7, "features": {"age": 1}, "features": ' + dumps(with_(row, id=None)) + b"}",
        "duplicate_field-id.json": dumps(row)[:-1] + b', "id": "other"}',
        "bad_aggregate-md5.bin": kpl([dumps(row)], corrupt_md5=True),
        "bad_aggregate-truncated.bin": kpl([dumps(row), dumps(row)], truncate=7),
        "bad_aggregate-magic-only.bin": b"\xf3\x89\x9a\xc2",
        "payload_too_large-gzip.bin": gzip.compress(b" " * (2 << 20), mtime=0),
        "payload_too_large-zlib.bin": zlib.compress(b"[" * (2 << 20), 9),
        "payload_too_large-kpl.bin": kpl([gzip.compress(b"0" * (2 << 20), mtime=0)]),
        "long-value.json": dumps(with_(row, age="x" * 300_000)),
        "long-key.json": dumps(with_(row, **{"k" * 5_000: 1, "age": "s"})),
    }


def kinesis_record(seq, data, source="aws:kinesis"):
    return {
        "eventSource": source,
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/fuzz",
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": f"pk-{seq}",
            "sequenceNumber": str(49590000000000000000000000000000000000000000000000000000 + seq),
            "data": data if isinstance(data, str) else base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1795000000.123456,
        },
    }


def image(row):
    out = {}
    for key, value in row.items():
        if isinstance(value, str):
            out[key] = {"S": value}
        elif isinstance(value, bool):
            out[key] = {"BOOL": value}
        elif value is None:
            out[key] = {"NULL": True}
        else:
            out[key] = {"N": repr(value)}
    return out


def dynamodb_record(seq, new_image, name="INSERT", reason="ok"):
    """A DynamoDB Streams record; its eventID names the reason code it is meant to cause."""
    dynamodb = {"ApproximateCreationDateTime": 1795000000.0, "Keys": {"id": {"S": f"k-{seq}"}},
                "SequenceNumber": str(1000000 + seq), "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE"}
    if new_image is not None:
        dynamodb["NewImage"] = new_image
    return {"eventID": f"{reason}-{seq}", "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"}


def events(payload_seeds):
    """Whole events: envelope-level reasons, DynamoDB reasons, and every payload in one batch."""
    good = image(DIABETES)
    # The long payloads stay out of the batch so that its mutants stay quick to run.
    small = [data for name, data in payload_seeds.items() if not name.startswith("long-")]
    kinesis_all = [kinesis_record(i, data) for i, data in enumerate(small)]
    return {
        "kinesis-every-payload.json": {"Records": kinesis_all},
        "bad_envelope.json": {"Records": [
            kinesis_record(1, dumps(DIABETES)),
            {"eventSource": "aws:kinesis", "kinesis": 5},
            {"eventSource": "aws:kinesis", "kinesis": {"sequenceNumber": 7}},
            {"eventSource": "aws:kinesis"},
            "not a record",
            kinesis_record(2, dumps(DIABETES), source="aws:dynamodb"),
        ]},
        "not_base64.json": {"Records": [kinesis_record(1, "!!not base64!!"),
                                        kinesis_record(2, "eyJhZ2UiOjF9=="),
                                        kinesis_record(3, "")]},
        "duplicate_field-envelope.json": json.dumps({"Records": [kinesis_record(1, dumps(DIABETES))]})
            .replace('"data":', '"data": "e30=", "data":'),
        "dynamodb-every-reason.json": {"Records": [
            dynamodb_record(1, good),
            dynamodb_record(2, None, reason="image_missing"),
            dynamodb_record(3, with_(good, age={"N": "not a number"}), reason="feature_not_numeric"),
            dynamodb_record(4, with_(good, age={"N": "NaN"}), reason="feature_not_finite"),
            dynamodb_record(5, with_(good, age={"N": "1e400"}), reason="feature_out_of_range"),
            dynamodb_record(6, with_(good, age={"S": "59"}), reason="attribute_wrong_type"),
            dynamodb_record(7, with_(good, age={"N": 59}), reason="attribute_malformed"),
            dynamodb_record(8, with_(good, age={"NULL": True}), reason="feature_null"),
            dynamodb_record(9, with_(good, age={"BOOL": True}), reason="feature_boolean"),
            dynamodb_record(10, with_(good, age={"L": [{"N": "1"}]}), reason="feature_wrong_type"),
            dynamodb_record(11, with_(good, id={"N": "18446744073709551617"})),
            dynamodb_record(12, {k: v for k, v in good.items() if k != "age"},
                            reason="feature_missing"),
            dynamodb_record(13, None, name="REMOVE"),
            dynamodb_record(14, with_(good, age={"N": "1e308"}, bmi={"N": "1e308"},
                                      s1={"N": "1e308"}), reason="prediction_not_finite"),
        ]},
        "dynamodb-duplicate-attribute.json": json.dumps({"Records": [dynamodb_record(1, good)]})
            .replace('"age": {"N": "59"}', '"age": {"N": "59"}, "age": {"N": "60"}'),
        "dynamodb-categorical.json": {"Records": [dynamodb_record(1, image(CATEGORICAL))]},
        "empty.json": {"Records": []},
        "not-a-stream-event.json": {"hello": "world"},
        "unknown-source.json": {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]},
    }


def models():
    """Every model artifact in the repository: the bundled ones and the test fixtures."""
    found = sorted((ROOT / "model").glob("*.json"))
    found += sorted((ROOT / "tests" / "fixtures" / "model").glob("*.json"))
    return found


def main():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    for target in ("event", "payload", "model"):
        (CORPUS / target).mkdir(parents=True)
    for path in sorted((ROOT / "events").glob("*.json")):
        shutil.copy(path, CORPUS / "event" / path.name)
    payload_seeds = payloads()
    for name, data in payload_seeds.items():
        (CORPUS / "payload" / name).write_bytes(data)
    for name, event in events(payload_seeds).items():
        text = event if isinstance(event, str) else json.dumps(event)
        (CORPUS / "event" / f"seed-{name}").write_text(text)
    for path in models():
        prefix = "fixture-" if path.parent.name == "model" and path.parent.parent.name == "fixtures" else ""
        shutil.copy(path, CORPUS / "model" / f"{prefix}{path.name}")
    counts = {t: len(list((CORPUS / t).iterdir())) for t in ("event", "payload", "model")}
    print(f"wrote {counts} under {CORPUS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
