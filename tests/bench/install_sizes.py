"""What each role's install weighs: the packages `pip install 'campuspulse[<extra>]'` brings, and their size on disk.

The dependency closure of each extra is resolved from the metadata of the packages installed here (the versions
that constraints.txt pins), and each package's size is that of its installed files. Run:
`.venv/bin/python -m tests.bench.install_sizes`.
"""

from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROLES = ("agent", "agent-uvloop", "collector", "server", "demo", "all")


def closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Canonical names of `name` and every distribution it needs with `extras`, on this platform."""
    seen: dict[str, set[str]] = {}
    todo = [(canonicalize_name(name), set(extras))]
    while todo:
        dist, wanted = todo.pop()
        if dist in seen and wanted <= seen[dist]:
            continue
        seen[dist] = seen.get(dist, set()) | wanted
        for line in metadata.requires(dist) or []:
            req = Requirement(line)
            env = default_environment()
            applies = req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in [*seen[dist], ""])
            if applies:
                todo.append((canonicalize_name(req.name), set(req.extras)))
    return set(seen)


def size_of(dist: str) -> int:
    """Bytes of a distribution's installed files."""
    total = 0
    for f in metadata.distribution(dist).files or []:
        path = Path(str(f.locate()))
        if path.is_file():
            total += path.stat().st_size
    return total


def install_sizes() -> dict[str, tuple[int, int]]:
    """Per role: (packages, bytes) of its install, campuspulse itself included."""
    out = {}
    for role in ROLES:
        dists = closure("campuspulse", frozenset({role}))
        out[role] = (len(dists), sum(size_of(d) for d in dists))
    return out


def main() -> None:
    """Print the table."""
    sizes = install_sizes()
    print(f"{'install':<26} {'packages':>8} {'MB':>8} {'of all':>7}")
    for role, (n, size) in sizes.items():
        print(f"campuspulse[{role}]".ljust(26), f"{n:>8} {size / 1e6:>8.1f} {size / sizes['all'][1]:>7.0%}")


if __name__ == "__main__":
    main()
