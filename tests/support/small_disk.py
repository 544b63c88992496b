"""A small tmpfs of its own (needs root, as on the CI machines), to fill up and free again: a real full disk."""

import contextlib
import subprocess
from pathlib import Path


class SmallDisk:
    """A tmpfs of `size_mb` mounted at `path`; `fill()` takes every free byte with a ballast file, `free()`
    deletes it."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path, self.size_mb = path, size_mb
        self.ballast = path / "ballast"

    def __enter__(self) -> "SmallDisk":
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"mounting a tmpfs at {self.path} needs root: {done.stderr.strip()}"
        return self

    def fill(self) -> int:
        """Write the ballast until the disk refuses even one more byte; the bytes written."""
        written = 0
        with self.ballast.open("ab", buffering=0) as f:
            for chunk in (b"\0" * 65536, b"\0"):
                with contextlib.suppress(OSError):
                    while n := f.write(chunk):
                        written += n
        return written

    def free(self) -> None:
        """Delete the ballast."""
        self.ballast.unlink(missing_ok=True)

    def __exit__(self, *_: object) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)
