"""The HTTP door under the Lambda Runtime API stand-in: warm `POST /predict` durations.

Serves Function URL events (1 instance, and 1,000 instances) through bench/runtime_api.py to
stream-infer's Lambda binary with DOOR=http (metrics on, JSON logs at INFO, as deployed) and to
the usual Python Function URL handler (bench/python/http_handler.py) under awslambdaric, each
timed from the event handed out to the response posted. Every answer is checked (status 200,
one prediction per instance) before its time is kept.

    .venv/bin/python bench/http_runtime.py [--binary target/release/stream-infer-lambda]
        [--model target/bench/model.joblib] [--runs 50]
"""

import argparse
import json
import math
import os
import pathlib
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import runtime_api  # noqa: E402
import run  # noqa: E402  (features(i): the rows every bench uses)


def request(n):
    """A Function URL event: POST /predict with `n` instances (one bare object when n is 1)."""
    instances = [dict(run.features(i), id=f"patient-{i:06}") for i in range(n)]
    body = instances[0] if n == 1 else {"instances": instances}
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": "/predict", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "example.lambda-url.localhost"},
        "requestContext": {"http": {"method": "POST", "path": "/predict", "protocol": "HTTP/1.1",
                                    "sourceIp": "127.0.0.1", "userAgent": "bench"},
                           "requestId": "bench", "routeKey": "$default", "stage": "$default",
                           "accountId": "anonymous", "apiId": "bench",
                           "domainName": "example.lambda-url.localhost", "time": "",
                           "timeEpoch": 0},
        "body": json.dumps(body), "isBase64Encoded": False,
    }).encode()


def checked(function, event, n):
    """Serves `event`; the answer must be a 200 with `n` numeric predictions."""
    invocation = function.invoke(event)
    answer = invocation.json() if invocation.outcome == "response" else {}
    predictions = json.loads(answer.get("body") or "{}").get("predictions", [])
    if answer.get("statusCode") != 200 or len(predictions) != n or not all(
            isinstance(p, dict) and isinstance(p.get("prediction"), (int, float))
            for p in predictions):
        sys.exit(f"http_runtime: {function.api.function_name}: expected 200 with {n} "
                 f"predictions, got {invocation.outcome} {invocation.body[:500]!r}")
    return invocation.seconds


def serve(name, argv, cwd, handler, extra, events, runs):
    """Warm durations (ms) per event size of one process, after one cold invocation."""
    function = runtime_api.Function(name)
    env = {"PATH": os.environ["PATH"]}
    env.update(runtime_api.lambda_environment(function.api, handler, cwd))
    env.update(extra)
    with open(os.devnull, "wb") as out, function:
        function.start(argv, env, cwd, out)
        checked(function, events[1], 1)
        timings = {n: [] for n in events}
        for _ in range(runs):  # interleaved, so a slow spell hits both sizes alike
            for n, event in events.items():
                timings[n].append(checked(function, event, n) * 1000)
        return timings


def p90(samples):
    ordered = sorted(samples)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=ROOT / "target/release/stream-infer-lambda")
    parser.add_argument("--model", default=ROOT / "target/bench/model.joblib")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    events = {1: request(1), 1000: request(1000)}
    binary = pathlib.Path(args.binary).resolve()
    rust = serve("stream-infer-http", [binary], binary.parent, "bootstrap", {"DOOR": "http"},
                 events, args.runs)
    task_root = ROOT / "bench" / "python"
    python = serve("python-http", [sys.executable, "-m", "awslambdaric", "http_handler.handler"],
                   task_root, "http_handler.handler",
                   {"MODEL_PATH": str(pathlib.Path(args.model).resolve()),
                    "PYTHONPATH": str(task_root), "OMP_NUM_THREADS": "1",
                    "OPENBLAS_NUM_THREADS": "1"}, events, args.runs)
    load = os.getloadavg()[0]
    print(f"warm POST /predict under the Runtime API stand-in, {args.runs} runs each, "
          f"1-minute load average {load:.2f}")
    print("| instances | stream-infer median (p90) | Python median (p90) | Python / stream-infer |")
    print("|---|---|---|---|")
    for n in events:
        r, p = statistics.median(rust[n]), statistics.median(python[n])
        print(f"| {n:,} | {r:.3f} ms ({p90(rust[n]):.3f}) | {p:.3f} ms ({p90(python[n]):.3f}) "
              f"| {p / r:.1f}× |")


if __name__ == "__main__":
    main()
