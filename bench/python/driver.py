"""Runs a bench handler the way scripts/bench measures stream-infer.

    driver.py invoke EVENT          cold: import, load the model, handle once, print the response
    driver.py bench RUNS EVENT...   warm: stage medians per event, one JSON line each
    driver.py load RUNS             joblib.load of MODEL_PATH in this process, median ns

The handler module is HANDLER (default `handler`, the regression; `classifier` for the
predict_proba pipelines). Stages, as stream-infer's bench reports them: decode (json.loads of the
event and each record), score (features and the one predict of the handler), predict (the final
estimator alone on its input; for a Pipeline the transforms before it, such as StandardScaler or
TfidfVectorizer, are features, as they are in stream-infer), and total (the whole handler).
"""

import importlib
import io
import json
import os
import sys
import time


def load_handler():
    return importlib.import_module(os.environ.get("HANDLER", "handler"))


def invoke(path):
    handler = load_handler()  # the cold start: numpy, scikit-learn, joblib and the model load

    with open(path) as f:
        event = json.load(f)
    print(json.dumps(handler.handler(event, None)))


def median(samples):
    return sorted(samples)[len(samples) // 2]


def estimator_stage(handler, x):
    """(the final estimator's method, its input): for a Pipeline, x through every step before
    the last, computed here off the clock."""
    model = handler.MODEL
    if hasattr(model, "steps") and len(x):
        return getattr(model[-1], handler.METHOD), model[:-1].transform(x)
    return handler.predict, x


def bench(runs, paths):
    handler = load_handler()

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

            method, xt = estimator_stage(handler, x)
            start = time.perf_counter_ns()
            if len(keys):
                method(xt)
            samples["predict"].append(time.perf_counter_ns() - start)

            handler.OUT = io.StringIO()
            start = time.perf_counter_ns()
            handler.handler(json.loads(text), None)
            samples["total"].append(time.perf_counter_ns() - start)
        decode, score, predict, total = (median(samples[k]) for k in ("decode", "score", "predict", "total"))
        print(json.dumps({
            "event": path, "records": shape[0], "bytes": len(text), "predicted": shape[1],
            "runs": runs, "decode_ns": decode, "score_ns": score,
            "features_ns": max(0, score - predict), "predict_ns": predict,
            "respond_ns": max(0, total - decode - score), "total_ns": total,
        }))


def load(runs):
    """joblib.load of the model alone, after the imports it needs (a cold start pays those too)."""
    import joblib
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import sklearn.preprocessing  # noqa: F401

    samples = []
    for _ in range(max(1, runs)):
        start = time.perf_counter_ns()
        joblib.load(os.environ["MODEL_PATH"])
        samples.append(time.perf_counter_ns() - start)
    print(json.dumps({"model_load_ns": median(samples), "runs": runs}))


if __name__ == "__main__":
    if sys.argv[1] == "invoke":
        invoke(sys.argv[2])
    elif sys.argv[1] == "load":
        load(int(sys.argv[2]))
    else:
        bench(int(sys.argv[2]), sys.argv[3:])
