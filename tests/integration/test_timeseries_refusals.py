"""A line the time-series server refuses for good is set aside with the server's answer; it never blocks the spool.

No InfluxDB 2/3 server installs here, and VictoriaMetrics skips a line it cannot parse and answers 204; so a small
HTTP server stands in for InfluxDB's v2 write API, answering as InfluxDB does: 400 with a JSON error for a line it
cannot take, 503 while it is unavailable, 204 for the rest.
"""

import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from campuspulse.collector.timeseries import TimeSeriesSink
from tests.support.waiting import wait_until


class InfluxStandIn(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accepted: list[str] = []
        self.unavailable = 0  # answer 503 this many times first
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: InfluxStandIn

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.server.unavailable > 0:
            self.server.unavailable -= 1
            self._answer(503, {"code": "unavailable", "message": "try later"})
        elif "unparsable" in body:
            self._answer(400, {"code": "invalid", "message": "unable to parse 'unparsable': missing fields"})
        else:
            self.server.accepted.extend(body.splitlines())
            self._answer(204, None)

    def _answer(self, status: int, error: dict | None) -> None:
        data = json.dumps(error).encode() if error else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_refused_line_is_set_aside_and_the_lines_around_it_are_written(tmp_path):
    server = InfluxStandIn()
    server.unavailable = 2  # an outage first: retried, nothing set aside
    sink = TimeSeriesSink(server.url, "", "org", "bucket", tmp_path / "spool.db", batch_lines=100)
    good_before = [f"m,s=a v={i} {1_800_000_000_000 + i}" for i in range(3)]
    good_after = [f"m,s=a v={i} {1_800_000_001_000 + i}" for i in range(2)]
    sink.spool(good_before)
    sink.spool(["unparsable"])
    sink.spool(good_after)
    sink.start()
    try:
        wait_until(sink.drained, 60, "the spool drained")
        assert server.accepted == good_before + good_after
        c = sink.counters
        assert (c.lines_written, c.lines_set_aside, c.spool_lines) == (5, 1, 0)
    finally:
        sink.close()
        server.shutdown()
    (kept,) = sqlite3.connect(tmp_path / "spool.db").execute("SELECT body, reason FROM set_aside").fetchall()
    assert kept[0] == b"unparsable" and "400" in kept[1] and "unable to parse" in kept[1]
