#!/usr/bin/env python3
"""Part 7 of scripts/bench: provider events in, webhooks out, and what webhooks cost an accept.

    bench-webhooks.py --herald BIN --workdir DIR --wrk-lua FILE

Runs the release `herald` against SQLite and prints one JSON object with three results:

- events: SendGrid event batches of EVENT_BATCH (1,000) "delivered" events, each signed with
  ECDSA P-256 as SendGrid signs them (a key made for the run), posted by EVENT_CLIENTS (4)
  keep-alive connections to POST /events/sendgrid on an accept-only node. Each event names an
  email stored before the clock starts (EVENT_EMAILS, 100,000), by its `herald_id`. Every batch
  must be answered 200, and every event be stored.
- webhooks: WEBHOOK_MESSAGES (20,000) emails accepted for later (`send_at` a day ahead) on a
  node that does not deliver, with an endpoint for `email.queued`; then a delivering node on the
  same database posts every message to nginx (a real HTTP server answering 204 on loopback).
  The rate counts from the start of that node to the last delivery Herald recorded.
- accept: wrk at ACCEPT_CONNECTIONS (64) for BENCH_DURATION (15 s) POSTing emails for later, on a
  delivering node, without an endpoint and with one for every event type (each accept writes a
  webhook message in its transaction, which the node delivers meanwhile), in alternating rounds
  (ACCEPT_ROUNDS, 3 each); the cost is the difference of the medians. Each round with webhooks
  also reports the webhooks delivered while wrk ran, the backlog at its end, and the seconds
  the node took to deliver that backlog afterwards.

Nothing here is a test: it prints what it measured. A failed request or a lost event makes it
exit non-zero.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench_support import ACCEPT_CONNECTIONS, ACCEPT_ROUNDS, BENCH_DURATION, BENCH_WARMUP, Herald, free_port, post, wrk

EVENT_EMAILS = int(os.environ.get("EVENT_EMAILS", "100000"))
EVENT_BATCH = int(os.environ.get("EVENT_BATCH", "1000"))
EVENT_CLIENTS = int(os.environ.get("EVENT_CLIENTS", "4"))
WEBHOOK_MESSAGES = int(os.environ.get("WEBHOOK_MESSAGES", "20000"))
WEBHOOK_CONCURRENCY = int(os.environ.get("WEBHOOK_CONCURRENCY", "64"))


def log(message):
    print(f"==> webhooks: {message}", file=sys.stderr, flush=True)


def later_email(index=0):
    """An email due a day from now, so that a delivering node leaves it alone."""
    send_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    return {"from": "Ada <ada@example.org>", "to": [f"bob{index}@example.com"], "subject": "Hello", "text": "Hello Bob",
            "send_at": send_at}


def bench_events(binary, workdir):
    directory = os.path.join(workdir, "events")
    os.makedirs(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    herald = Herald(binary, directory, "events", f"""
dispatch: {{enabled: false}}
providers:
  - {{name: sendgrid, type: sendgrid, api_key: SG.bench, events: {{public_key: "{public}"}}}}
""")
    log(f"storing {EVENT_EMAILS} emails")
    herald.accept(EVENT_EMAILS, later_email)
    with sqlite3.connect(herald.database) as database:
        ids = [row[0] for row in database.execute("SELECT id FROM emails")]
    if len(ids) != EVENT_EMAILS:
        raise SystemExit(f"events: {len(ids)} emails stored of {EVENT_EMAILS}")

    log(f"signing {len(ids) // EVENT_BATCH} batches of {EVENT_BATCH} events")
    bodies = []
    now = int(time.time())
    for start in range(0, len(ids), EVENT_BATCH):
        events = [{"email": "bob@example.com", "timestamp": now, "event": "delivered", "sg_event_id": str(uuid.uuid4()),
                   "sg_message_id": f"sg-{email_id}.filter0001", "herald_id": email_id, "response": "250 OK"}
                  for email_id in ids[start:start + EVENT_BATCH]]
        payload = json.dumps(events).encode()
        timestamp = str(int(time.time()))
        signature = key.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
        bodies.append((payload, {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                                 "X-Twilio-Email-Event-Webhook-Timestamp": timestamp}))

    log(f"posting {len(ids)} events over {EVENT_CLIENTS} connections")
    seconds = post(herald.port, "/events/sendgrid", bodies, clients=EVENT_CLIENTS, headers={}, expected=200)
    with sqlite3.connect(herald.database) as database:
        stored = database.execute("SELECT count(*) FROM provider_events").fetchone()[0]
    herald.stop()
    if stored != len(ids):
        raise SystemExit(f"events: {stored} stored of {len(ids)} posted")
    return {"events": len(ids), "batch": EVENT_BATCH, "clients": EVENT_CLIENTS, "seconds": round(seconds, 2),
            "per_second": round(len(ids) / seconds)}


class Nginx:
    """nginx on a free loopback port, answering every request 204 without logging it."""

    def __init__(self, workdir):
        self.directory = os.path.join(workdir, "nginx")
        os.makedirs(self.directory)
        self.port = free_port()
        config = os.path.join(self.directory, "nginx.conf")
        with open(config, "w") as file:
            file.write(f"""
worker_processes 1;
daemon off;
pid {self.directory}/nginx.pid;
error_log {self.directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.directory}/body;
    proxy_temp_path {self.directory}/proxy;
    fastcgi_temp_path {self.directory}/fastcgi;
    uwsgi_temp_path {self.directory}/uwsgi;
    scgi_temp_path {self.directory}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ return 204; }}
    }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-c", config, "-p", self.directory], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("nginx did not start")
                time.sleep(0.05)

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=10)


def delivering_config(concurrency=WEBHOOK_CONCURRENCY):
    return f"""
providers: [{{name: sandbox, type: sandbox}}]
webhooks: {{allow_private_targets: true, concurrency: {concurrency}}}
"""


def bench_webhooks(binary, workdir, nginx):
    directory = os.path.join(workdir, "webhooks")
    os.makedirs(directory)
    herald = Herald(binary, directory, "webhooks-load", delivering_config() + "dispatch: {enabled: false}\n")
    herald.request("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{nginx.port}/hooks", "events": ["email.queued"]})
    log(f"writing {WEBHOOK_MESSAGES} webhook messages")
    herald.accept(WEBHOOK_MESSAGES, later_email)
    herald.stop()

    log(f"delivering {WEBHOOK_MESSAGES} webhooks (concurrency {WEBHOOK_CONCURRENCY})")
    start_wall_ms = time.time() * 1000
    herald = Herald(binary, directory, "webhooks-run", delivering_config())
    deadline = time.monotonic() + 300
    with sqlite3.connect(herald.database, timeout=5) as database:
        while True:
            delivered, first, last = database.execute(
                "SELECT count(*), min(at), max(at) FROM webhook_attempts WHERE outcome = 'delivered'").fetchone()
            if delivered >= WEBHOOK_MESSAGES or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        failed = database.execute("SELECT count(*) FROM webhook_attempts WHERE outcome <> 'delivered'").fetchone()[0]
    herald.stop()
    if delivered != WEBHOOK_MESSAGES:
        raise SystemExit(f"webhooks: {delivered} delivered of {WEBHOOK_MESSAGES}")
    seconds = (last - start_wall_ms) / 1000
    steady = (delivered - 1) / ((last - first) / 1000)
    return {"messages": delivered, "failed_tries": failed, "concurrency": WEBHOOK_CONCURRENCY, "seconds": round(seconds, 2),
            "per_second": round(delivered / seconds), "steady_per_second": round(steady)}


def bench_accept(binary, workdir, nginx, lua):
    body_file = os.path.join(workdir, "later-email.json")
    with open(body_file, "w") as file:
        json.dump(later_email(), file)
    rounds = {"without": [], "with": []}
    p99 = {"without": [], "with": []}
    drains = []
    for round_number in range(ACCEPT_ROUNDS):
        for kind in ("without", "with"):
            directory = os.path.join(workdir, f"accept-{kind}-{round_number}")
            os.makedirs(directory)
            herald = Herald(binary, directory, f"accept-{kind}", delivering_config())
            if kind == "with":
                herald.request("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{nginx.port}/hooks", "events": []})
            started = time.monotonic()
            wrk(herald.url, herald.key, lua, BENCH_WARMUP, ACCEPT_CONNECTIONS, body_file)
            rps, latency = wrk(herald.url, herald.key, lua, BENCH_DURATION, ACCEPT_CONNECTIONS, body_file)
            log(f"accept {kind} webhooks, round {round_number + 1}: {rps:.0f}/s, p99 {latency:.2f} ms")
            rounds[kind].append(rps)
            p99[kind].append(latency)
            if kind == "with":
                drains.append(drain(herald, started))
            herald.stop()
    without, with_webhooks = statistics.median(rounds["without"]), statistics.median(rounds["with"])
    return {"connections": ACCEPT_CONNECTIONS, "rounds": ACCEPT_ROUNDS, "without": round(without), "with": round(with_webhooks),
            "without_all": [round(r) for r in rounds["without"]], "with_all": [round(r) for r in rounds["with"]],
            "p99_without_ms": round(statistics.median(p99["without"]), 2), "p99_with_ms": round(statistics.median(p99["with"]), 2),
            "loss_percent": round((without - with_webhooks) / without * 100, 1),
            "delivered_during": [d["delivered_during"] for d in drains], "backlog": [d["backlog"] for d in drains],
            "drain_seconds": [d["drain_seconds"] for d in drains]}


def drain(herald, started):
    """What webhooks did while wrk ran (warm-up included): delivered meanwhile, left waiting at its end, and how
    long the node took to deliver that backlog once the load stopped."""
    with sqlite3.connect(herald.database, timeout=5) as database:
        def counts():
            return database.execute(
                "SELECT (SELECT count(*) FROM webhook_attempts WHERE outcome = 'delivered'),"
                " (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')").fetchone()
        delivered, backlog = counts()
        stopped = time.monotonic()
        deadline = stopped + 600
        pending = backlog
        while pending > 0 and time.monotonic() < deadline:
            time.sleep(0.25)
            pending = counts()[1]
    if pending > 0:
        raise SystemExit(f"accept: {pending} webhooks still waiting 600 s after the load stopped")
    seconds = time.monotonic() - stopped
    log(f"webhooks delivered meanwhile {delivered} ({delivered / (stopped - started):.0f}/s over warm-up and run),"
        f" backlog {backlog} delivered in {seconds:.1f} s")
    return {"delivered_during": delivered, "backlog": backlog, "drain_seconds": round(seconds, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--herald", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--wrk-lua", required=True)
    arguments = parser.parse_args()
    if shutil.which("nginx") is None:
        raise SystemExit("nginx is not installed")
    arguments.herald = os.path.abspath(arguments.herald)
    results = {"events": bench_events(arguments.herald, arguments.workdir)}
    nginx = Nginx(arguments.workdir)
    try:
        results["webhooks"] = bench_webhooks(arguments.herald, arguments.workdir, nginx)
        results["accept"] = bench_accept(arguments.herald, arguments.workdir, nginx, arguments.wrk_lua)
    finally:
        nginx.stop()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
