"""An SMTP server for Herald's peer tests, on aiosmtpd.

Three listeners share one handler: STARTTLS (required before AUTH) on --port, implicit TLS on
--implicit-port, and STARTTLS with AUTH LOGIN only on --login-port. The others offer AUTH PLAIN
and LOGIN, all for one fixed user. A fourth, on --pipelining-port, speaks plaintext without AUTH
and announces PIPELINING (RFC 2920), which aiosmtpd serves but does not announce itself.
Recipients whose local part is "nobody" are refused with 550 5.1.1; those whose local part is
"slow", or starts with "slow-", are accepted after a second, so that a test can keep a session
busy; for "slow-NAME" the server first writes --maildir/started-slow-NAME, so that the test
knows when the session is busy. Every message is written
to --maildir as NNNNNN.json with the envelope and the received bytes (after dot-unstuffing,
before any decoding), so that tests can compare them with what Herald rendered.
"""
import argparse
import asyncio
import base64
import itertools
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, maildir, counter, lock, offer_pipelining=False):
        self.maildir = maildir
        self.counter = counter
        self.lock = lock
        self.offer_pipelining = offer_pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With this hook aiosmtpd leaves the greeting's bookkeeping to the handler.
        session.host_name = hostname
        if self.offer_pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local_part = address.split("@")[0]
        if local_part == "nobody":
            return "550 5.1.1 no such user"
        if local_part == "slow" or local_part.startswith("slow-"):
            if local_part != "slow":
                open(os.path.join(self.maildir, "started-" + local_part), "w").close()
            await asyncio.sleep(1)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            number = next(self.counter)
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            # Tells tests which messages shared a connection.
            "peer_port": session.peer[1],
            # Whether more commands had come with the final dot: a client that pipelines the next
            # transaction behind this message (RFC 2920 §3.1) sends them in the same write.
            "followed_by_commands": len(server._reader._buffer) > 0,
            "data": base64.b64encode(envelope.original_content).decode(),
        }
        path = os.path.join(self.maildir, f"{number:06d}.json")
        with open(path + ".tmp", "w") as file:
            json.dump(record, file)
        os.rename(path + ".tmp", path)
        return f"250 2.0.0 Ok: queued as HERALD{number:06d}"


def authenticator(username, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd then sends the 235 or 535 reply itself.
        return AuthResult(success=ok, handled=False)

    return check


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--implicit-port", type=int, required=True)
    parser.add_argument("--login-port", type=int, required=True)
    parser.add_argument("--pipelining-port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    # One numbering for every listener, so that their files never collide.
    counter, lock = itertools.count(1), threading.Lock()
    handler = Recorder(args.maildir, counter, lock)
    common = dict(
        hostname="127.0.0.1",
        authenticator=authenticator(args.user, args.password),
        enable_SMTPUTF8=True,
        decode_data=False,
    )
    starttls = Controller(
        handler, port=args.port, tls_context=context, require_starttls=True, auth_require_tls=True, **common
    )
    # aiosmtpd only counts STARTTLS as TLS when it decides whether to offer AUTH; this listener
    # speaks TLS from the first byte, so the check is off.
    implicit = Controller(handler, port=args.implicit_port, ssl_context=context, auth_require_tls=False, **common)
    login_only = Controller(
        handler, port=args.login_port, tls_context=context, require_starttls=True, auth_require_tls=True,
        auth_exclude_mechanism=["PLAIN"], **common
    )
    pipelining = Controller(
        Recorder(args.maildir, counter, lock, offer_pipelining=True), port=args.pipelining_port,
        hostname="127.0.0.1", enable_SMTPUTF8=True, decode_data=False,
    )
    servers = [starttls, implicit, login_only, pipelining]
    for server in servers:
        server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main()
