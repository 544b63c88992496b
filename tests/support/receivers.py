"""Local receivers of notifications: an HTTP server that keeps every request (for robots and webhooks), and an
SMTP server with STARTTLS (aiosmtpd) that keeps every message."""

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from tests.support.mosquitto import free_port
from tests.support.tls import make_certs


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Where requests went, and what the receiver answers (`answer`: JSON body, `status`)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "code": 0})
    status: int = 200


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 that keeps every POST and answers `answer` with `status`."""
    port = free_port()
    got = HttpReceiver(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            got.requests.append(Received(parts.path, query, dict(self.headers), body))
            data = json.dumps(got.answer).encode()
            self.send_response(got.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    """The SMTP server's port, its CA, and the messages it took."""

    port: int
    ca: Path
    messages: list[Message] = field(default_factory=list)


@contextmanager
def smtp_receiver(directory: Path) -> Iterator[SmtpReceiver]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS (a throwaway CA) and keeps every message."""
    certs = make_certs(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    got = SmtpReceiver(free_port(), certs.ca)

    class Handler:
        async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
            got.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=got.port, tls_context=context, require_starttls=True)
    controller.start()
    try:
        yield got
    finally:
        controller.stop()
