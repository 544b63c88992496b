"""The benchmarks still run: a small smoke run of each prints its table (figures are not asserted)."""

import os
import subprocess
import sys

import pytest


@pytest.mark.mqtt
def test_collector_benchmark_smoke_run_prints_its_table():
    cmd = [sys.executable, "-m", "tests.bench.bench_collector", "--smoke"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "collector rec/s" in out.stdout and "ratio" in out.stdout


@pytest.mark.postgres
def test_metrics_benchmark_smoke_run_prints_its_table():
    cmd = [sys.executable, "-m", "tests.bench.bench_metrics", "--smoke"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "daily rollup of the same segments" in out.stdout and "scope=city" in out.stdout


@pytest.mark.mqtt
def test_agent_benchmark_smoke_run_prints_its_table():
    cmd = [sys.executable, "-m", "tests.bench.bench_agent", "--smoke"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "CPU, share of one core" in out.stdout and "bare paho publisher" in out.stdout
