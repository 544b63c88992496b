"""A PostgreSQL server of the test's own (initdb in a temp directory, a free port), so that it can be crashed."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.mosquitto import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian: apt install postgresql)")
    return found[-1]


class PrivatePostgres:
    """initdb, start, crash (`pg_ctl stop -m immediate`: no shutdown checkpoint) and start again."""

    def __init__(self) -> None:
        # its own directory in /tmp: the postgres user cannot reach into root's pytest directories
        self.root = Path(tempfile.mkdtemp(prefix="campuspulse-pg-"))
        self.data, self.port = self.root / "pgdata", free_port()
        self.data.mkdir()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.data, "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as_postgres, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data} -c fsync=on"
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.data / "log"), "-w", "start")
        deadline = time.monotonic() + 20
        while (
            subprocess.run(
                [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the private PostgreSQL did not start")
            time.sleep(0.2)

    def crash(self) -> None:
        """Stop at once, as a power cut would: no checkpoint, clients see their connections die."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        """Stop and remove the server's files."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
