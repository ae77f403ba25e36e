#!/usr/bin/env python3
"""Receives Herald's webhooks for the tests and verifies each with the `standardwebhooks`
package from PyPI, a verifier Herald did not write.

Listens on a free loopback port (written to --port-file). Every POST is verified with the
secret in --secret-file, read at each request (the test writes it once Herald made it),
appended to --log as a JSON line {id, timestamp, signature, body, verified, status}, and
answered with the next of --answers, a comma-separated list, then 200 for the rest:

  STATUS        that status (500, 410, ...)
  STATUS+S      that status with Retry-After: S
  slow+S        200 after S seconds
  drop          the connection closed without an answer

A request that fails verification is logged with verified false and answered 400. Runs until
killed.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

import port_file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--answers", default="")
    parser.add_argument("--port-file", required=True)
    arguments = parser.parse_args()
    answers = [a for a in arguments.answers.split(",") if a]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                with open(arguments.secret_file) as secret:
                    Webhook(secret.read().strip()).verify(body, headers)
                verified = True
            except Exception:
                verified = False
            with lock:
                answer = (answers.pop(0) if answers else "200") if verified else "400"
                status = 0 if answer == "drop" else 200 if answer.startswith("slow") else int(answer.split("+")[0])
                with open(arguments.log, "a") as log:
                    log.write(json.dumps({
                        "id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp"),
                        "signature": headers.get("webhook-signature"), "body": body.decode("utf-8", "replace"),
                        "verified": verified, "status": status}) + "\n")
            if answer == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if answer.startswith("slow+"):
                time.sleep(float(answer.split("+")[1]))
            self.send_response(status)
            if "+" in answer and not answer.startswith("slow"):
                self.send_header("Retry-After", answer.split("+")[1])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file.announce(server.server_address[1], arguments.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
