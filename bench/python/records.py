"""Stream records -> payloads, the way Python Lambda users decode them: each Kinesis record is
base64-decoded and json.loads-ed in a loop, each DynamoDB image goes through boto3's
TypeDeserializer. A record that cannot be decoded is rejected with its reason; it never fails the
batch. Shared by the bench's handlers (handler.py, classifier.py).
"""

import base64
import json

from boto3.dynamodb.types import TypeDeserializer

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
