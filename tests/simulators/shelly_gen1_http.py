"""A Shelly Gen1 device's HTTP API: `GET /status` answering a fixed body, behind Basic credentials if given."""

import base64
import http.server
import threading


class ShellyGen1Http:
    """Serves `status` on 127.0.0.1:<port>/status (`host` is that address) until `stop()`."""

    def __init__(self, status: bytes, credentials: tuple[str, str] | None = None) -> None:
        expected = "Basic " + base64.b64encode(":".join(credentials).encode()).decode() if credentials else None

        class Device(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if expected is not None and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="shelly"')
                    self.end_headers()
                    return
                body = status if self.path == "/status" else b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Device)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
