"""The benchmarks still run: a small smoke run of each prints its table (figures are not asserted)."""

import os
import subprocess
import sys

import pytest

BENCHES = [
    pytest.param("bench_collector", ("collector rec/s", "ratio"), marks=pytest.mark.mqtt, id="collector"),
    pytest.param(
        "bench_metrics", ("daily rollup of the same segments", "scope=city"), marks=pytest.mark.postgres, id="metrics"
    ),
    pytest.param("bench_agent", ("CPU, share of one core", "bare paho publisher"), marks=pytest.mark.mqtt, id="agent"),
    pytest.param("bench_import", ("no import", "importing 2,000 lines", "failed ingest batches: 0"), id="import"),
]


@pytest.mark.parametrize(("module", "expected"), BENCHES)
def test_benchmark_smoke_run_prints_its_table(module: str, expected: tuple[str, ...]):
    cmd = [sys.executable, "-m", f"tests.bench.{module}", "--smoke"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert all(e in out.stdout for e in expected), out.stdout[-3000:]
