"""A network camera: an RTSP/1.0 server answering OPTIONS and DESCRIBE (SDP), and an HTTP snapshot server;
`locked` cameras demand HTTP Digest (RFC 7616, MD5) as IP cameras do: RTSP without qop, HTTP with qop=auth."""

import base64
import hashlib
import http.server
import re
import socketserver
import threading
from dataclasses import dataclass

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=Lab camera\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"


@dataclass
class Camera:
    """What the camera does: `stream` (serve SDP with video), `no_stream` (404 on DESCRIBE), `locked` (the
    stream and the snapshot only for `user`/`password`, by Digest, or over HTTP by Basic if `http_basic`)."""

    mode: str = "stream"
    http_basic: bool = False
    user: str = "admin"
    password: str = "hik12345"
    realm: str = "IP Camera(C2179)"
    nonce: str = "3a8fb1d2e0c94f51"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_ok(cam: Camera, header: str | None, method: str) -> bool:
    """Whether an Authorization header is the right Digest answer for `cam` (computed here, independently)."""
    if not header or not header.startswith("Digest "):
        return False
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
    if p.get("username") != cam.user or p.get("nonce") != cam.nonce or p.get("realm") != cam.realm:
        return False
    ha1, ha2 = _md5(f"{cam.user}:{cam.realm}:{cam.password}"), _md5(f"{method}:{p.get('uri', '')}")
    if p.get("qop") == "auth":
        expected = _md5(f"{ha1}:{cam.nonce}:{p.get('nc')}:{p.get('cnonce')}:auth:{ha2}")
    else:
        expected = _md5(f"{ha1}:{cam.nonce}:{ha2}")
    return p.get("response") == expected


def _header(lines: list[str], name: str) -> str | None:
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith(name + ":")), None)


class CameraSimulator:
    """RTSP on one port, HTTP snapshots on another, both on 127.0.0.1."""

    def __init__(self, camera: Camera) -> None:
        cam = camera

        class Rtsp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        chunk = self.rfile.readline()
                        if not chunk:
                            return
                        head += chunk
                    lines = head.decode().split("\r\n")
                    method = lines[0].split(" ")[0]
                    cseq = next(ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("cseq"))
                    if method == "OPTIONS":
                        self.wfile.write(
                            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, "
                            "PLAY, TEARDOWN\r\n\r\n".encode()
                        )
                    elif cam.mode == "locked" and not digest_ok(cam, _header(lines, "authorization"), method):
                        challenge = f'WWW-Authenticate: Digest realm="{cam.realm}", nonce="{cam.nonce}", stale="FALSE"'
                        self.wfile.write(f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n{challenge}\r\n\r\n".encode())
                    elif cam.mode == "no_stream":
                        self.wfile.write(f"RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n".encode())
                    else:
                        self.wfile.write(
                            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                            f"Content-Length: {len(SDP)}\r\n\r\n{SDP}".encode()
                        )

        class Snapshot(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                given = self.headers.get("Authorization")
                basic = "Basic " + base64.b64encode(f"{cam.user}:{cam.password}".encode()).decode()
                allowed = given == basic if cam.http_basic else digest_ok(cam, given, "GET")
                if cam.mode == "locked" and not allowed:
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        f'Basic realm="{cam.realm}"'
                        if cam.http_basic
                        else f'Digest realm="{cam.realm}", qop="auth", nonce="{cam.nonce}", opaque="5ccc069c403ebaf9"',
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = JPEG if cam.mode in ("stream", "locked") else b"<html>no signal</html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html" if body[:2] != JPEG[:2] else "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.rtsp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Rtsp)
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Snapshot)
        for server in (self.rtsp, self.http):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.rtsp_port, self.http_port = self.rtsp.server_address[1], self.http.server_address[1]

    def stop(self) -> None:
        for server in (self.rtsp, self.http):
            server.shutdown()
            server.server_close()
