"""Start and stop a real Mosquitto broker on a free loopback port."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """A mosquitto process with its own config, persistence and log in `workdir`."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "", conf: str | None = None) -> None:
        """`conf`: a whole config to run instead of the test default (its listener must use `port`)."""
        self.workdir, self.port, self.extra_conf, self.conf = workdir, port or free_port(), extra_conf, conf
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        default = (
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.workdir}/\nmax_inflight_messages 1000\nmax_queued_messages 100000\n"
        )
        conf.write_text(
            (self.conf if self.conf is not None else default)
            + f"\nlog_dest file {self.workdir}/mosquitto.log\n{self.extra_conf}"
            # as root, mosquitto would drop to a user that cannot write the test's directory
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
