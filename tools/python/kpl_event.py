"""Builds a Kinesis Lambda event of KPL aggregated records with the independent aws-kinesis-agg encoder.

The edge tests (tests/producers.rs) decode what this writes, so the function's de-aggregation is
checked against an implementation of the format that is not ours: aws-kinesis-agg's
RecordAggregator (pinned in scripts/requirements.txt).

Reads a JSON object on stdin:

    {"per_record": 3,
     "user_records": [{"partition_key": "p-1", "json": {...}, "compress": "gzip"}, ...],
     "first_sequence_number": 49600000000000000000000000000000000000000000000000000000}

Each user record's payload is `json` (serialized compactly) or `text` (UTF-8), optionally
compressed with `gzip` or `zlib`. User records are packed `per_record` to an aggregated record, in
order. Writes the event JSON on stdout: one Kinesis record per aggregate, with consecutive
sequence numbers and the aggregate's partition key, as Lambda's event source mapping delivers it.
"""

import base64
import gzip
import json
import sys
import zlib

from aws_kinesis_agg.aggregator import RecordAggregator


def payload(user_record):
    if "json" in user_record:
        data = json.dumps(user_record["json"], separators=(",", ":")).encode()
    else:
        data = user_record["text"].encode()
    compress = user_record.get("compress")
    if compress == "gzip":
        return gzip.compress(data, mtime=0)
    if compress == "zlib":
        return zlib.compress(data)
    if compress is not None:
        raise SystemExit(f"unknown compress {compress!r}: use gzip or zlib")
    return data


def main():
    spec = json.load(sys.stdin)
    per_record = spec["per_record"]
    users = spec["user_records"]
    sequence = int(spec.get("first_sequence_number", 49600000000000000000000000000000000000000000000000000000))
    records = []
    for start in range(0, len(users), per_record):
        aggregator = RecordAggregator()
        for user in users[start : start + per_record]:
            full = aggregator.add_user_record(user["partition_key"], payload(user))
            if full is not None:
                raise SystemExit("the aggregator filled up before per_record user records; use fewer")
        aggregated = aggregator.clear_and_get()
        partition_key, _explicit_hash_key, data = aggregated.get_contents()
        records.append(
            {
                "eventSource": "aws:kinesis",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/kpl",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key,
                    "sequenceNumber": str(sequence),
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1795000000.125,
                },
            }
        )
        sequence += 1
    json.dump({"Records": records}, sys.stdout)


if __name__ == "__main__":
    main()
