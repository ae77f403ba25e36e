#!/usr/bin/env python3
"""Part 8 of scripts/bench: the console's budgets with a million emails in the store.

    bench-console.py --herald BIN --workdir DIR

Fills a SQLite store as an installation fills it: CONSOLE_EMAILS (1,000,000) emails accepted
through POST /v1/emails/batch on a node that does not deliver, then sent by a delivering node
with a zero-latency sandbox provider until none waits (so each has its attempt, its events and
its recipients). On that node, signed in with an operator key, it then times CONSOLE_REQUESTS
(1,000) requests of each page after 100 unmeasured ones, one at a time over one keep-alive
connection: the overview, the email list, and the page of an email picked at random each time.
The time is the client's, on loopback: the server's time plus a loopback round trip. It also
weighs each page: its HTML plus the style sheet and the script it loads. Then, the same way,
`GET /v1/emails/{id}`, the first page of `GET /v1/emails` and `GET /metrics`; the node's
resident memory, idle; and, after it stops, how long a new node on the store takes to be ready.

Prints one JSON object. A request answered other than 200 makes it exit non-zero.
"""

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import time
import urllib.parse
from http.client import HTTPConnection

from bench_support import Herald

CONSOLE_EMAILS = int(os.environ.get("CONSOLE_EMAILS", "1000000"))
CONSOLE_REQUESTS = int(os.environ.get("CONSOLE_REQUESTS", "1000"))
WARMUP_REQUESTS = 100
PROVIDERS = "providers: [{name: primary, type: sandbox}]\n"


def log(message):
    print(f"==> console: {message}", file=sys.stderr, flush=True)


def email(index):
    return {"from": "Ada <ada@example.org>", "to": [f"reader{index % 50_000}@example.com"], "subject": f"Receipt {index}",
            "text": "Thank you for your order.", "tags": ["receipt" if index % 2 else "welcome"]}


def fill(binary, directory):
    """Accepts CONSOLE_EMAILS emails, then delivers them all; returns the delivering node and
    the seconds each step took."""
    accepting = Herald(binary, directory, "accept", f"dispatch: {{enabled: false}}\n{PROVIDERS}")
    log(f"accepting {CONSOLE_EMAILS:,} emails")
    started = time.monotonic()
    accepting.accept(CONSOLE_EMAILS, email)
    accept_seconds = time.monotonic() - started
    log(f"accepted in {accept_seconds:.0f} s")
    accepting.stop()
    delivering = Herald(binary, directory, "deliver", f"dispatch: {{concurrency: 256}}\n{PROVIDERS}")
    started = time.monotonic()
    with sqlite3.connect(delivering.database) as database:
        while True:
            waiting = database.execute("SELECT count(*) FROM emails WHERE status IN ('queued', 'sending')").fetchone()[0]
            if waiting == 0:
                break
            if time.monotonic() - started > 1800:
                raise SystemExit(f"console: {waiting:,} emails still wait after 30 minutes")
            time.sleep(2)
    deliver_seconds = time.monotonic() - started
    log(f"delivered in {deliver_seconds:.0f} s")
    return delivering, {"accept_seconds": round(accept_seconds), "deliver_seconds": round(deliver_seconds)}


class Session:
    """One keep-alive connection: signed in to the console, or sending the API key."""

    def __init__(self, herald, console=True):
        self.connection = HTTPConnection("127.0.0.1", herald.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {herald.key}"}
        if not console:
            return
        body = urllib.parse.urlencode({"key": herald.key})
        self.connection.request("POST", "/console/sign-in", body=body,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = self.connection.getresponse()
        response.read()
        cookie = response.getheader("Set-Cookie") or ""
        if response.status != 303 or not cookie.startswith("herald_console="):
            raise SystemExit(f"console: sign-in answered {response.status}")
        self.headers = {"Cookie": cookie.split(";")[0]}

    def get(self, path):
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"console: GET {path} answered {response.status}")
        return body


def resident_megabytes(herald):
    """The process's resident memory, from /proc."""
    with open(f"/proc/{herald.process.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return round(int(line.split()[1]) / 1024)


def seconds_to_ready(herald):
    """From the process's start until /readyz answers 200."""
    while True:
        try:
            with urllib.request.urlopen(herald.url + "/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return round((time.monotonic_ns() - herald.started) / 1e9, 2)
        except OSError:
            pass
        time.sleep(0.01)


def timings(session, paths):
    """Milliseconds of each request after the first WARMUP_REQUESTS, one path per request."""
    milliseconds = []
    for index, path in enumerate(paths):
        started = time.perf_counter_ns()
        session.get(path)
        if index >= WARMUP_REQUESTS:
            milliseconds.append((time.perf_counter_ns() - started) / 1e6)
    return milliseconds


def summary(milliseconds):
    ordered = sorted(milliseconds)
    return {"requests": len(ordered), "p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2), "max_ms": round(ordered[-1], 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--herald", required=True)
    parser.add_argument("--workdir", required=True)
    options = parser.parse_args()
    directory = os.path.join(options.workdir, "console")
    os.makedirs(directory)
    herald, fill_seconds = fill(options.herald, directory)
    with sqlite3.connect(herald.database) as database:
        stored = database.execute("SELECT count(*) FROM emails").fetchone()[0]
        sent = database.execute("SELECT count(*) FROM emails WHERE status = 'sent'").fetchone()[0]
        ids = [row[0] for row in database.execute("SELECT id FROM emails ORDER BY random() LIMIT 5000")]
    size = os.path.getsize(herald.database)
    session = Session(herald)
    count = WARMUP_REQUESTS + CONSOLE_REQUESTS
    pages = {
        "overview": ["/console"] * count,
        "emails": ["/console/emails"] * count,
        "email": [f"/console/emails/{random.choice(ids)}" for _ in range(count)],
    }
    results = {}
    for name, paths in pages.items():
        log(f"timing {CONSOLE_REQUESTS:,} requests of the {name} page")
        results[name] = summary(timings(session, paths))
    # The weight of each page as a browser loads it: its HTML, and the style sheet and script
    # it links (the only other files a page loads).
    weights = {}
    for name, paths in pages.items():
        html = session.get(paths[0])
        assets = re.findall(rb'(?:href|src)="(/console/[^"]+\.(?:css|js))"', html)
        weights[name] = {"html": len(html), "assets": sum(len(session.get(asset.decode())) for asset in set(assets))}
        weights[name]["total"] = weights[name]["html"] + weights[name]["assets"]
    session.connection.close()

    # The same store through the API, the metrics scrape, memory and a restart (issue 19's
    # "cost stays flat" figures, SQLite).
    api = Session(herald, console=False)
    requests = {
        "email": [f"/v1/emails/{random.choice(ids)}" for _ in range(count)],
        "list": ["/v1/emails?limit=50"] * count,
        "metrics": ["/metrics"] * count,
    }
    for name, paths in requests.items():
        log(f"timing {CONSOLE_REQUESTS:,} requests of {paths[0].split('?')[0]}")
        results[f"api_{name}"] = summary(timings(api, paths))
    api.connection.close()
    idle_megabytes = resident_megabytes(herald)
    herald.stop()
    log("restarting on the full store")
    restarted = Herald(options.herald, directory, "restart", f"dispatch: {{concurrency: 256}}\n{PROVIDERS}")
    ready_seconds = seconds_to_ready(restarted)
    restarted.stop()
    if sent != CONSOLE_EMAILS:
        raise SystemExit(f"console: {sent:,} of {CONSOLE_EMAILS:,} emails were sent")
    json.dump({"emails": stored, "database_megabytes": round(size / 1e6), "bytes_per_email": round(size / stored),
               "fill": fill_seconds, "pages": results, "weights": weights, "resident_megabytes_idle": idle_megabytes,
               "seconds_to_ready": ready_seconds}, sys.stdout)


if __name__ == "__main__":
    main()
