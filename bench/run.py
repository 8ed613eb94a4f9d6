"""scripts/bench: stream-infer against the usual Python Lambda, on the same events, on this machine.

Four groups, each measured against scikit-learn with the same model on the same events:

* regression: the embedded diabetes OLS model. Cold start, warm throughput per stage, peak
  memory and the zipped arm64 artifact; a cost model. Agreement within 1e-9 relative error.
* classifier: StandardScaler + LogisticRegression on 30 numeric features, fitted here and
  imported with `stream-infer import`, against the pipeline's predict_proba, at the largest
  Kinesis batch under 6 MB.
* text: TfidfVectorizer(ngram_range=(1, 2), max_features=50000) + LogisticRegression on a text
  field, at a 6 MB Kinesis batch of ~500-character records; also peak RSS, the model's load time
  and the cold start with it.
* runtime: the three functions as Lambda runs them, each served by a Lambda Runtime API stand-in
  (bench/runtime_api.py): the Lambda binary, the Python handler under awslambdaric and a
  Powertools BatchProcessor handler (bench/python/powertools_handler.py). Cold start (spawn to
  first response), warm duration (event handed out to response posted) at 100 records and at the
  largest batch for both sources, and each process's peak RSS; every response is checked.

The classifier groups check first that the labels are equal and the probabilities within 1e-9.
Writes bench/results.json, bench/results.md and the table in README.md; `--only` re-measures some
groups and keeps the others' last results. With --smoke: tiny sizes and models, two runs, no
artifact, written under target/bench-smoke/, so CI keeps every path from rotting without timing
anything.

    scripts/bench                                     # everything (about 20 minutes on 2 cores)
    scripts/bench --only classifier,text --skip-artifact
    scripts/bench --only runtime --skip-artifact      # through the Runtime API stand-in
    scripts/bench --smoke                             # seconds once built
"""

import argparse
import base64
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every price and published figure the cost model assumes, in one place.
PRICES = {
    "source": "AWS Lambda public price list, us-east-1, arm64, as of 2026-11",
    "lambda_gb_second_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1_000_000,
    "memory_mb": 128,
    # Lambda allocates CPU in proportion to memory; 1,769 MB is one full vCPU. A 128 MB function
    # gets 128/1769 of a core, so a duration measured on a full core is scaled up by that ratio.
    "full_vcpu_memory_mb": 1769,
    "billing_granularity_ms": 1,
    "sagemaker_smallest_instance_month": 50.40,
    "python_lambda_per_million_at_batch_100": 0.0062 * 1_000_000 / 50_000,
}

TARGETS = {
    "classifier_warm_speedup": 20,
    "text_warm_speedup": 5,
    "text_compute_ms": 30,
    "text_rss_mb": 64,
    "text_model_load_ms": 30,
    "cold_start_speedup": 50,
    "warm_largest_batch_speedup": 20,
    "rss_fraction_of_python": 1 / 3,
    "artifact_zipped_mb": 10,
    "cost_fraction_of_python_at_batch_100": 1 / 20,
    # Through the Runtime API (issue 13): the largest Kinesis batch, and the Lambda process's
    # peak RSS after 20 invocations at that size.
    "runtime_warm_kinesis_max_vs_python": 20,
    "runtime_warm_kinesis_max_vs_powertools": 100,
    "runtime_cold_start_speedup": 150,
    "runtime_rss_mb": 32,
}

PAYLOAD_LIMIT = 6 * 1024 * 1024
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
GROUPS = ("regression", "classifier", "text", "runtime")
TEXT_TERMS = 50_000

sys.path.insert(0, str(ROOT / "bench" / "python"))
import data  # noqa: E402  (bench/python/data.py: the classifier rows' data, shared with train.py)

sys.path.insert(0, str(ROOT / "bench"))
import runtime_api  # noqa: E402  (bench/runtime_api.py: the Lambda Runtime API stand-in)


# ---------------------------------------------------------------------------------------------
# Events, identical for both implementations.


def features(i):
    f = float(i)
    return {
        "age": 20 + i % 60, "sex": 1 + i % 2, "bmi": 18.0 + (f * 0.37) % 20.0,
        "bp": 70.0 + (f * 1.3) % 60.0, "s1": 120 + i % 180, "s2": 60.0 + (f * 2.1) % 150.0,
        "s3": 25.0 + (f * 0.9) % 70.0, "s4": 2.0 + (f * 0.11) % 7.0,
        "s5": 3.3 + (f * 0.013) % 3.0, "s6": 60 + i % 70,
    }


def kinesis_record(i, bad):
    payload = dict(features(i), id=f"patient-{i:06}")
    return kinesis_envelope(i, b"{not json" if bad else json.dumps(payload).encode())


def kinesis_envelope(i, payload):
    """The i-th Kinesis record of an event, carrying `payload` (bytes)."""
    seq = f"49590338271490256608559692538361571095921575989136{i:06}"
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": f"patient-{i:06}",
                    "sequenceNumber": seq, "data": base64.b64encode(payload).decode(),
                    "approximateArrivalTimestamp": 1795000000.0 + i},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}", "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/stream-infer",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/stream-infer-input",
    }


def dynamodb_record(i, bad):
    image = {"id": {"S": f"patient-{i:06}"}}
    for name, value in features(i).items():
        if not (bad and name == "bmi"):
            image[name] = {"N": repr(value) if isinstance(value, float) else str(value)}
    return {
        "eventID": f"{i:032x}", "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {"ApproximateCreationDateTime": 1795000000.0,
                     "Keys": {"id": {"S": f"patient-{i:06}"}}, "NewImage": image,
                     "SequenceNumber": str(100000000 + i), "SizeBytes": 300,
                     "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/input/stream/2026-11-01T00:00:00.000",
    }


def event_text(source, n, bad_percent):
    """`n` records (None: as many as fit in 6 MB); every 10th is bad when bad_percent is 10."""
    make = kinesis_record if source == "kinesis" else dynamodb_record
    return records_text(make, n, bad_percent)


def records_text(make, n, bad_percent=0):
    """An event of `make(i, bad)` records: `n` of them, or as many as fit in 6 MB (None)."""
    parts, size, i = [], len('{"Records":[]}'), 0
    while n is None or i < n:
        bad = bad_percent == 10 and i % 10 == 9
        text = json.dumps(make(i, bad), separators=(",", ":"))
        if n is None and size + len(text) + 1 > PAYLOAD_LIMIT:
            break
        parts.append(text)
        size += len(text) + 1
        i += 1
    return '{"Records":[' + ",".join(parts) + "]}", i


def write_events(directory, sizes):
    directory.mkdir(parents=True, exist_ok=True)
    events = {}
    for source in ("kinesis", "dynamodb"):
        for size in sizes:
            for bad in (0, 10):
                text, n = event_text(source, None if size == "max" else size, bad)
                path = directory / f"{source}-{size}-{bad}.json"
                path.write_text(text)
                events[(source, size, bad)] = {"path": path, "records": n}
    return events


# ---------------------------------------------------------------------------------------------
# Processes.


def clean_env(extra=None):
    """The environment both implementations run in: no AWS settings, so stream-infer uses its
    stdout sink and neither touches a network."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "CARGO_HOME", "RUSTUP_HOME")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra or {})
    return env


# Peak RSS comes from a small helper that forks, execs argv and reports the child's
# ru_maxrss. Linux carries the parent's memory high-water mark across exec into the child's
# ru_maxrss, so measuring straight from this (large) process would overstate small children.
# The helper's own footprint is the floor of what it can report; results.json records it.
RSS_HELPER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("\\npeak_rss_kb=%d\\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(argv, env, stdout=subprocess.DEVNULL):
    """Runs argv; returns (seconds from spawn to exit, stdout bytes)."""
    # stderr goes to a file: a pipe nobody reads would block a child that logs a lot.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=stdout, stderr=errors, cwd=ROOT)
        out = process.stdout.read() if stdout == subprocess.PIPE else b""
        process.wait()
        elapsed = time.perf_counter() - start
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
        if process.returncode != 0:
            sys.exit(f"bench: {' '.join(map(str, argv))} failed ({process.returncode}):\n{stderr}")
    return elapsed, out


def peak_rss_mb(argv, env):
    """Peak RSS of argv in MB, through RSS_HELPER."""
    with tempfile.TemporaryFile() as errors:
        helper = [sys.executable, "-S", "-c", RSS_HELPER]
        code = subprocess.call(helper + [str(a) for a in argv], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=errors)
        errors.seek(0)
        text = errors.read().decode(errors="replace")
    if code != 0:
        sys.exit(f"bench: {' '.join(map(str, argv))} failed ({code}):\n{text}")
    return int(text.rsplit("peak_rss_kb=", 1)[1].split()[0]) / 1024


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "runs": len(samples)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_first_invoke(cargo_lambda, event, release):
    """Seconds from spawning `cargo lambda watch` to the response of its first invoke."""
    port = free_port()
    argv = [cargo_lambda, "lambda", "watch", "-A", "127.0.0.1", "-P", str(port),
            "--bin", "stream-infer-lambda"] + (["--release"] if release else [])
    body = Path(event).read_bytes()
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=clean_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/stream-infer-lambda/invocations"
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=600) as r:
                    response = json.loads(r.read())
                break
            except (ConnectionError, urllib.error.URLError):
                if time.perf_counter() - start > 600:
                    sys.exit("bench: cargo lambda watch did not answer within 600 s")
                time.sleep(0.005)
        elapsed = time.perf_counter() - start
        assert response == {"batchItemFailures": []}, response
        return elapsed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


# ---------------------------------------------------------------------------------------------
# The measurements.


def predictions(stdout):
    """id -> prediction from JSON lines (the last line is the response)."""
    found = {}
    for line in stdout.decode().splitlines():
        row = json.loads(line)
        if "prediction" in row:
            found[row["id"]] = row["prediction"]
    return found


def check_agreement(rust, python, events, keys):
    """Both implementations predict the same records, within 1e-9 relative error."""
    worst = 0.0
    for key in keys:
        path = events[key]["path"]
        _, ours = timed([rust, "invoke", path], clean_env(), stdout=subprocess.PIPE)
        _, theirs = timed(python + ["invoke", path], python_env(), stdout=subprocess.PIPE)
        ours, theirs = predictions(ours), predictions(theirs)
        if set(ours) != set(theirs) or not ours:
            sys.exit(f"bench: {path}: the implementations predict different records "
                     f"({len(ours)} vs {len(theirs)})")
        for record_id, value in ours.items():
            error = abs(value - theirs[record_id]) / max(abs(theirs[record_id]), 1e-300)
            worst = max(worst, error)
            if error > 1e-9:
                sys.exit(f"bench: {path}: record {record_id}: stream-infer {value!r}, "
                         f"Python {theirs[record_id]!r}: relative error {error:.3g} > 1e-9")
    return worst


PYTHON_MODEL = ROOT / "target" / "bench" / "model.joblib"


def train_regression_model(python):
    """The Python handlers' LinearRegression, fitted on the rows the embedded model was."""
    PYTHON_MODEL.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, str(ROOT / "bench" / "python" / "train.py"), "regression",
                    str(ROOT / "data" / "diabetes.csv"), str(PYTHON_MODEL)], check=True)


def python_env(model=PYTHON_MODEL, extra=None):
    return clean_env(dict({"MODEL_PATH": str(model),
                           "PYTHONPATH": str(ROOT / "bench" / "python"),
                           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}, **(extra or {})))


def warm(argv, env, paths):
    """Stage medians per event from `stream-infer bench` or `driver.py bench`."""
    _, out = timed(argv + [str(p) for p in paths], env, stdout=subprocess.PIPE)
    return [json.loads(line) for line in out.decode().splitlines()]


def cost_per_million(total_ns, batch):
    """Dollars per million predictions at `batch` records per invocation, 128 MB, arm64."""
    p = PRICES
    seconds = total_ns / 1e9 * p["full_vcpu_memory_mb"] / p["memory_mb"]
    billed = math.ceil(seconds * 1000 / p["billing_granularity_ms"]) * p["billing_granularity_ms"] / 1000
    invocation = p["lambda_request"] + p["lambda_gb_second_arm64"] * p["memory_mb"] / 1024 * billed
    return {"duration_ms_at_128mb": seconds * 1000, "billed_ms": billed * 1000,
            "per_million": invocation * 1_000_000 / batch}


def artifact(cargo_lambda):
    """Builds the arm64 bootstrap with cargo-lambda and Zig; returns its sizes in MB."""
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    subprocess.run([cargo_lambda, "lambda", "build", "--release", "--arm64",
                    "--bin", "stream-infer-lambda"], cwd=ROOT, env=env, check=True)
    bootstrap = ROOT / "target" / "lambda" / "stream-infer-lambda" / "bootstrap"
    archive = ROOT / "target" / "bench" / "bootstrap.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(bootstrap, "bootstrap")
    return {"bootstrap_mb": bootstrap.stat().st_size / 1e6,
            "zipped_mb": archive.stat().st_size / 1e6,
            "command": "cargo lambda build --release --arm64 --bin stream-infer-lambda"}


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "os": platform.platform(),
            "python": platform.python_version()}


# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    """What every group needs: the two implementations, where to work, how much to measure."""
    smoke: bool
    profile: str
    rust: str
    python: list
    work: Path
    cold_runs: int
    warm_runs: int

    def measured(self, command):
        """When, with what and on what a group was measured; the load average before it ran."""
        return {"date": datetime.date.today().isoformat(), "command": command,
                "machine": machine(), "profile": self.profile,
                "load_average_before": list(os.getloadavg())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no timing claims")
    parser.add_argument("--skip-artifact", action="store_true",
                        help="do not build the arm64 bootstrap (about 10 minutes)")
    parser.add_argument("--runs", type=int, help="cold-start runs (default 10; smoke 2)")
    parser.add_argument("--only", type=groups, default=list(GROUPS),
                        help=f"comma-separated groups to measure ({', '.join(GROUPS)}; default "
                             "all); the others keep their last results")
    args = parser.parse_args()

    smoke = args.smoke
    out_dir = ROOT / "target" / "bench-smoke" if smoke else ROOT / "bench"
    work = ROOT / "target" / ("bench-smoke" if smoke else "bench")
    work.mkdir(parents=True, exist_ok=True)
    profile = "debug" if smoke else "release"
    bench = Bench(
        smoke=smoke, profile=profile, rust=str(ROOT / "target" / profile / "stream-infer"),
        python=[str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "bench" / "python" / "driver.py")],
        work=work, cold_runs=args.runs or (2 if smoke else 10), warm_runs=2 if smoke else 30)
    command = " ".join(["scripts/bench"] + sys.argv[1:])

    # The groups not measured now keep their last results: the regression's at the top level (as
    # before the classifier groups existed), the others under their name.
    previous = out_dir / "results.json"
    partial = set(args.only) != set(GROUPS) and previous.exists()
    kept = json.loads(previous.read_text()) if partial else {}
    if "regression" in args.only:
        results = regression(bench, command, skip_artifact=args.skip_artifact)
    else:
        results = {k: v for k, v in kept.items()
                   if k not in ("classifier", "text", "runtime", "targets")}
    fresh = classifiers(bench, command, args.only)
    if "runtime" in args.only:
        fresh["runtime"] = runtime(bench, command)
    for group in ("classifier", "text", "runtime"):
        if group in fresh or group in kept:
            results[group] = fresh.get(group) or kept[group]
    results["targets"] = TARGETS

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out_dir / "results.md").write_text(markdown(results))
    print(markdown(results))
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'}", file=sys.stderr)
    if not smoke:
        embed(ROOT / "README.md", markdown(results))


def groups(text):
    chosen = [g.strip() for g in text.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"groups are {', '.join(GROUPS)}; got {text!r}")
    return chosen


def regression(bench, command, skip_artifact):
    """The embedded diabetes model against LinearRegression: every event size and source."""
    smoke, rust, python = bench.smoke, bench.rust, bench.python
    cargo_lambda = str(ROOT / ".venv" / "bin" / "cargo-lambda")
    cold_runs, warm_runs = bench.cold_runs, bench.warm_runs
    sizes = [1, 10] if smoke else [1, 10, 100, 1000, "max"]
    measured = bench.measured(command)

    print(f"== regression: events ({'smoke' if smoke else 'full'})", file=sys.stderr)
    events = write_events(bench.work / "events", sizes)
    train_regression_model(python[0])

    largest = sizes[-1]
    agree_keys = [(s, largest, 10) for s in ("kinesis", "dynamodb")] + \
                 [(s, sizes[min(2, len(sizes) - 1)], 0) for s in ("kinesis", "dynamodb")]
    print("== agreement (1e-9 relative)", file=sys.stderr)
    worst = check_agreement(rust, python, events, agree_keys)

    cold_event = events[("kinesis", 100 if not smoke else 10, 0)]["path"]
    print(f"== cold start x{cold_runs}", file=sys.stderr)
    ours = [timed([rust, "invoke", cold_event], clean_env())[0] for _ in range(cold_runs)]
    theirs = [timed(python + ["invoke", str(cold_event)], python_env())[0]
              for _ in range(cold_runs)]
    ours_rss = [peak_rss_mb([rust, "invoke", cold_event], clean_env()) for _ in range(3)]
    theirs_rss = [peak_rss_mb(python + ["invoke", cold_event], python_env()) for _ in range(3)]
    watch_runs = 1 if smoke else cold_runs
    watched = [watch_first_invoke(cargo_lambda, cold_event, release=not smoke)
               for _ in range(watch_runs)]
    cold = {
        "event": cold_event.name,
        "stream_infer_invoke_s": summary(ours),
        "stream_infer_invoke_rss_mb": summary(ours_rss),
        "cargo_lambda_watch_first_invoke_s": summary(watched),
        "python_invoke_s": summary(theirs),
        "python_invoke_rss_mb": summary(theirs_rss),
    }

    print(f"== warm x{warm_runs}", file=sys.stderr)
    paths = [e["path"] for e in events.values()]
    rust_warm = warm([rust, "bench", "--runs", str(warm_runs)], clean_env(), paths)
    python_warm = warm(python + ["bench", str(warm_runs)], python_env(), paths)
    warm_rows = []
    for (key, info), r, p in zip(events.items(), rust_warm, python_warm):
        source, size, bad = key
        assert r["records"] == p["records"] == info["records"], (r, p, info)
        warm_rows.append({"source": source, "size": size, "bad_percent": bad,
                          "records": info["records"], "stream_infer": r, "python": p})

    print("== memory at the largest batch", file=sys.stderr)
    biggest = events[("kinesis", largest, 0)]["path"]
    memory = {
        "event": biggest.name,
        "stream_infer_rss_mb": max(peak_rss_mb([rust, "invoke", biggest], clean_env())
                                   for _ in range(3)),
        "python_rss_mb": max(peak_rss_mb(python + ["invoke", biggest], python_env())
                             for _ in range(3)),
        "helper_floor_mb": peak_rss_mb(["/bin/true"], clean_env()),
    }

    built = None
    if not (smoke or skip_artifact):
        print("== arm64 artifact", file=sys.stderr)
        built = artifact(cargo_lambda)

    kinesis_clean = {row["size"]: row for row in warm_rows
                     if row["source"] == "kinesis" and row["bad_percent"] == 0}
    costs = []
    for size, row in kinesis_clean.items():
        c = cost_per_million(row["stream_infer"]["total_ns"], row["records"])
        costs.append(dict(c, size=size, records=row["records"]))
    at_100 = next((c for c in costs if c["size"] == 100), None)
    sagemaker = PRICES["sagemaker_smallest_instance_month"]
    ratios = {
        "cold_start_speedup": cold["python_invoke_s"]["median"] / cold["stream_infer_invoke_s"]["median"],
        "warm_largest_batch_speedup": kinesis_clean[largest]["python"]["total_ns"]
        / kinesis_clean[largest]["stream_infer"]["total_ns"],
        "rss_fraction_of_python": memory["stream_infer_rss_mb"] / memory["python_rss_mb"],
        "artifact_zipped_mb": built["zipped_mb"] if built else None,
        "cost_fraction_of_python_at_batch_100": at_100["per_million"]
        / PRICES["python_lambda_per_million_at_batch_100"] if at_100 else None,
    }
    return dict(measured, **{
        "agreement_max_relative_error": worst,
        "cold_start": cold,
        "warm": warm_rows,
        "memory": memory,
        "artifact": built,
        "prices": PRICES,
        "cost": costs,
        "sagemaker_break_even_predictions_per_month":
            sagemaker / (at_100["per_million"] / 1e6) if at_100 else None,
        "ratios": ratios,
        "load_average_after": list(os.getloadavg()),
    })


def python_classifier_env(model, inputs):
    """The Python classifier handler's environment: its pipeline, and its numeric FEATURES or
    its TEXT_FIELD."""
    if inputs == [data.TEXT_FIELD]:
        return python_env(model, {"HANDLER": "classifier", "TEXT_FIELD": data.TEXT_FIELD})
    return python_env(model, {"HANDLER": "classifier", "FEATURES": ",".join(inputs)})


def classified(stdout):
    """id -> (label, {class: probability}) from JSON lines (the last line is the response)."""
    found = {}
    for line in stdout.decode().splitlines():
        row = json.loads(line)
        if "prediction" in row:
            found[row["id"]] = (row["prediction"], row.get("probabilities") or {})
    return found


def check_classifier_agreement(rust, model_json, python, env, event):
    """Both implementations give every record the same label, and each class a probability
    within 1e-9 (absolute); returns the largest difference."""
    _, ours = timed([rust, "invoke", "--model", model_json, event], clean_env(),
                    stdout=subprocess.PIPE)
    _, theirs = timed(python + ["invoke", str(event)], env, stdout=subprocess.PIPE)
    ours, theirs = classified(ours), classified(theirs)
    if set(ours) != set(theirs) or not ours:
        sys.exit(f"bench: {event}: the implementations predict different records "
                 f"({len(ours)} vs {len(theirs)})")
    worst = 0.0
    for record_id, (label, probabilities) in ours.items():
        their_label, their_probabilities = theirs[record_id]
        if label != their_label or set(probabilities) != set(their_probabilities):
            sys.exit(f"bench: {event}: record {record_id}: stream-infer says {label!r} "
                     f"{probabilities}, Python {their_label!r} {their_probabilities}")
        for cls, p in probabilities.items():
            worst = max(worst, abs(p - their_probabilities[cls]))
    if worst > 1e-9:
        sys.exit(f"bench: {event}: probabilities differ by up to {worst:.3g} > 1e-9")
    return worst


def classifier_events(directory, inputs, rows, records):
    """Kinesis events of the breast-cancer rows, cycled: `records` of them (None: the largest
    batch under 6 MB)."""
    def make(i, bad):
        payload = dict(zip(inputs, rows[i % len(rows)]), id=f"tumour-{i:06}")
        return kinesis_envelope(i, json.dumps(payload).encode())

    text, n = records_text(make, records)
    path = directory / f"classifier-kinesis-{records or 'max'}.json"
    path.write_text(text)
    return {"path": path, "records": n}


def text_events(directory, records):
    """Kinesis events of generated ~500-character documents in the text field: `records` of
    them (None: the largest batch under 6 MB). Their sizes, for the table."""
    rng = random.Random(29)
    lengths = []

    def make(i, bad):
        document = data.document(rng, rng.randrange(2))
        lengths.append(len(document))
        payload = {"id": f"ticket-{i:06}", data.TEXT_FIELD: document}
        return kinesis_envelope(i, json.dumps(payload).encode())

    text, n = records_text(make, records)
    path = directory / f"text-kinesis-{records or 'max'}.json"
    path.write_text(text)
    return {"path": path, "records": n, "mean_chars": statistics.mean(lengths[:n])}


def fit_and_import(bench, group, name, target, train_args, import_args):
    """Fits the scikit-learn pipeline (train.py) and imports it with `stream-infer import`;
    returns (joblib path, artifact path)."""
    models = bench.work / "models"
    models.mkdir(parents=True, exist_ok=True)
    fitted, artifact = models / f"{group}.joblib", models / f"{group}.json"
    subprocess.run([bench.python[0], str(ROOT / "bench" / "python" / "train.py"), group,
                    str(fitted)] + train_args, check=True)
    env = dict(os.environ, STREAM_INFER_PYTHON=bench.python[0])
    subprocess.run([bench.rust, "import", str(fitted), "--name", name, "--target", target,
                    "--out", str(artifact)] + import_args, check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return fitted, artifact


def classifiers(bench, command, only):
    """The imported classifiers against the same fitted pipelines' predict_proba."""
    smoke, rust, python = bench.smoke, bench.rust, bench.python
    events_dir = bench.work / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    if "classifier" in only:
        measured = bench.measured(command)
        print("== classifier: fit, import, events", file=sys.stderr)
        inputs, rows, _ = data.cancer()
        fitted, artifact = fit_and_import(bench, "classifier", "bench-classifier", "malignant",
                                          [], ["--features", ",".join(inputs)])
        event = classifier_events(events_dir, inputs, rows, 10 if smoke else None)
        env = python_classifier_env(fitted, inputs)
        print("== classifier: agreement (labels equal, probabilities within 1e-9)", file=sys.stderr)
        worst = check_classifier_agreement(rust, artifact, python, env, event["path"])
        print(f"== classifier: warm x{bench.warm_runs}", file=sys.stderr)
        ours = warm([rust, "bench", "--model", str(artifact), "--runs", str(bench.warm_runs)],
                    clean_env(), [event["path"]])[0]
        theirs = warm(python + ["bench", str(bench.warm_runs)], env, [event["path"]])[0]
        assert ours["records"] == theirs["records"] == event["records"], (ours, theirs, event)
        results["classifier"] = dict(measured, **{
            "model": "StandardScaler + LogisticRegression, breast-cancer data",
            "features": len(inputs), "event": event["path"].name, "records": event["records"],
            "bytes": ours["bytes"], "agreement_max_probability_difference": worst,
            "stream_infer": ours, "python": theirs,
            "speedup": theirs["total_ns"] / ours["total_ns"],
            "load_average_after": list(os.getloadavg()),
        })
    if "text" in only:
        measured = bench.measured(command)
        terms, documents = (2000, 300) if smoke else (TEXT_TERMS, 6000)
        print(f"== text: fit ({terms} terms), import, events", file=sys.stderr)
        fitted, artifact = fit_and_import(bench, "text", "bench-text", "sentiment",
                                          [str(terms), str(documents)],
                                          ["--text-field", data.TEXT_FIELD])
        event = text_events(events_dir, 10 if smoke else None)
        small = event if smoke else text_events(events_dir, 10)
        env = python_classifier_env(fitted, [data.TEXT_FIELD])
        print("== text: agreement (labels equal, probabilities within 1e-9)", file=sys.stderr)
        worst = check_classifier_agreement(rust, artifact, python, env, event["path"])
        print(f"== text: warm x{bench.warm_runs}", file=sys.stderr)
        ours = warm([rust, "bench", "--model", str(artifact), "--runs", str(bench.warm_runs)],
                    clean_env(), [event["path"]])[0]
        theirs = warm(python + ["bench", str(bench.warm_runs)], env, [event["path"]])[0]
        assert ours["records"] == theirs["records"] == event["records"], (ours, theirs, event)
        print("== text: peak RSS at the batch", file=sys.stderr)
        rss_runs = 1 if smoke else 3
        memory = {
            "stream_infer_rss_mb": max(peak_rss_mb([rust, "invoke", "--model", artifact,
                                                    event["path"]], clean_env())
                                       for _ in range(rss_runs)),
            "python_rss_mb": max(peak_rss_mb(python + ["invoke", event["path"]], env)
                                 for _ in range(rss_runs)),
            "helper_floor_mb": peak_rss_mb(["/bin/true"], clean_env()),
        }
        runs = 1 if smoke else bench.cold_runs
        print(f"== text: model load and cold start x{runs}", file=sys.stderr)
        # One load per process, as a cold start does it.
        loads = [warm([rust, "bench", "--model", str(artifact), "--runs", "1"], clean_env(),
                      [small["path"]])[0]["model_load_ns"] / 1e9 for _ in range(runs)]
        python_loads = [json.loads(timed(python + ["load", "1"], env, stdout=subprocess.PIPE)[1])
                        ["model_load_ns"] / 1e9 for _ in range(runs)]
        cold = [timed([rust, "invoke", "--model", artifact, small["path"]], clean_env())[0]
                for _ in range(runs)]
        python_cold = [timed(python + ["invoke", str(small["path"])], env)[0] for _ in range(runs)]
        results["text"] = dict(measured, **{
            "model": f"TfidfVectorizer(ngram_range=(1, 2), max_features={terms}) + "
                     f"LogisticRegression, {documents} generated documents",
            "terms": terms, "artifact_mb": artifact.stat().st_size / 1e6,
            "joblib_mb": fitted.stat().st_size / 1e6,
            "event": event["path"].name, "records": event["records"], "bytes": ours["bytes"],
            "mean_chars": event["mean_chars"], "agreement_max_probability_difference": worst,
            "stream_infer": ours, "python": theirs,
            "speedup": theirs["total_ns"] / ours["total_ns"],
            "memory": dict(memory, event=event["path"].name),
            "model_load_s": {"stream_infer": summary(loads), "python_joblib": summary(python_loads)},
            "cold_start": {"event": small["path"].name, "stream_infer_invoke_s": summary(cold),
                           "python_invoke_s": summary(python_cold)},
            "load_average_after": list(os.getloadavg()),
        })
    return results


# ---------------------------------------------------------------------------------------------
# Through the Lambda Runtime API.

RUNTIME_SIDES = {
    "stream_infer": "stream-infer (`stream-infer-lambda`)",
    "python": "Python (`handler.py`, awslambdaric)",
    "powertools": "Powertools (`BatchProcessor`, awslambdaric)",
}
# Not a stream event: each side must post it to /error and then serve on.
NOT_A_STREAM_EVENT = b"[]"


def runtime_side(bench, side, source):
    """(argv, cwd, _HANDLER, AWS_EXECUTION_ENV, extra variables) of one side, as Lambda starts
    it for a function triggered by `source`."""
    if side == "stream_infer":
        # provided.al2023 runs the bootstrap itself; METRICS stays on, as deployed.
        binary = ROOT / "target" / bench.profile / "stream-infer-lambda"
        return [binary], binary.parent, "bootstrap", None, {}
    task_root = ROOT / "bench" / "python"
    module = "handler" if side == "python" else "powertools_handler"
    extra = {"MODEL_PATH": str(PYTHON_MODEL), "PYTHONPATH": str(task_root),
             "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "EVENT_SOURCE": source}
    python_version = "python%d.%d" % sys.version_info[:2]
    return ([bench.python[0], "-m", "awslambdaric", f"{module}.handler"], task_root,
            f"{module}.handler", f"AWS_Lambda_{python_version}", extra)


def start_function(bench, side, source, stdout):
    """A runtime_api.Function serving `side`, started with the environment Lambda sets."""
    argv, cwd, handler, execution_env, extra = runtime_side(bench, side, source)
    function = runtime_api.Function(f"stream-infer-bench-{side.replace('_', '-')}-{source}")
    env = {"PATH": os.environ["PATH"]}
    env.update(runtime_api.lambda_environment(function.api, handler, cwd,
                                              execution_env=execution_env))
    env.update(extra)
    function.start(argv, env, cwd, stdout)
    return function


def invoke_checked(function, event):
    """Serves a good event; the answer must be a response with no batch item failure."""
    invocation = function.invoke(event["bytes"])
    if invocation.outcome != "response" or invocation.json() != {"batchItemFailures": []}:
        sys.exit(f"bench: {function.api.function_name}: {event['path'].name}: expected "
                 f"{{\"batchItemFailures\": []}}, got {invocation.outcome} "
                 f"{invocation.body[:2000]!r}")
    return invocation


def predicted_lines(path):
    """How many prediction lines (JSON objects with a `prediction`) the process wrote."""
    count = 0
    with open(path, "rb") as lines:
        for line in lines:
            if b'"prediction"' in line:
                row = json.loads(line)
                count += isinstance(row, dict) and "prediction" in row
    return count


def percentiles(samples):
    ordered = sorted(samples)
    return dict(summary(samples), p90=ordered[math.ceil(0.9 * len(ordered)) - 1])


def serve_source(bench, side, source, small, large, runs_small, runs_large):
    """One function process for `source`: a cold first invocation of `small`, then `runs_small`
    more and `runs_large` of `large`, then an event that is not a stream event (it must be an
    /error, and the process must serve the next one); its peak RSS after all of them."""
    out_path = runtime_output(bench, f"{side}-{source}")
    with open(out_path, "wb") as out, start_function(bench, side, source, out) as function, \
            failing_with(out_path):
        invoke_checked(function, small)
        cold = function.cold_start()
        warm_small = [invoke_checked(function, small).seconds for _ in range(runs_small)]
        warm_large = [invoke_checked(function, large).seconds for _ in range(runs_large)]
        failed = function.invoke(NOT_A_STREAM_EVENT)
        if failed.outcome != "error":
            sys.exit(f"bench: {function.api.function_name}: an event that is not a stream event "
                     f"was answered with a response, not an error: {failed.body[:500]!r}")
        invoke_checked(function, small)
        rss = function.peak_rss_mb()
        refused = function.api.refused
    if refused:
        sys.exit(f"bench: {side} {source}: the stand-in refused requests: {refused}")
    expected = (runs_small + 2) * small["records"] + runs_large * large["records"]
    found = predicted_lines(out_path)
    if found != expected:
        sys.exit(f"bench: {side} {source}: {found} prediction lines on stdout, expected "
                 f"{expected}; the process's output is in {out_path}")
    out_path.unlink()
    return {
        "cold_start_s": cold,
        "small": dict(percentiles(warm_small), event=small["path"].name,
                      records=small["records"], bytes=len(small["bytes"])),
        "large": dict(percentiles(warm_large), event=large["path"].name,
                      records=large["records"], bytes=len(large["bytes"])),
        "peak_rss_mb": rss,
        "invocations": runs_small + runs_large + 3,
        "error_type_of_a_non_stream_event": failed.error_type(),
    }


def cold_start_only(bench, side, source, event):
    """Seconds from spawning a fresh process to its first response to `event`."""
    out_path = runtime_output(bench, f"{side}-{source}-cold")
    with open(out_path, "wb") as out, start_function(bench, side, source, out) as function, \
            failing_with(out_path):
        invoke_checked(function, event)
    out_path.unlink()
    return function.cold_start()


def runtime_output(bench, name):
    """Where a function process's stdout and stderr go (kept when it fails)."""
    directory = bench.work / "runtime"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{name}.out"


@contextlib.contextmanager
def failing_with(out_path):
    """Turns a function that exited, failed at init or timed out into the bench's exit, naming
    the file with what the process printed."""
    try:
        yield
    except runtime_api.FunctionFailed as failed:
        sys.exit(f"bench: {failed}; the process's output is in {out_path}")


def runtime(bench, command):
    """The Lambda binary, the Python handler under awslambdaric and the Powertools handler, each
    served by the Runtime API stand-in: cold start, warm durations, peak RSS."""
    smoke = bench.smoke
    measured = bench.measured(command)
    print("== runtime: stand-in self-test", file=sys.stderr)
    runtime_api.self_test()
    small_size, large_size = (1, 10) if smoke else (100, "max")
    runs_small, runs_large = (2, 2) if smoke else (bench.warm_runs, 20)
    cold_runs = 1 if smoke else bench.cold_runs
    train_regression_model(bench.python[0])
    events = write_events(bench.work / "events", [small_size, large_size])
    for event in events.values():
        event["bytes"] = event["path"].read_bytes()
    sides = {}
    for side in RUNTIME_SIDES:
        sides[side] = {}
        for source in ("kinesis", "dynamodb"):
            print(f"== runtime: {side}, {source}: 1 cold + {runs_small} x {small_size} + "
                  f"{runs_large} x {large_size} records", file=sys.stderr)
            sides[side][source] = serve_source(bench, side, source,
                                               events[(source, small_size, 0)],
                                               events[(source, large_size, 0)],
                                               runs_small, runs_large)
        # The Kinesis process's first invocation is one cold start; fresh processes add the rest.
        event = events[("kinesis", small_size, 0)]
        if cold_runs > 1:
            print(f"== runtime: {side}: {cold_runs - 1} more cold starts", file=sys.stderr)
        colds = [sides[side]["kinesis"]["cold_start_s"]] + \
            [cold_start_only(bench, side, "kinesis", event) for _ in range(cold_runs - 1)]
        sides[side]["cold_start_s"] = dict(summary(colds), event=event["path"].name)
    rust = sides["stream_infer"]
    ratios = {}
    for other in ("python", "powertools"):
        theirs = sides[other]
        ratios[other] = {
            "cold_start": theirs["cold_start_s"]["median"] / rust["cold_start_s"]["median"],
            **{f"{source}_{size}": theirs[source][size]["median"] / rust[source][size]["median"]
               for source in ("kinesis", "dynamodb") for size in ("small", "large")},
        }
    return dict(measured, **{
        "stand_in": "bench/runtime_api.py: Lambda Runtime API 2018-06-01 on 127.0.0.1",
        "memory_size_mb": 128, "metrics": "on (METRICS unset, as deployed)",
        "log_format": "JSON, INFO (as the SAM template deploys it)",
        "sides": sides, "ratios": ratios,
        "versions": {"awslambdaric": package_version("awslambdaric"),
                     "aws-lambda-powertools": package_version("aws-lambda-powertools")},
        "load_average_after": list(os.getloadavg()),
    })


def package_version(name):
    out = subprocess.run([ROOT / ".venv" / "bin" / "python", "-c",
                          f"import importlib.metadata as m; print(m.version({name!r}))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def embed(readme, table):
    """Replaces the README's text between the bench markers with the new table."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    text = readme.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1]
        readme.write_text(f"{head}{start}\n{table}{end}{tail}")
        print(f"updated the table in {readme}", file=sys.stderr)


def ms(ns):
    return f"{ns / 1e6:.3f}" if ns < 1e7 else f"{ns / 1e6:.1f}"


def markdown(r):
    """The tables of every group in `r` (results.json)."""
    parts = []
    if "cold_start" in r:
        parts.append(regression_markdown(r))
    if "classifier" in r or "text" in r:
        parts.append(classifier_markdown(r))
    if "runtime" in r:
        parts.append(runtime_markdown(r))
    return "\n".join(parts)


def runtime_markdown(r):
    """The runtime group: the three functions through the Runtime API stand-in."""
    g, t = r["runtime"], r["targets"]
    m, sides, x = g["machine"], g["sides"], g["ratios"]
    rust, python, powertools = (sides[k] for k in RUNTIME_SIDES)
    lines = [
        f"Through the Lambda Runtime API: measured {g['date']} with `{g['command']}` "
        f"({g['profile']} build) on {m['nproc']} cores ({m['cpu']}), {loads(g)}. Each function ran "
        f"as its own process served by `bench/runtime_api.py` on 127.0.0.1, with the environment "
        f"Lambda sets (128 MB, JSON logs at INFO, stream-infer's metrics on); awslambdaric "
        f"{g['versions']['awslambdaric']}, aws-lambda-powertools "
        f"{g['versions']['aws-lambda-powertools']}. Every response was checked "
        "(`batchItemFailures` empty, one prediction line per record) before its time was kept.",
        "",
        "| figure | " + " | ".join(RUNTIME_SIDES.values())
        + " | Python ÷ stream-infer | Powertools ÷ stream-infer | target |",
        "|---|---|---|---|---|---|---|",
    ]
    c = rust["cold_start_s"]
    ok = min(x["python"]["cold_start"], x["powertools"]["cold_start"]) \
        >= t["runtime_cold_start_speedup"]
    lines.append(
        f"| cold start: spawn to first response, {c['event']}, median (min–max) of {c['runs']} | "
        + " | ".join(span(s["cold_start_s"]) for s in (rust, python, powertools))
        + f" | {times(x['python']['cold_start'])} | {times(x['powertools']['cold_start'])} | "
        + target(ok, f"≥ {t['runtime_cold_start_speedup']}× both") + " |")
    for source, label in (("kinesis", "Kinesis"), ("dynamodb", "DynamoDB Streams")):
        for size in ("small", "large"):
            w = rust[source][size]
            goal = "—"
            if source == "kinesis" and size == "large":
                ok = x["python"]["kinesis_large"] >= t["runtime_warm_kinesis_max_vs_python"] and \
                    x["powertools"]["kinesis_large"] >= t["runtime_warm_kinesis_max_vs_powertools"]
                goal = target(ok, f"≥ {t['runtime_warm_kinesis_max_vs_python']}× Python, "
                                  f"≥ {t['runtime_warm_kinesis_max_vs_powertools']}× Powertools")
            lines.append(
                f"| warm, {label}, {w['records']} record{'s' if w['records'] > 1 else ''} "
                f"({w['bytes'] / 2**20:.2f} MiB), "
                f"median (p90) of {w['runs']} | "
                + " | ".join(f"{s[source][size]['median'] * 1000:.{digits(s[source][size])}f} ms "
                             f"({s[source][size]['p90'] * 1000:.{digits(s[source][size])}f})"
                             for s in (rust, python, powertools))
                + f" | {times(x['python'][f'{source}_{size}'])} | "
                f"{times(x['powertools'][f'{source}_{size}'])} | {goal} |")
    for source, label in (("kinesis", "Kinesis"), ("dynamodb", "DynamoDB Streams")):
        n = rust[source]["invocations"]
        goal = target(rust[source]["peak_rss_mb"] <= t["runtime_rss_mb"],
                      f"≤ {t['runtime_rss_mb']} MB") if source == "kinesis" else "—"
        lines.append(
            f"| peak RSS (VmHWM) of the {label} process after {n} invocations, "
            f"{rust[source]['large']['runs']} of them at {rust[source]['large']['records']} records | "
            + " | ".join(f"{s[source]['peak_rss_mb']:.1f} MB" for s in (rust, python, powertools))
            + f" | {times(python[source]['peak_rss_mb'] / rust[source]['peak_rss_mb'])} | "
            f"{times(powertools[source]['peak_rss_mb'] / rust[source]['peak_rss_mb'])} | {goal} |")
    return "\n".join(lines) + "\n"


def times(ratio):
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def digits(s):
    """Decimals for a duration in ms: three below 10 ms, one above."""
    return 3 if s["median"] < 0.01 else 1


def regression_markdown(r):
    m = r["machine"]
    lines = [
        f"Measured {r['date']} with `{r['command']}` ({r['profile']} build) on {m['nproc']} cores "
        f"({m['cpu']}), Python {m['python']}. Both implementations predicted the same records "
        f"within {r['agreement_max_relative_error']:.1e} relative error before anything was timed.",
        "",
        "| figure | stream-infer | Python (scikit-learn) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    c = r["cold_start"]
    t = r["targets"]
    x = r["ratios"]

    lines.append(f"| cold start, `invoke` {c['event']}, spawn to exit, median (min–max) of "
                 f"{c['stream_infer_invoke_s']['runs']} | {span(c['stream_infer_invoke_s'])} | "
                 f"{span(c['python_invoke_s'])} | {x['cold_start_speedup']:.0f}× faster | "
                 f"≥ {t['cold_start_speedup']}× |")
    lines.append(f"| cold start, `cargo lambda watch` spawn to first response | "
                 f"{span(c['cargo_lambda_watch_first_invoke_s'])} | — | — | — |")
    mem = r["memory"]
    lines.append(f"| peak RSS, {mem['event']} | {mem['stream_infer_rss_mb']:.1f} MB | "
                 f"{mem['python_rss_mb']:.1f} MB | {x['rss_fraction_of_python']:.2f}× | "
                 f"≤ {t['rss_fraction_of_python']:.2f}× |")
    largest = [w for w in r["warm"] if w["source"] == "kinesis" and w["bad_percent"] == 0][-1]
    lines.append(f"| warm, largest Kinesis batch ({largest['records']} records) | "
                 f"{ms(largest['stream_infer']['total_ns'])} ms | {ms(largest['python']['total_ns'])} ms | "
                 f"{x['warm_largest_batch_speedup']:.0f}× faster | ≥ {t['warm_largest_batch_speedup']}× |")
    a = r["artifact"]
    lines.append(f"| zipped arm64 bootstrap | "
                 + (f"{a['zipped_mb']:.2f} MB | — | — | ≤ {t['artifact_zipped_mb']} MB |" if a
                    else "not built (`--smoke` or `--skip-artifact`) | — | — | — |"))
    cost100 = next((k for k in r["cost"] if k["size"] == 100), None)
    if cost100:
        lines.append(f"| cost per 1M predictions, batch 100, 128 MB arm64 | "
                     f"${cost100['per_million']:.5f} | ${r['prices']['python_lambda_per_million_at_batch_100']:.3f} "
                     f"(published) | {x['cost_fraction_of_python_at_batch_100']:.3f}× | "
                     f"≤ {t['cost_fraction_of_python_at_batch_100']:.2f}× |")
    lines += ["", "Warm, in process, median per batch (decode / features / predict / respond = total; "
              "records/s):", "",
              "| event | records | stream-infer | records/s | Python | records/s | speed-up |",
              "|---|---|---|---|---|---|---|"]
    for w in r["warm"]:
        s, p = w["stream_infer"], w["python"]

        lines.append(
            f"| {w['source']} {w['size']}, {w['bad_percent']}% bad | {w['records']} | {stages(s)} | "
            f"{w['records'] / (s['total_ns'] / 1e9):,.0f} | {stages(p)} | "
            f"{w['records'] / (p['total_ns'] / 1e9):,.0f} | {p['total_ns'] / s['total_ns']:.0f}× |")
    lines += ["", "Cost model (stream-infer, Kinesis, no bad records; the warm duration scaled by "
              f"{r['prices']['full_vcpu_memory_mb']}/{r['prices']['memory_mb']} for a 128 MB "
              "function's CPU share, billed per 1 ms, plus the request charge):", "",
              "| batch | duration at 128 MB | billed | $ per 1M predictions |", "|---|---|---|---|"]
    for k in r["cost"]:
        lines.append(f"| {k['records']} | {k['duration_ms_at_128mb']:.2f} ms | {k['billed_ms']:.0f} ms | "
                     f"${k['per_million']:.5f} |")
    if r["sagemaker_break_even_predictions_per_month"]:
        lines += ["", f"The smallest always-on SageMaker endpoint (${r['prices']['sagemaker_smallest_instance_month']:.2f} "
                  f"a month) costs as much as {r['sagemaker_break_even_predictions_per_month'] / 1e9:,.1f} "
                  "billion predictions a month through stream-infer at batch 100."]
    return "\n".join(lines) + "\n"



def target(ok, text):
    return text if ok else f"{text} — **missed**"


def loads(g):
    before = g["load_average_before"][0]
    after = g.get("load_average_after", [before])[0]
    return f"1-minute load average {before:.2f} before, {after:.2f} after"


def classifier_markdown(r):
    t = r["targets"]
    lines = ["Classifiers imported from scikit-learn with `stream-infer import`, against the same "
             "fitted pipeline's `predict_proba` in the Python handler (`bench/python/classifier.py`), "
             "on Kinesis events:", ""]
    for name in ("classifier", "text"):
        g = r.get(name)
        if g:
            m = g["machine"]
            lines.append(f"- {name}: measured {g['date']} with `{g['command']}` ({g['profile']} build) "
                         f"on {m['nproc']} cores ({m['cpu']}), {loads(g)}. Every record got the same "
                         f"label; probabilities agreed within "
                         f"{g['agreement_max_probability_difference']:.1e} before anything was timed.")
    lines += ["", "| figure | stream-infer | Python (scikit-learn) | ratio | target |",
              "|---|---|---|---|---|"]
    c = r.get("classifier")
    if c:
        lines.append(f"| warm, logistic regression (StandardScaler, {c['features']} features), largest "
                     f"Kinesis batch ({c['records']} records, {c['bytes'] / 2**20:.2f} MiB of Lambda's 6 MiB) | "
                     f"{ms(c['stream_infer']['total_ns'])} ms | {ms(c['python']['total_ns'])} ms | "
                     f"{c['speedup']:.1f}× faster | "
                     + target(c["speedup"] >= t["classifier_warm_speedup"],
                              f"≥ {t['classifier_warm_speedup']}×") + " |")
    x = r.get("text")
    if x:
        s, p = x["stream_infer"], x["python"]
        compute = (s["decode_ns"] + s["score_ns"]) / 1e6
        lines.append(f"| warm, TF-IDF (1–2-grams, {x['terms']:,} terms) + logistic regression, "
                     f"{x['records']} records of {x['mean_chars']:.0f} characters "
                     f"({x['bytes'] / 2**20:.2f} MiB) | {ms(s['total_ns'])} ms | {ms(p['total_ns'])} ms | "
                     f"{x['speedup']:.1f}× faster | "
                     + target(x["speedup"] >= t["text_warm_speedup"], f"≥ {t['text_warm_speedup']}×")
                     + " |")
        lines.append(f"| that text batch: decode + features + predict, one core | {compute:.1f} ms | "
                     f"{(p['decode_ns'] + p['score_ns']) / 1e6:.1f} ms | — | "
                     + target(compute <= t["text_compute_ms"], f"≤ {t['text_compute_ms']} ms") + " |")
        mem = x["memory"]
        lines.append(f"| peak RSS, `invoke` of that text batch | {mem['stream_infer_rss_mb']:.1f} MB | "
                     f"{mem['python_rss_mb']:.1f} MB | "
                     f"{mem['stream_infer_rss_mb'] / mem['python_rss_mb']:.2f}× | "
                     + target(mem["stream_infer_rss_mb"] <= t["text_rss_mb"], f"≤ {t['text_rss_mb']} MB")
                     + " |")
        ld = x["model_load_s"]
        lines.append(f"| model load at cold start, {x['terms']:,}-term model ({x['artifact_mb']:.1f} MB "
                     f"JSON; joblib {x['joblib_mb']:.1f} MB), one per process, median (min–max) of "
                     f"{ld['stream_infer']['runs']} | {span(ld['stream_infer'])} | "
                     f"{span(ld['python_joblib'])} (`joblib.load`) | — | "
                     + target(ld["stream_infer"]["median"] * 1000 <= t["text_model_load_ms"],
                              f"≤ {t['text_model_load_ms']} ms") + " |")
        cold = x["cold_start"]
        lines.append(f"| cold start with the text model, `invoke` {cold['event']}, spawn to exit, "
                     f"median (min–max) of {cold['stream_infer_invoke_s']['runs']} | "
                     f"{span(cold['stream_infer_invoke_s'])} | {span(cold['python_invoke_s'])} | "
                     f"{cold['python_invoke_s']['median'] / cold['stream_infer_invoke_s']['median']:.0f}× "
                     "faster | — |")
    lines += ["", "Warm, in process, median per batch (decode / features / predict / respond = total; "
              "records/s). Features include the pipeline's transforms (scaling, tokenizing and TF-IDF) "
              "on both sides; predict is the final estimator alone on their output. Respond is the total "
              "less decode and score, timed apart, so it reads 0 when the medians overlap:", "",
              "| event | records | stream-infer | records/s | Python | records/s | speed-up |",
              "|---|---|---|---|---|---|---|"]
    for name in ("classifier", "text"):
        g = r.get(name)
        if g:
            s, p = g["stream_infer"], g["python"]
            lines.append(f"| {g['event']} | {g['records']} | {stages(s)} | "
                         f"{g['records'] / (s['total_ns'] / 1e9):,.0f} | {stages(p)} | "
                         f"{g['records'] / (p['total_ns'] / 1e9):,.0f} | {g['speedup']:.1f}× |")
    return "\n".join(lines) + "\n"


def span(s, scale=1000, unit="ms"):
    return f"{s['median'] * scale:.1f} {unit} ({s['min'] * scale:.1f}–{s['max'] * scale:.1f})"


def stages(d):
    return (f"{ms(d['decode_ns'])} / {ms(d['features_ns'])} / {ms(d['predict_ns'])} / "
            f"{ms(d['respond_ns'])} = **{ms(d['total_ns'])} ms**")


if __name__ == "__main__":
    main()
