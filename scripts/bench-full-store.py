#!/usr/bin/env python3
"""Part 8 of scripts/bench: the console, the API and the stores with a million emails in them.

    bench-full-store.py --herald BIN --workdir DIR --lua FILE --psql BIN --postgres-port PORT

Fills a SQLite store as an installation fills it: CONSOLE_EMAILS (1,000,000) emails of 2,048
bytes of JSON each accepted through POST /v1/emails/batch on a node that does not deliver, then
sent by a delivering node with a zero-latency sandbox provider until none waits (so each has its
attempt, its events and its recipients). On that node, signed in with an operator key, it then
times CONSOLE_REQUESTS (1,000) requests of each page after 100 unmeasured ones, one at a time
over one keep-alive connection: the overview, the email list, and the page of an email picked at
random each time. The time is the client's, on loopback: the server's time plus a loopback round
trip. It also weighs each page: its HTML plus the style sheet and the script it loads.

Then, for SQLite and for PostgreSQL (the same million copied in with `herald migrate-store`, on
the server scripts/bench started): bytes on disk per email; `GET /v1/emails/{id}`, the first page
of `GET /v1/emails` and `GET /metrics` timed as the pages; how long a new node takes until
/readyz answers 200; a backlog of BACKLOG_EMAILS (100,000) small emails delivered by a node with
the store full and with a new, empty store; and wrk at ACCEPT_CONNECTIONS (64) for BENCH_DURATION
(15 s, after BENCH_WARMUP) on an accept-only node, on an empty and on the full store in
alternating rounds (ACCEPT_ROUNDS, 3 each, each empty round on a new store). Before each measured step on
PostgreSQL, a CHECKPOINT, so that no step inherits the one the steps before it (the copy above
all) made due.

Prints one JSON object. A request answered other than 200 (202 for accepts) makes it exit
non-zero.
"""

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from http.client import HTTPConnection

from bench_support import ACCEPT_CONNECTIONS, ACCEPT_ROUNDS, BENCH_DURATION, BENCH_WARMUP, IDLE_SETTLE_SECONDS, Herald, wrk

CONSOLE_EMAILS = int(os.environ.get("CONSOLE_EMAILS", "1000000"))
CONSOLE_REQUESTS = int(os.environ.get("CONSOLE_REQUESTS", "1000"))
BACKLOG_EMAILS = int(os.environ.get("BACKLOG_EMAILS", "100000"))
DISPATCH_CONCURRENCY = int(os.environ.get("DISPATCH_CONCURRENCY", "64"))
PG_DISPATCH_CONCURRENCY = int(os.environ.get("PG_DISPATCH_CONCURRENCY", "512"))
EMAIL_BYTES = 2048
WARMUP_REQUESTS = 100
PROVIDERS = "providers: [{name: primary, type: sandbox}]\n"


def log(message):
    print(f"==> full store: {message}", file=sys.stderr, flush=True)


WORDS = ("order receipt thank you for your purchase we have shipped the parcel to the address you gave "
         "tracking number delivery within two working days invoice attached questions reply to this message "
         "our support team will help account settings unsubscribe privacy policy warehouse item quantity price").split()


def email_fields(index, text):
    return {"from": "Ada <ada@example.org>", "to": [f"reader{index % 50_000:05}@example.com"],
            "subject": f"Receipt {index:07}", "text": text, "tags": ["receipt" if index % 2 else "welcome"]}


def fill_texts(count=1000):
    """COUNT texts of random words that make an email of the fill EMAIL_BYTES of JSON (its other
    fields are of one length for every index): prose compresses about as much as real text,
    where a repeated line would let PostgreSQL's compression flatter it."""
    generator = random.Random(19)
    # The words need no escaping in JSON: every character of the text is one byte of the email.
    length = EMAIL_BYTES - len(json.dumps(email_fields(0, "")))
    return [" ".join(generator.choice(WORDS) for _ in range(length // 3))[:length] for _ in range(count)]


FILL_TEXTS = fill_texts()


def email(index):
    """The INDEX-th email of the fill: EMAIL_BYTES of JSON, most of it its text."""
    return email_fields(index, FILL_TEXTS[index % len(FILL_TEXTS)])


def small_email(index):
    return {"from": "Ada <ada@example.org>", "to": [f"reader{index % 50_000}@example.com"], "subject": f"Receipt {index}",
            "text": "Thank you for your order.", "tags": ["receipt"]}


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


class Store:
    """Where nodes keep their data: a SQLite file in DIRECTORY, or the PostgreSQL database NAME."""

    def __init__(self, binary, directory, postgres=None, name=None):
        self.binary, self.directory, self.postgres, self.name = binary, directory, postgres, name
        os.makedirs(directory, exist_ok=True)
        if postgres:
            postgres.sql("postgres", f"CREATE DATABASE {name}")
            self.url = f"postgres://postgres@127.0.0.1:{postgres.port}/{name}?sslmode=disable"

    def node(self, name, config):
        return Herald(self.binary, self.directory, name, config, postgres_url=self.postgres and self.url)

    @property
    def dispatch_concurrency(self):
        """As scripts/bench delivers on each store (docs/deployment.md says why PostgreSQL wants more)."""
        return PG_DISPATCH_CONCURRENCY if self.postgres else DISPATCH_CONCURRENCY

    def settle(self):
        """Writes PostgreSQL's dirty pages out now (CHECKPOINT), so that the next measurement starts
        as clean as the one it is compared with; nothing to do for SQLite, whose write-ahead log a
        stopped node has checkpointed."""
        if self.postgres:
            self.postgres.sql(self.name, "CHECKPOINT")

    def query(self, sql):
        """The first column of the first row of SQL."""
        if self.postgres:
            return self.postgres.sql(self.name, sql)
        with sqlite3.connect(os.path.join(self.directory, "herald.db"), timeout=30) as database:
            return database.execute(sql).fetchone()[0]

    def size(self):
        """Bytes on disk: the database file (its write-ahead log checkpointed into it, as a stopped
        node leaves it), or PostgreSQL's database size."""
        if self.postgres:
            return int(self.query(f"SELECT pg_database_size('{self.name}')"))
        return os.path.getsize(os.path.join(self.directory, "herald.db"))


class Postgres:
    """The server scripts/bench started, through psql."""

    def __init__(self, psql, port):
        self.psql, self.port = psql, port

    def sql(self, database, statement):
        return subprocess.run(
            [self.psql, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-c", statement], check=True, capture_output=True, text=True).stdout.strip()


def deliver_backlog(store):
    """Accepts BACKLOG_EMAILS small emails on a node that does not deliver, then times a delivering
    node from its launch to the last email it recorded sent: emails/s."""
    accepting = store.node("backlog-accept", f"dispatch: {{enabled: false}}\n{PROVIDERS}")
    accepting.accept(BACKLOG_EMAILS, small_email)
    accepting.stop()
    store.settle()
    delivering = store.node("backlog-deliver", f"dispatch: {{concurrency: {store.dispatch_concurrency}}}\n{PROVIDERS}")
    # The clock starts at the process's launch, after its key was made, as the dispatch part's does.
    launched_ms = int(time.time() * 1000 - (time.monotonic_ns() - delivering.started) / 1e6)
    deadline = time.monotonic() + 1800
    while int(store.query("SELECT count(*) FROM emails WHERE status IN ('queued', 'sending')")) > 0:
        if time.monotonic() > deadline:
            raise SystemExit("full store: a backlog still waits after 30 minutes")
        time.sleep(0.25)
    last_ms = int(store.query(f"SELECT max(updated_at) FROM emails WHERE status = 'sent' AND updated_at >= {launched_ms}"))
    delivering.stop()
    return round(BACKLOG_EMAILS / ((last_ms - launched_ms) / 1000))


def accept_rate(store, lua):
    """wrk at ACCEPT_CONNECTIONS on an accept-only node of STORE: (emails/s, p99 ms)."""
    store.settle()
    node = store.node("accept", f"dispatch: {{enabled: false}}\n{PROVIDERS}")
    wrk(node.url, node.key, lua, BENCH_WARMUP, ACCEPT_CONNECTIONS)
    result = wrk(node.url, node.key, lua, BENCH_DURATION, ACCEPT_CONNECTIONS)
    node.stop()
    return result


def reads(herald, ids):
    """`GET /v1/emails/{id}` (a random email each time), the first page of the list, and the
    metrics scrape, CONSOLE_REQUESTS each."""
    api = Session(herald, console=False)
    count = WARMUP_REQUESTS + CONSOLE_REQUESTS
    requests = {
        "email": [f"/v1/emails/{random.choice(ids)}" for _ in range(count)],
        "list": ["/v1/emails?limit=50"] * count,
        "metrics": ["/metrics"] * count,
    }
    results = {}
    for name, paths in requests.items():
        log(f"timing {CONSOLE_REQUESTS:,} requests of {paths[0].split('?')[0]}")
        results[name] = summary(timings(api, paths))
    api.connection.close()
    return results


def flat_cost(full, new_store, lua):
    """What the full store costs against an empty one: a backlog's delivery and accepts."""
    log(f"delivering {BACKLOG_EMAILS:,} emails on an empty store and on the full one")
    dispatch = {"empty": deliver_backlog(new_store("backlog")), "full": deliver_backlog(full)}
    accepts = {"empty": [], "full": []}
    for round_number in range(ACCEPT_ROUNDS):
        for kind in ("empty", "full"):
            rate, p99 = accept_rate(new_store(f"accept{round_number}") if kind == "empty" else full, lua)
            log(f"accept on the {kind} store, round {round_number + 1}: {rate:.0f}/s, p99 {p99:.2f} ms")
            accepts[kind].append({"per_second": round(rate), "p99_ms": round(p99, 2)})
    rates = {kind: statistics.mean(a["per_second"] for a in rounds) for kind, rounds in accepts.items()}
    p99s = {kind: statistics.mean(a["p99_ms"] for a in rounds) for kind, rounds in accepts.items()}
    # Positive when the full store is worse: fewer emails/s, a longer p99.
    return {"dispatch": dispatch, "dispatch_loss_percent": round(100 * (1 - dispatch["full"] / dispatch["empty"]), 1),
            "accept": accepts, "accept_rates": {kind: [a["per_second"] for a in rounds] for kind, rounds in accepts.items()},
            "accept_per_second": {kind: round(rate) for kind, rate in rates.items()},
            "accept_p99_ms": {kind: round(p99, 2) for kind, p99 in p99s.items()},
            "accept_loss_percent": round(100 * (1 - rates["full"] / rates["empty"]), 1),
            "p99_growth_percent": round(100 * (p99s["full"] / p99s["empty"] - 1), 1)}


def restart_seconds(store):
    node = store.node("restart", f"dispatch: {{concurrency: 256}}\n{PROVIDERS}")
    seconds = seconds_to_ready(node)
    node.stop()
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--herald", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--lua", required=True)
    parser.add_argument("--psql", help="psql of the PostgreSQL server at --postgres-port; without both, SQLite only")
    parser.add_argument("--postgres-port")
    options = parser.parse_args()
    directory = os.path.join(options.workdir, "sqlite-full")
    os.makedirs(directory)
    herald, fill_seconds = fill(options.herald, directory)
    with sqlite3.connect(herald.database) as database:
        stored = database.execute("SELECT count(*) FROM emails").fetchone()[0]
        sent = database.execute("SELECT count(*) FROM emails WHERE status = 'sent'").fetchone()[0]
        ids = [row[0] for row in database.execute("SELECT id FROM emails ORDER BY random() LIMIT 5000")]
    if sent != CONSOLE_EMAILS:
        raise SystemExit(f"full store: {sent:,} of {CONSOLE_EMAILS:,} emails were sent")
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
    sqlite_reads = reads(herald, ids)
    time.sleep(IDLE_SETTLE_SECONDS)
    idle_megabytes = resident_megabytes(herald)
    herald.stop()

    sqlite = Store(options.herald, directory)
    sqlite_bytes = sqlite.size()
    stores = {"sqlite": {"bytes_per_email": round(sqlite_bytes / stored), "reads": sqlite_reads}}
    full = {"sqlite": sqlite}
    postgres = Postgres(options.psql, options.postgres_port) if options.psql and options.postgres_port else None
    if postgres:
        full["postgres"] = Store(options.herald, os.path.join(options.workdir, "postgres-full"), postgres, "herald_full")
        log(f"copying the {stored:,} emails into PostgreSQL with herald migrate-store")
        started = time.monotonic()
        subprocess.run(
            [options.herald, "migrate-store", "--from", f"sqlite:{herald.database}", "--to", f"postgres:{full['postgres'].url}"],
            check=True, capture_output=True)
        copy_seconds = round(time.monotonic() - started)
        postgres.sql("herald_full", "VACUUM ANALYZE")
        stores["postgres"] = {"bytes_per_email": round(full["postgres"].size() / stored), "copy_seconds": copy_seconds}
        node = full["postgres"].node("reads", f"dispatch: {{concurrency: 256}}\n{PROVIDERS}")
        stores["postgres"]["reads"] = reads(node, ids)
        node.stop()
    for kind, store in full.items():
        log(f"{kind}: restarting on the full store")
        stores[kind]["seconds_to_ready"] = restart_seconds(store)

        def new_store(name, kind=kind):
            return Store(options.herald, os.path.join(options.workdir, f"{kind}-{name}"), postgres if kind == "postgres" else None,
                         f"herald_{name}")
        stores[kind].update(flat_cost(store, new_store, options.lua))
    json.dump({"emails": stored, "email_bytes": EMAIL_BYTES, "database_megabytes": round(sqlite_bytes / 1e6),
               "fill": fill_seconds, "pages": results, "weights": weights, "resident_megabytes_idle": idle_megabytes,
               "stores": stores}, sys.stdout)


if __name__ == "__main__":
    main()
