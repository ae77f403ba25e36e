"""What scripts/bench-webhooks.py and scripts/bench-full-store.py share: a free port, a `herald
serve` of the release build with a key of its own, requests over keep-alive connections, and wrk."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from http.client import HTTPConnection

# What both benchmarks' wrk runs take from the environment, as scripts/bench's own parts do.
ACCEPT_CONNECTIONS = int(os.environ.get("ACCEPT_CONNECTIONS", "64"))
ACCEPT_ROUNDS = int(os.environ.get("ACCEPT_ROUNDS", "3"))
BENCH_DURATION = int(os.environ.get("BENCH_DURATION", "15"))
BENCH_WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
# How long a node is left alone before its idle size is read.
IDLE_SETTLE_SECONDS = int(os.environ.get("IDLE_SETTLE_SECONDS", "12"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Herald:
    """One `herald serve` on a free port, with a key for the run: on DIR/herald.db, or on the
    PostgreSQL store at POSTGRES_URL."""

    def __init__(self, binary, directory, name, config, postgres_url=None):
        self.binary, self.directory, self.name = os.path.abspath(binary), directory, name
        self.config_file = os.path.join(directory, f"{name}.yaml")
        with open(self.config_file, "w") as file:
            file.write(f'store: {{postgres: {{url: "{postgres_url}"}}}}\n{config}' if postgres_url else config)
        self.database = os.path.join(directory, "herald.db")
        store = ["--config", self.config_file] if postgres_url else ["--database", self.database]
        if postgres_url:
            subprocess.run([self.binary, "migrate", *store], check=True, capture_output=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = subprocess.run(
            [self.binary, "keys", "create", "--scope", "operator", "--rate-per-second", "1000000", *store],
            check=True, capture_output=True, text=True).stdout.strip()
        self.log = open(os.path.join(directory, f"{name}.log"), "w")
        self.started = time.monotonic_ns()
        self.process = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             *([] if postgres_url else ["--database", self.database]), "--config", self.config_file, "--log-level", "warning"],
            cwd=directory, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"herald ({name}) did not start; see {self.log.name}")
                time.sleep(0.05)

    def request(self, method, path, body=None):
        request = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def accept(self, count, email):
        """Accepts COUNT emails, EMAIL(i) the i-th, in batches of 100 over four connections."""
        batches = [[email(i) for i in range(start, min(start + 100, count))] for start in range(0, count, 100)]
        bodies = [json.dumps({"emails": batch}).encode() for batch in batches]
        post(self.port, "/v1/emails/batch", bodies, clients=4, headers={"Authorization": f"Bearer {self.key}"},
             expected=202)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(timeout=30) != 0:
            raise SystemExit(f"herald ({self.name}) exited with {self.process.returncode}")
        self.log.close()


def post(port, path, bodies, clients, headers, expected):
    """POSTs BODIES over CLIENTS keep-alive connections; returns the seconds it took. Every
    answer must be EXPECTED."""
    failures = []
    queue = list(enumerate(bodies))
    lock = threading.Lock()

    def client():
        connection = HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue or failures:
                    break
                _, body = queue.pop()
            connection.request("POST", path, body=body[0] if isinstance(body, tuple) else body,
                               headers={**headers, **(body[1] if isinstance(body, tuple) else {}),
                                        "Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != expected:
                with lock:
                    failures.append(f"{response.status}: {answer[:200]!r}")
        connection.close()

    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if failures:
        raise SystemExit(f"POST {path}: {len(failures)} answers were not {expected}: {failures[:3]}")
    return elapsed


def wrk(url, key, lua, seconds, connections, body_file=None):
    """wrk with scripts/bench-load.lua against URL for SECONDS at CONNECTIONS: (accepted
    emails/s, p99 ms). BODY_FILE, when given, is the email it sends; any answer but 202 fails."""
    environment = {**os.environ, "BENCH_API_KEY": key}
    if body_file:
        environment["HERALD_BENCH_BODY_FILE"] = body_file
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua, url],
        env=environment, capture_output=True, text=True, check=True).stdout
    result = dict(re.findall(r"(\w+)=(\d+(?:\.\d+)?)", output.split("HERALD_RESULT", 1)[1]))
    if int(result["non202"]) + int(result["socket_errors"]) > 0:
        raise SystemExit(f"accept: requests failed: {output}")
    return float(result["rps"]), float(result["p99_us"]) / 1000
