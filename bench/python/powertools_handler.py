"""The same job written the way most Python teams start: Powertools for AWS Lambda's batch utility.

`BatchProcessor` walks the records and calls `record_handler` once per record with Powertools'
data class (`KinesisStreamRecord`, or `DynamoDBRecord`, whose `new_image` Powertools
deserializes); `process_partial_response` builds the `batchItemFailures` response from the
records whose handler raised. Each record gets its own `model.predict` on a one-row matrix. The
model (the bench's scikit-learn LinearRegression, MODEL_PATH) loads with joblib at module level,
and each prediction is one JSON line on stdout, as in handler.py.

EVENT_SOURCE (`kinesis`, the default, or `dynamodb`) picks the processor's event type, as a
function is written for the one trigger it has. Unlike stream-infer and handler.py, a record that
cannot be decoded is reported as a batch item failure, which is what Powertools does with a
handler's exception: Lambda retries it.
"""

import json
import os
import sys

import joblib
import numpy as np
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
MODEL = joblib.load(os.environ.get("MODEL_PATH", "model.joblib"))
KINESIS = os.environ.get("EVENT_SOURCE", "kinesis") == "kinesis"
processor = BatchProcessor(
    event_type=EventType.KinesisDataStreams if KINESIS else EventType.DynamoDBStreams)


def record_handler(record):
    if KINESIS:
        seq, payload = record.kinesis.sequence_number, record.kinesis.data_as_json()
    else:
        seq, payload = record.dynamodb.sequence_number, record.dynamodb.new_image
    row = np.array([[float(payload[name]) for name in FEATURES]])
    prediction = float(MODEL.predict(row)[0])
    sys.stdout.write(json.dumps({"id": seq, "key": payload.get("id"), "prediction": prediction})
                     + "\n")


def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
