"""The Grafana dashboards are what `dashboards/build.py` generates, and query only what the collector writes."""

import json
import re
from pathlib import Path

import pytest

from campuspulse.drivers.simulated import SimulatedDevice, SimulatedDeviceConfig
from campuspulse.telemetry import StatusPayload
from campuspulse.telemetry.line_protocol import reading_line, state_line, status_line
from campuspulse.telemetry.parsed import ParsedReading, ParsedState
from dashboards.build import DASHBOARDS, render

HERE = Path(__file__).parents[2] / "dashboards"
QUERY = re.compile(r'SELECT (?P<fields>.+?) FROM "(?P<measurement>\w+)"')
FIELD = re.compile(r'\w+\("(\w+)"\)')


def written_fields() -> dict[str, set[str]]:
    """Measurement → fields, from the collector's own encoder on records of a simulated device."""
    obs = SimulatedDevice(SimulatedDeviceConfig()).sample(1788739200000)
    lines = [
        state_line("s1", "a1", ParsedState(1, 1788739200000, "d1", "in_use", 180)),
        reading_line("s1", "a1", ParsedReading(2, 1788739200000, "d1", obs.values)),
        status_line(
            StatusPayload.model_validate(
                {
                    "v": 1,
                    "agent": "a1",
                    "school": "s1",
                    "online": True,
                    "ts": "2026-09-07T00:00:00Z",
                    "queue": {"records": 3},
                }
            )
        ),
    ]
    out: dict[str, set[str]] = {}
    for line in lines:
        head, fields, _ts = line.rsplit(" ", 2)
        out[head.split(",")[0]] = {f.split("=")[0] for f in fields.split(",")}
    return out


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_the_committed_json_is_what_the_code_generates(name):
    assert (HERE / name).read_text(encoding="utf-8") == render(DASHBOARDS[name]()), "run python -m dashboards.build"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_names_measurements_and_fields_the_collector_writes(name):
    board = json.loads((HERE / name).read_text(encoding="utf-8"))
    written = written_fields()
    queries = [t["query"] for p in board["panels"] for t in p.get("targets", [])]
    assert queries
    for q in queries:
        m = QUERY.search(q)
        assert m, q
        assert m["measurement"] in written, f"{name}: {m['measurement']} is not written by the collector"
        assert set(FIELD.findall(m["fields"])) <= written[m["measurement"]], f"{name}: {q}"
    for template in board["templating"]["list"]:
        assert re.search(r'FROM "(\w+)"', template["query"])[1] in written
