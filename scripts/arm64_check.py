"""The arm64 builds against the x86-64 builds, byte for byte; scripts/arm64-check runs this.

Usage: python3 scripts/arm64_check.py ARM64_CLI X86_CLI [ARM64_BOOTSTRAP X86_BOOTSTRAP]

The cases are every golden event (events/*.json, with the environment its events/expected/ file
gives) and every whole-event input of the fuzz corpus (fuzz/corpus/event/) under each of those
environments, the way the fuzzer's corpus check runs them.

1. `stream-infer invoke EVENT`, the arm64 binary under `qemu-aarch64 -L /usr/aarch64-linux-gnu`
   and the x86-64 one natively: the exit status, stdout (the prediction lines and the response)
   and stderr (the rejection lines and the summary, or the error) must be identical bytes, once
   the log lines' `timestamp` field is taken out.
2. The Lambda bootstrap itself, as Lambda runs it: one process per environment, fed its cases
   twice (cold, then warm) by a Runtime API stand-in on 127.0.0.1. The bodies posted to
   `/response` or `/error` must be identical bytes, and so must stdout (JSON log lines, without
   their `timestamp`, and the prediction lines).

The golden events must also predict exactly the records events/expected/ says, so a check that
compares two empty outputs cannot pass. Stdlib only: it runs before .venv exists.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QEMU = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]
# tracing's JSON lines start with the time; everything after it must match.
TIMESTAMP = re.compile(rb'"timestamp":"[^"]*",?')
# Only these reach the processes: no AWS endpoint, credentials or log filter from the caller.
BASE_ENV = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "AWS_REGION": "us-east-1"}
TRACE = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"


def cases():
    """[(setup name, environment, [(event path, expected or None)])] in a fixed order."""
    setups = {}
    golden = sorted((ROOT / "events").glob("*.json"))
    if len(golden) < 8:
        sys.exit(f"arm64-check: expected the golden events in events/, found {len(golden)}")
    for event in golden:
        expected = json.loads((ROOT / "events" / "expected" / event.name).read_text())
        config = expected["config"]
        key = json.dumps(config, sort_keys=True)
        setups.setdefault(key, (config, []))[1].append((event, expected))
    corpus = sorted((ROOT / "fuzz" / "corpus" / "event").iterdir())
    if not corpus:
        sys.exit("arm64-check: fuzz/corpus/event/ is empty")
    result = []
    for key, (config, events) in sorted(setups.items()):
        name = ",".join(f"{k}={v}" for k, v in sorted(config.items())) or "embedded model"
        result.append((name, config, events + [(path, None) for path in corpus]))
    return result


def normalized(output):
    return TIMESTAMP.sub(b"", output)


def first_difference(label, ours, theirs):
    """A message naming the first line where the arm64 output differs from the x86-64 one."""
    a, b = ours.split(b"\n"), theirs.split(b"\n")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return (f"{label}, line {i + 1}:\n  arm64:  {x[:400]!r}\n  x86-64: {y[:400]!r}")
    return f"{label}: arm64 has {len(a)} lines, x86-64 {len(b)}"


def check_predictions(event, expected, stdout):
    """The golden event's prediction lines are the records events/expected/ lists as predicted."""
    want = [r["id"] for r in expected["records"] if r["outcome"] == "predicted"]
    lines = stdout.rstrip(b"\n").split(b"\n")
    got = [json.loads(line)["id"] for line in lines[:-1]]
    if got != want:
        sys.exit(f"arm64-check: {event.name}: predicted {got}, events/expected/ says {want}")
    json.loads(lines[-1])["batchItemFailures"]
    return len(got)


def check_invoke(arm64_cli, x86_cli, setups):
    print("== stream-infer invoke: arm64 under qemu against x86-64", flush=True)
    failures, runs, predicted = [], 0, 0
    for name, config, events in setups:
        env = dict(BASE_ENV, **config)
        for event, expected in events:
            label = f"{event.relative_to(ROOT)} ({name})"
            argv = ["invoke", str(event)]
            ours = subprocess.run(QEMU + [arm64_cli] + argv, cwd=ROOT, env=env, capture_output=True)
            theirs = subprocess.run([x86_cli] + argv, cwd=ROOT, env=env, capture_output=True)
            runs += 1
            if ours.returncode != theirs.returncode:
                failures.append(f"{label}: exit {ours.returncode} on arm64, "
                                f"{theirs.returncode} on x86-64\n  arm64 stderr: "
                                f"{ours.stderr[-400:]!r}")
                continue
            if ours.stdout != theirs.stdout:
                failures.append(first_difference(f"{label} stdout", ours.stdout, theirs.stdout))
            if normalized(ours.stderr) != normalized(theirs.stderr):
                failures.append(first_difference(f"{label} stderr", normalized(ours.stderr),
                                                 normalized(theirs.stderr)))
            if expected is not None:
                if theirs.returncode != 0:
                    sys.exit(f"arm64-check: {label} failed on x86-64: {theirs.stderr[-400:]!r}")
                predicted += check_predictions(event, expected, theirs.stdout)
    return failures, runs, predicted


class RuntimeApi(http.server.ThreadingHTTPServer):
    """A Lambda Runtime API stand-in: hands out the queued events one by one, keeps what the
    function posts back, and holds the function's last `next` once the queue is empty."""

    daemon_threads = True

    def __init__(self, events):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.queue = list(enumerate(events))
        self.posted = {}
        self.lock = threading.Lock()
        self.drained = threading.Event()
        self.stop = threading.Event()


class RuntimeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without this each reply waits for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, *_):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self.reply(404)
        with self.server.lock:
            item = self.server.queue.pop(0) if self.server.queue else None
        if item is None:
            self.server.drained.set()
            self.server.stop.wait()
            return
        n, event = item
        deadline = int(time.time() * 1000) + 300_000
        self.reply(200, event, [
            ("Lambda-Runtime-Aws-Request-Id", f"arm64-check-{n}"),
            ("Lambda-Runtime-Deadline-Ms", str(deadline)),
            ("Lambda-Runtime-Invoked-Function-Arn",
             "arn:aws:lambda:us-east-1:123456789012:function:stream-infer"),
            ("Lambda-Runtime-Trace-Id", TRACE),
            ("Content-Type", "application/json"),
        ])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = re.fullmatch(r"/2018-06-01/runtime/invocation/arm64-check-(\d+)/(response|error)",
                             self.path)
        if match is None:
            # An init error, or a path this stand-in does not serve: the run fails on it.
            with self.server.lock:
                self.server.posted[self.path] = body
            self.server.drained.set()
            return self.reply(202)
        with self.server.lock:
            self.server.posted[int(match[1])] = (match[2], body)
        self.reply(202)


def serve(argv, env, events):
    """Runs one bootstrap process over `events`; returns (posted bodies, stdout, stderr)."""
    server = RuntimeApi(events)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        # Reading the pipes in threads keeps a chatty process from blocking on a full pipe.
        out, err = [], []
        readers = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(s, b))
                   for s, b in ((process.stdout, out), (process.stderr, err))]
        for reader in readers:
            reader.start()
        if not server.drained.wait(300):
            raise SystemExit(f"arm64-check: {argv[-1]} served no last `next` within 300 s")
        # The function asked for the next event, so every response is posted and every line
        # of the last invocation written.
        process.terminate()
        process.wait(30)
        for reader in readers:
            reader.join(30)
    finally:
        if process.poll() is None:
            process.kill()
        server.stop.set()
        server.shutdown()
        server.server_close()
    return server.posted, out[0], err[0]


def check_bootstrap(arm64_bootstrap, x86_bootstrap, setups):
    print("== Lambda bootstrap: arm64 under qemu against x86-64, through a Runtime API "
          "stand-in on 127.0.0.1", flush=True)
    failures, invocations = [], 0
    for name, config, events in setups:
        env = dict(BASE_ENV, **config, METRICS="off", AWS_LAMBDA_LOG_FORMAT="JSON",
                   AWS_LAMBDA_FUNCTION_NAME="stream-infer", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128")
        bodies = [path.read_bytes() for path, _ in events] * 2
        ours = serve(QEMU + [arm64_bootstrap], env, bodies)
        theirs = serve([x86_bootstrap], env, bodies)
        invocations += len(bodies)
        if set(theirs[0]) != set(range(len(bodies))):
            sys.exit(f"arm64-check: bootstrap ({name}) on x86-64 answered {len(theirs[0])} "
                     f"of {len(bodies)} invocations; stderr: {theirs[2][-400:]!r}")
        for n in range(len(bodies)):
            got, want = ours[0].get(n), theirs[0][n]
            if got != want:
                event = events[n % len(events)][0].relative_to(ROOT)
                failures.append(f"bootstrap ({name}) invocation {n}, {event}:\n"
                                f"  arm64:  {str(got)[:400]}\n  x86-64: {str(want)[:400]}")
        if set(ours[0]) != set(theirs[0]):
            failures.append(f"bootstrap ({name}): arm64 posted to "
                            f"{sorted(set(ours[0]) - set(theirs[0]), key=str)} too")
        for stream, a, b in (("stdout", ours[1], theirs[1]), ("stderr", ours[2], theirs[2])):
            if normalized(a) != normalized(b):
                failures.append(first_difference(f"bootstrap ({name}) {stream}", normalized(a),
                                                 normalized(b)))
    return failures, invocations


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    setups = cases()
    failures, runs, predicted = check_invoke(sys.argv[1], sys.argv[2], setups)
    print(f"   {runs} events ({predicted} golden predictions), "
          f"{'identical' if not failures else f'{len(failures)} differences'}", flush=True)
    if len(sys.argv) == 5:
        more, invocations = check_bootstrap(sys.argv[3], sys.argv[4], setups)
        print(f"   {invocations} invocations in {len(setups)} processes per architecture, "
              f"{'identical' if not more else f'{len(more)} differences'}", flush=True)
        failures += more
    for failure in failures:
        print(f"arm64-check: {failure}", file=sys.stderr)
    if failures:
        sys.exit(f"arm64-check: the arm64 build differs from x86-64 ({len(failures)} differences)")
    print("arm64-check: identical output on arm64 and x86-64")


if __name__ == "__main__":
    main()
