"""Runs bench/python/handler.py the way scripts/bench measures stream-infer.

    driver.py invoke EVENT          cold: import, load the model, handle once, print the response
    driver.py bench RUNS EVENT...   warm: stage medians per event, one JSON line each
"""

import io
import json
import sys
import time


def invoke(path):
    import handler  # the cold start: numpy, scikit-learn, joblib and the model load here

    with open(path) as f:
        event = json.load(f)
    print(json.dumps(handler.handler(event, None)))


def median(samples):
    return sorted(samples)[len(samples) // 2]


def bench(runs, paths):
    import handler

    for path in paths:
        with open(path) as f:
            text = f.read()
        samples = {"decode": [], "score": [], "predict": [], "total": []}
        shape = (0, 0)
        for _ in range(max(1, runs)):
            handler.OUT = io.StringIO()
            start = time.perf_counter_ns()
            event = json.loads(text)
            payloads, rejected = handler.decode_batch(event)
            samples["decode"].append(time.perf_counter_ns() - start)

            start = time.perf_counter_ns()
            x, keys = handler.features(payloads, rejected)
            handler.predict(x)
            samples["score"].append(time.perf_counter_ns() - start)
            shape = (len(event["Records"]), len(keys))

            start = time.perf_counter_ns()
            handler.predict(x)
            samples["predict"].append(time.perf_counter_ns() - start)

            handler.OUT = io.StringIO()
            start = time.perf_counter_ns()
            handler.handler(json.loads(text), None)
            samples["total"].append(time.perf_counter_ns() - start)
        decode, score, predict, total = (median(samples[k]) for k in ("decode", "score", "predict", "total"))
        print(json.dumps({
            "event": path, "records": shape[0], "bytes": len(text), "predicted": shape[1],
            "runs": runs, "decode_ns": decode, "features_ns": max(0, score - predict),
            "predict_ns": predict, "respond_ns": max(0, total - decode - score), "total_ns": total,
        }))


if __name__ == "__main__":
    if sys.argv[1] == "invoke":
        invoke(sys.argv[2])
    else:
        bench(int(sys.argv[2]), sys.argv[3:])
