#!/usr/bin/env python3
"""A TCP proxy that breaks connections on purpose, for Herald's network fault tests.

It listens on a free loopback port, writes that port to --port-file, and forwards each
connection to --upstream, except that the first --faulty connections suffer --fault:

  latency:MS          every chunk, either way, waits MS milliseconds
  reset-on-connect    reset at once, before the client could send anything
  reset-in-body       reset after the request's body has begun (16 bytes of it went upstream)
  reset-after-body    the whole request goes upstream, then a reset before any reply to it
  silence             accept, read nothing, answer nothing, never close

A request's body starts after the HTTP head (--protocol http) or after the SMTP `DATA` command
(--protocol smtp); it ends after Content-Length bytes, or at the SMTP end-of-data line. A reset
is a close with SO_LINGER 0, which sends RST. With --heal-file, connections made once that file
exists pass untouched: the outage ends when the test says. Runs until killed.
"""

import argparse
import asyncio
import os
import socket
import struct
import sys

import port_file


def reset(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Request:
    """Finds where the client's first request's body begins and where it ends."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.seen = b""

    def body_start(self):
        marker = b"\r\n\r\n" if self.protocol == "http" else b"DATA\r\n"
        index = self.seen.find(marker)
        return None if index < 0 else index + len(marker)

    def end(self):
        start = self.body_start()
        if start is None:
            return None
        if self.protocol == "smtp":
            index = self.seen.find(b"\r\n.\r\n", start - 2)
            return None if index < 0 else index + 5
        length = 0
        for line in self.seen[:start].split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return start + length if len(self.seen) >= start + length else None


async def pipe(reader, writer, delay):
    try:
        while data := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer, options, counter):
    counter[0] += 1
    healed = options.heal_file is not None and os.path.exists(options.heal_file)
    fault = options.fault if counter[0] <= options.faulty and not healed else "none"
    if fault == "silence":
        await asyncio.Event().wait()
    if fault == "reset-on-connect":
        reset(client_writer)
        return
    host, port = options.upstream.rsplit(":", 1)
    upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
    delay = int(fault.split(":")[1]) / 1000 if fault.startswith("latency:") else 0
    replies = asyncio.ensure_future(pipe(upstream_reader, client_writer, delay))
    request = Request(options.protocol)
    sent = 0
    try:
        while data := await client_reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            request.seen += data
            cut = None
            if fault == "reset-in-body" and request.body_start() is not None:
                cut = request.body_start() + 16
            elif fault == "reset-after-body" and request.end() is not None:
                cut = request.end()
            if cut is not None and len(request.seen) >= cut:
                if fault == "reset-after-body":
                    # The reply must not reach the client: stop forwarding before the upstream can answer.
                    replies.cancel()
                upstream_writer.write(request.seen[sent:cut])
                await upstream_writer.drain()
                reset(client_writer)
                if fault == "reset-in-body":
                    reset(upstream_writer)
                return
            upstream_writer.write(data)
            sent += len(data)
            await upstream_writer.drain()
    except ConnectionError:
        pass
    upstream_writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="HOST:PORT")
    parser.add_argument("--fault", required=True)
    parser.add_argument("--protocol", choices=["http", "smtp"], default="http")
    parser.add_argument("--faulty", type=int, default=1_000_000, help="how many connections suffer the fault")
    parser.add_argument("--heal-file", help="once this file exists, no connection suffers the fault")
    parser.add_argument("--port-file", required=True, help="where to write the port, once listening")
    options = parser.parse_args()
    counter = [0]
    server = await asyncio.start_server(
        lambda reader, writer: handle(reader, writer, options, counter), "127.0.0.1", 0)
    port_file.announce(server.sockets[0].getsockname()[1], options.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
