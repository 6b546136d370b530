"""A local stand-in for Slack's Socket Mode endpoint: a minimal WebSocket server (RFC 6455) on loopback.

It accepts one client at a time, says `hello` as Slack does, sends the envelopes a test gives it, answers pings,
and records every JSON frame the client sends (the acknowledgements), so a test can drive `should-finetune socket`
end to end. Point the fake Web API's `apps.connections.open` at `url`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def _frame(opcode: int, payload: bytes) -> bytes:
    # Server-to-client frames are not masked.
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def _read_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("client closed the connection")
        data += chunk
    return data


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exact(conn, 2)
    opcode, size = first & 0x0F, second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", _read_exact(conn, 2))
    elif size == 127:
        (size,) = struct.unpack("!Q", _read_exact(conn, 8))
    mask = _read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(conn, size)))
    return opcode, payload


class FakeSocketMode:
    """The Socket Mode WebSocket endpoint; `received` holds every JSON message the client sent."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=fake"
        self.received: list[dict[str, Any]] = []
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.decode().split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        conn.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self._conn = conn
        self.send({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0FAKE"}})
        self._connected.set()
        try:
            while True:
                opcode, payload = _read_frame(conn)
                if opcode == _PING:
                    with self._lock:
                        conn.sendall(_frame(_PONG, payload))
                elif opcode == _TEXT:
                    self.received.append(json.loads(payload))
                elif opcode == _CLOSE:
                    return
        except (ConnectionError, OSError):
            return

    def wait_connected(self, timeout: float = 20) -> None:
        """Block until the bot has connected."""
        if not self._connected.wait(timeout):
            raise AssertionError("the bot did not connect over Socket Mode")

    def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message (an envelope) to the bot."""
        assert self._conn is not None
        with self._lock:
            self._conn.sendall(_frame(_TEXT, json.dumps(message).encode()))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        """The bot's acknowledgement of `envelope_id`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.received):
                if message.get("envelope_id") == envelope_id:
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no ack for {envelope_id}; received {self.received}")

    def close(self) -> None:
        """Stop listening and drop the connection."""
        self._listener.close()
        if self._conn is not None:
            self._conn.close()
