"""A Lambda Runtime API stand-in on 127.0.0.1: serves events to one function process the way
Lambda does, and times each invocation from the event handed out to the response posted.

It implements the four calls runtime clients make (API version 2018-06-01):

    GET  /2018-06-01/runtime/invocation/next            the next event, with Lambda's headers
    POST /2018-06-01/runtime/invocation/{id}/response   the function's result
    POST /2018-06-01/runtime/invocation/{id}/error      an invocation error
    POST /2018-06-01/runtime/init/error                 a failure before the first /next

`Function` spawns the process with the environment Lambda sets (AWS_LAMBDA_RUNTIME_API pointing
here, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_REGION, _HANDLER,
LAMBDA_TASK_ROOT, ...), hands out one event at a time, and keeps every response body so the
caller can check it. An invocation's duration runs from the moment the last byte of the /next
response was handed to the kernel to the moment the last byte of the /response (or /error) body
was read: the client's read of the event, its parse, the handler and the post of the result, as
Lambda bills it. The cold start runs from the process spawn to the first response read. The peak
RSS is the process's VmHWM (/proc/PID/status), read before it is stopped.

Only the standard library: `python3 bench/runtime_api.py` runs `self_test`, a client written
here that checks the headers, an /error post, a chunked /response and the refusals.
"""

import dataclasses
import http.client
import http.server
import json
import os
import queue
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid

PREFIX = "/2018-06-01/runtime"
RESPONSE_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous response payload limit
REGION = "us-east-1"
ACCOUNT = "123456789012"
_INVOCATION = re.compile(rf"^{PREFIX}/invocation/([^/]+)/(response|error)$")


@dataclasses.dataclass
class Invocation:
    """One event served and what the function answered."""
    request_id: str
    event_bytes: int
    headers: dict  # the /next response's headers, as sent
    outcome: str  # "response" or "error"
    body: bytes  # the response (or error) body as posted
    error_header: str  # Lambda-Runtime-Function-Error-Type of an /error post ("" otherwise)
    seconds: float  # event handed out -> response posted
    done_at: float  # time.perf_counter() when the response was read

    def json(self):
        return json.loads(self.body)

    def error_type(self):
        """An /error's type: the body's errorType (both clients send one), else the header."""
        try:
            return self.json().get("errorType") or self.error_header
        except (ValueError, AttributeError):
            return self.error_header


class FunctionFailed(Exception):
    """The function exited, failed its init, or did not answer in time."""


@dataclasses.dataclass
class _Pending:
    event: bytes
    headers: dict
    handed_at: float = 0.0
    handed: threading.Event = dataclasses.field(default_factory=threading.Event)


class RuntimeApi:
    """The HTTP side: one event handed out at a time, results and init errors collected."""

    def __init__(self, function_name, timeout_s=60):
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.init_errors = []  # (error type, body) of /init/error posts
        self.refused = []  # (status, method, path) of requests answered with 4xx
        self._events = queue.Queue()  # bytes to hand out; None stops a waiting /next
        self._results = queue.Queue()
        self._pending = {}  # request id -> _Pending
        self._lock = threading.Lock()
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self):
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def offer(self, event):
        """Queues an event for the next GET /next."""
        self._events.put(event)

    def result(self, timeout):
        """The next invocation answered, or None after `timeout` seconds."""
        try:
            return self._results.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        self._events.put(None)
        self._server.shutdown()
        self._server.server_close()

    # Called from the server's threads.

    def next_headers(self):
        now_ms = int(time.time() * 1000)
        trace = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};" \
                f"Parent={secrets.token_hex(8)};Sampled=1"
        return {
            "Lambda-Runtime-Aws-Request-Id": str(uuid.uuid4()),
            "Lambda-Runtime-Deadline-Ms": str(now_ms + self.timeout_s * 1000),
            "Lambda-Runtime-Invoked-Function-Arn":
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}",
            "Lambda-Runtime-Trace-Id": trace,
            "Content-Type": "application/json",
        }

    def take_event(self):
        return self._events.get()

    def handing_out(self, request_id, event, headers):
        """Registers the invocation before its first byte goes out; see handed_out."""
        pending = _Pending(event, headers)
        with self._lock:
            self._pending[request_id] = pending
        return pending

    @staticmethod
    def handed_out(pending, at):
        # A fast client can answer (and `answered` pop the entry) before this runs.
        pending.handed_at = at
        pending.handed.set()

    def answered(self, request_id, outcome, body, error_header, done_at):
        """Records a /response or /error; False if the request id is not in flight."""
        with self._lock:
            pending = self._pending.pop(request_id, None)
        if pending is None:
            return False
        # The last byte can reach a fast client before sendall returns to the /next thread.
        pending.handed.wait()
        self._results.put(Invocation(
            request_id=request_id, event_bytes=len(pending.event), headers=pending.headers,
            outcome=outcome, body=body, error_header=error_header,
            seconds=max(0.0, done_at - pending.handed_at), done_at=done_at))
        return True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        # A stopped function drops its connections, sometimes with a reset: not a failure.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime clients expect
    api = None  # set per server

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes; with Nagle's algorithm the second would
        # wait for the client's delayed ACK (up to 40 ms) and be timed as the function's.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def do_GET(self):
        if self.path != f"{PREFIX}/invocation/next":
            return self._refuse(404, "UnknownPath", f"no such path: GET {self.path}")
        event = self.api.take_event()
        if event is None:  # the stand-in is closing; the process is already stopped
            self.close_connection = True
            return
        headers = self.api.next_headers()
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        pending = self.api.handing_out(request_id, event, headers)
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)  # unbuffered: returns once the kernel has every byte
        self.api.handed_out(pending, time.perf_counter())

    def do_POST(self):
        body = self._body()
        done_at = time.perf_counter()
        if self.path == f"{PREFIX}/init/error":
            self.api.init_errors.append(
                (self.headers.get("Lambda-Runtime-Function-Error-Type", ""), body))
            return self._reply(202, {"status": "OK"})
        match = _INVOCATION.match(self.path)
        if not match:
            return self._refuse(404, "UnknownPath", f"no such path: POST {self.path}")
        request_id, kind = match.groups()
        if kind == "response" and len(body) > RESPONSE_LIMIT:
            return self._refuse(413, "RequestEntityTooLarge",
                                f"response of {len(body)} bytes exceeds {RESPONSE_LIMIT}")
        error_header = self.headers.get("Lambda-Runtime-Function-Error-Type", "") \
            if kind == "error" else ""
        if not self.api.answered(request_id, kind, body, error_header, done_at):
            return self._refuse(400, "InvalidRequestID",
                                f"request id {request_id} is not in flight")
        self._reply(202, {"status": "OK"})

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _refuse(self, status, error_type, message):
        self.api.refused.append((status, self.command, self.path))
        self._reply(status, {"errorType": error_type, "errorMessage": message})

    def _reply(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def lambda_environment(api, handler, task_root, memory_mb=128, execution_env=None):
    """The variables Lambda sets in a function's process (no credentials: the bench's functions
    write to stdout and touch no AWS service)."""
    name = api.function_name
    env = {
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        # As the SAM template deploys it: LoggingConfig LogFormat JSON, ApplicationLogLevel INFO.
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(task_root),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
    if execution_env:
        env["AWS_EXECUTION_ENV"] = execution_env
    return env


class Function:
    """One function process served by its own RuntimeApi. Use as a context manager."""

    def __init__(self, name, timeout_s=60):
        self.api = RuntimeApi(name, timeout_s)
        self.process = None
        self.spawned_at = None
        self.invocations = []

    def start(self, argv, env, cwd, stdout):
        """Spawns argv; `env` is added to lambda_environment's variables by the caller."""
        self.spawned_at = time.perf_counter()
        self.process = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdout=stdout,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def invoke(self, event):
        """Serves `event` (bytes) and waits for the function's answer."""
        self.api.offer(event)
        limit = time.perf_counter() + self.api.timeout_s + 10
        while True:
            found = self.api.result(timeout=0.02)
            if found:
                self.invocations.append(found)
                return found
            if self.api.init_errors:
                error_type, body = self.api.init_errors[0]
                raise FunctionFailed(f"{self.api.function_name}: init error {error_type}: "
                                     f"{body[:2000].decode(errors='replace')}")
            if self.process is not None and self.process.poll() is not None:
                raise FunctionFailed(f"{self.api.function_name}: the process exited "
                                     f"({self.process.returncode}) before answering")
            if time.perf_counter() > limit:
                raise FunctionFailed(f"{self.api.function_name}: no answer within "
                                     f"{self.api.timeout_s + 10} s")

    def cold_start(self):
        """Seconds from the spawn to the first response posted."""
        return self.invocations[0].done_at - self.spawned_at

    def peak_rss_mb(self):
        """The process's peak resident set (VmHWM), while it still runs."""
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise FunctionFailed(f"no VmHWM in /proc/{self.process.pid}/status")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as Lambda ends an environment: the runtime gets no say
            self.process.wait()
        self.api.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------------------------


def self_test():
    """Plays a runtime client against a RuntimeApi and checks what a real client relies on."""
    api = RuntimeApi("self-test", timeout_s=60)
    function = Function.__new__(Function)
    function.api, function.process, function.invocations = api, None, []
    host, port = api.address.split(":")
    client = http.client.HTTPConnection(host, int(port), timeout=10)  # one kept-alive connection
    answers = []

    def runtime():
        for step in ("error", "chunked", "plain"):
            client.request("GET", f"{PREFIX}/invocation/next")
            r = client.getresponse()
            body = r.read()
            answers.append((r.status, dict(r.getheaders()), body))
            rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
            if step == "error":
                client.request("POST", f"{PREFIX}/invocation/{rid}/error",
                               body=b'{"errorType":"Boom","errorMessage":"no"}',
                               headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Boom"})
            elif step == "chunked":
                client.putrequest("POST", f"{PREFIX}/invocation/{rid}/response")
                client.putheader("Transfer-Encoding", "chunked")
                client.endheaders()
                for chunk in (b'{"batchItemFailures"', b':[]}'):
                    client.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                client.send(b"0\r\n\r\n")
            else:
                client.request("POST", f"{PREFIX}/invocation/{rid}/response", body=body)
            posted = client.getresponse()
            answers.append((posted.status, {}, posted.read()))
            client.request("POST", f"{PREFIX}/invocation/{rid}/response", body=b"{}")
            again = client.getresponse()  # the same id twice: no longer in flight
            answers.append((again.status, {}, again.read()))

    thread = threading.Thread(target=runtime, daemon=True)
    thread.start()
    try:
        error = function.invoke(b'{"Records":[]}')
        chunked = function.invoke(b'{"Records":[1]}')
        plain = function.invoke(b'{"Records":[2]}')
        thread.join(10)
        status, headers, body = answers[0]
        assert status == 200 and body == b'{"Records":[]}', answers[0]
        assert headers["Content-Type"] == "application/json", headers
        assert headers["Lambda-Runtime-Aws-Request-Id"] == error.request_id, headers
        assert uuid.UUID(error.request_id), error
        assert int(headers["Lambda-Runtime-Deadline-Ms"]) > time.time() * 1000 + 50_000, headers
        assert headers["Lambda-Runtime-Invoked-Function-Arn"] == \
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:self-test", headers
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1",
                            headers["Lambda-Runtime-Trace-Id"]), headers
        assert error.outcome == "error" and error.error_header == "Runtime.Boom", error
        assert error.error_type() == "Boom", error
        assert chunked.outcome == "response" and chunked.json() == {"batchItemFailures": []}, \
            chunked
        assert plain.outcome == "response" and plain.body == b'{"Records":[2]}', plain
        assert len({error.request_id, chunked.request_id, plain.request_id}) == 3
        assert all(i.seconds >= 0 for i in (error, chunked, plain))
        assert [a[0] for a in answers] == [200, 202, 400] * 3, answers
        assert [r[0] for r in api.refused] == [400, 400, 400], api.refused

        client.request("POST", f"{PREFIX}/init/error", body=b'{"errorType":"Init"}',
                       headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Init"})
        assert client.getresponse().read() == b'{"status": "OK"}'
        try:
            function.invoke(b"{}")
            raise AssertionError("an init error must fail the invocation")
        except FunctionFailed as failed:
            assert "init error Runtime.Init" in str(failed), failed
        client.request("GET", "/2018-06-01/runtime/invocation/nope")
        assert client.getresponse().status == 404
    finally:
        client.close()
        api.close()
    print("runtime_api: self-test passed (headers, /error, chunked /response, refusals, "
          "init error)")


if __name__ == "__main__":
    self_test()
