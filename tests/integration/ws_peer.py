#!/usr/bin/python3
"""WebSocket peers for the integration tests, on Debian's python3-websockets (a real RFC 6455
implementation, not ours).

  ws_peer.py server [CERT KEY]      echo server on 127.0.0.1 (over TLS with CERT and KEY), prints
                                    "listening on 127.0.0.1:PORT"; "bye" makes it close (1000,
                                    "bye"); path /refuse answers 403
  ws_peer.py echo URL [H: v]        text, 1 MiB binary and 100 KiB text echoed, then a clean close
  ws_peer.py server-close URL       sends "bye", expects the server's close
  ws_peer.py wait-close URL SECS    connects, stays silent, reports when the connection ends
  ws_peer.py chat URL SECS          one message every 100 ms for SECS, reports when it ended
  ws_peer.py status URL [H: v]      the handshake's status (101, or the refusal's)

Client modes print one JSON line with what happened. A wss:// URL is not verified (the tests'
listeners have self-signed certificates).
"""
import asyncio
import http
import json
import os
import ssl
import sys
import time

import websockets

# The legacy asyncio API has the same names from websockets 10 (Debian 12) to 14 (Debian 13).
try:
    from websockets.legacy.client import connect
    from websockets.legacy.server import serve as ws_serve
except ImportError:  # pragma: no cover
    from websockets import connect, serve as ws_serve


def tls_for(url):
    """wss:// to the test's self-signed listener: encrypted, not verified."""
    if not url.startswith("wss://"):
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def headers_from(args):
    headers = {}
    for arg in args:
        name, _, value = arg.partition(":")
        headers[name.strip()] = value.strip()
    return headers


async def serve(cert=None, key=None):
    async def handler(ws, path=None):
        try:
            async for message in ws:
                if message == "bye":
                    await ws.close(1000, "bye")
                    return
                await ws.send(message)
        except websockets.exceptions.ConnectionClosed:
            pass

    async def process_request(path, headers):
        if path.startswith("/refuse"):
            return (http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"no websocket here\n")
        return None

    tls = None
    if cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    async with ws_serve(handler, "127.0.0.1", 0, max_size=None, process_request=process_request, ssl=tls) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Future()


async def echo(url, headers):
    async with connect(url, max_size=None, extra_headers=headers, ssl=tls_for(url)) as ws:
        big = os.urandom(1 << 20)
        text = "x" * 100_000
        sent = ["hello", big, text]
        for message in sent:
            await ws.send(message)
        got = [await ws.recv() for _ in sent]
        same = got == sent
    return {"echoed": same, "close_code": ws.close_code, "subprotocol": ws.subprotocol}


async def server_close(url):
    async with connect(url) as ws:
        await ws.send("bye")
        try:
            await ws.recv()
            return {"closed": False}
        except websockets.exceptions.ConnectionClosed as e:
            return {"closed": True, "code": e.code, "reason": e.reason}


async def wait_close(url, seconds):
    start = time.monotonic()
    async with connect(url, ping_interval=None) as ws:
        try:
            await asyncio.wait_for(ws.recv(), timeout=seconds)
            return {"closed": False, "message": True}
        except asyncio.TimeoutError:
            return {"closed": False}
        except websockets.exceptions.ConnectionClosed as e:
            return {"closed": True, "code": e.code, "after_ms": int((time.monotonic() - start) * 1000)}


async def chat(url, seconds):
    start = time.monotonic()
    echoed = 0
    try:
        async with connect(url, ping_interval=None) as ws:
            while time.monotonic() - start < seconds:
                await ws.send(f"m{echoed}")
                if await ws.recv() != f"m{echoed}":
                    return {"closed": False, "wrong_echo": True}
                echoed += 1
                await asyncio.sleep(0.1)
        return {"closed": False, "echoed": echoed}
    except websockets.exceptions.ConnectionClosed as e:
        return {"closed": True, "code": e.code, "echoed": echoed, "after_ms": int((time.monotonic() - start) * 1000)}


async def status(url, headers):
    try:
        async with connect(url, extra_headers=headers) as ws:
            await ws.send("ping")
            return {"status": 101, "echo": await ws.recv()}
    except websockets.exceptions.InvalidStatusCode as e:
        return {"status": e.status_code}


def main():
    mode = sys.argv[1]
    if mode == "server":
        asyncio.run(serve(*sys.argv[2:4]))
        return
    url = sys.argv[2]
    if mode == "echo":
        result = asyncio.run(echo(url, headers_from(sys.argv[3:])))
    elif mode == "server-close":
        result = asyncio.run(server_close(url))
    elif mode == "wait-close":
        result = asyncio.run(wait_close(url, float(sys.argv[3])))
    elif mode == "chat":
        result = asyncio.run(chat(url, float(sys.argv[3])))
    elif mode == "status":
        result = asyncio.run(status(url, headers_from(sys.argv[3:])))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
