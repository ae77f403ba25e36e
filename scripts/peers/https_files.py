#!/usr/bin/env python3
"""Serves a directory over HTTPS on a free loopback port, for tests that need Herald to fetch
something from a TLS server it trusts through a CA file (an SNS signing certificate, an SNS
subscription confirmation).

Writes its port to --port-file and appends the path of every GET it answers, one a line, to
--requests (the test reads it to see that a confirmation was fetched). Runs until killed.
"""

import argparse
import http.server
import ssl
import sys

import port_file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--requests", required=True)
    arguments = parser.parse_args()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=arguments.directory, **kwargs)

        def do_GET(self):
            with open(arguments.requests, "a") as log:
                log.write(self.path + "\n")
            path = self.path.split("?", 1)[0]
            if path.startswith("/confirm"):
                body = b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(arguments.cert, arguments.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port_file.announce(server.server_address[1], arguments.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
