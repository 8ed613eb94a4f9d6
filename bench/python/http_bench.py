"""Times the Python HTTP handler warm, in process, as `cargo bench --bench pipeline -- http` times
stream-infer's: from the event's text to the response, median of RUNS, per instance count.

    MODEL_PATH=target/bench/model.joblib python bench/python/http_bench.py RUNS 1 1000

Prints one JSON line per count: {"instances": n, "median_ns": …, "runs": RUNS}.
"""

import json
import pathlib
import sys
import time

import http_handler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from run import features  # noqa: E402  (bench/run.py: the rows every bench uses)


def event(n):
    body = json.dumps(features(0) if n == 1 else {"instances": [features(i) for i in range(n)]})
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": "/predict", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/predict"}, "stage": "$default"},
        "body": body, "isBase64Encoded": False,
    })


def main():
    runs = int(sys.argv[1])
    for n in map(int, sys.argv[2:]):
        text = event(n)
        response = http_handler.handler(json.loads(text), None)
        assert response["statusCode"] == 200, response
        assert len(json.loads(response["body"])["predictions"]) == n
        samples = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            http_handler.handler(json.loads(text), None)
            samples.append(time.perf_counter_ns() - start)
        samples.sort()
        print(json.dumps({"instances": n, "median_ns": samples[len(samples) // 2], "runs": runs}))


if __name__ == "__main__":
    main()
