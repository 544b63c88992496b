"""A socat pseudo-terminal pair standing in for a serial cable: the driver on one end, a simulator on the other."""

import shutil
import subprocess
import time
from pathlib import Path


class PtyPair:
    """`device` is the path the driver opens, `far` the path the simulator opens."""

    def __init__(self, workdir: Path) -> None:
        self.device, self.far = str(workdir / "ttyDEV"), str(workdir / "ttySIM")
        self.proc: subprocess.Popen[bytes] | None = None

    def plug(self) -> None:
        exe = shutil.which("socat") or "/usr/bin/socat"
        self.proc = subprocess.Popen(
            [exe, f"pty,raw,echo=0,link={self.device}", f"pty,raw,echo=0,link={self.far}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not (Path(self.device).exists() and Path(self.far).exists()):
            if time.monotonic() > deadline:
                raise RuntimeError("socat did not create the pty pair within 5 s")
            time.sleep(0.02)

    def unplug(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None
        deadline = time.monotonic() + 5
        while (Path(self.device).exists() or Path(self.far).exists()) and time.monotonic() < deadline:
            time.sleep(0.02)
