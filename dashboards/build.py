"""Grafana dashboards for the time-series store, generated from code so they stay consistent.

Queries are InfluxQL over the contract's mapping (`equipment_state`, `equipment_reading`, `agent_status`),
which InfluxDB 1.8, 2.x (with a DBRP mapping) and 3.x answer. Regenerate after a change:

    python -m dashboards.build        # writes dashboards/*.json
"""

import json
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, StateTimeline, Template, Templating, TimeSeries
from grafanalib.influxdb import InfluxDBTarget

from campuspulse.telemetry.line_protocol import READING_MEASUREMENT, STATE_MEASUREMENT, STATUS_MEASUREMENT

HERE = Path(__file__).parent
DATASOURCE = "campuspulse-influxdb"
SCHOOL = '"school" =~ /^$school$/'
DEVICE = '"device" =~ /^$device$/'


def _q(query: str, legend: str = "", ref: str = "A") -> InfluxDBTarget:
    return InfluxDBTarget(query=query, alias=legend, refId=ref, rawQuery=True, datasource=DATASOURCE)


def _panel(kind: type, title: str, grid: tuple[int, int, int, int], legend: str, query: str, **extra: str) -> object:
    """A panel of one InfluxQL query; `grid` is (h, w, x, y)."""
    h, w, x, y = grid
    return kind(
        title=title, dataSource=DATASOURCE, gridPos=GridPos(h=h, w=w, x=x, y=y), targets=[_q(query, legend)], **extra
    )


def _templates(with_device: bool) -> Templating:
    items = [
        Template(
            name="school",
            label="school",
            dataSource=DATASOURCE,
            includeAll=True,
            multi=True,
            query=f'SHOW TAG VALUES FROM "{STATE_MEASUREMENT}" WITH KEY = "school"',
        )
    ]
    if with_device:
        items.append(
            Template(
                name="device",
                label="device",
                dataSource=DATASOURCE,
                includeAll=True,
                multi=True,
                query=f'SHOW TAG VALUES FROM "{STATE_MEASUREMENT}" WITH KEY = "device" WHERE {SCHOOL}',
            )
        )
    return Templating(list=items)


def equipment() -> Dashboard:
    """Device power and state over time, and the in-use share per school."""
    return Dashboard(
        title="campuspulse — equipment",
        uid="campuspulse-equipment",
        tags=["campuspulse"],
        timezone="browser",
        templating=_templates(with_device=True),
        panels=[
            _panel(
                StateTimeline,
                "Device state (in use / idle / off / fault; gaps are unknown)",
                (10, 24, 0, 0),
                "$tag_device",
                f'SELECT last("state") FROM "{STATE_MEASUREMENT}" WHERE {SCHOOL} AND {DEVICE} '
                'AND $timeFilter GROUP BY time($__interval), "device" fill(null)',
            ),
            _panel(
                TimeSeries,
                "Power (W)",
                (9, 24, 0, 10),
                "$tag_device",
                f'SELECT mean("power_w") FROM "{READING_MEASUREMENT}" WHERE {SCHOOL} AND {DEVICE} '
                'AND $timeFilter GROUP BY time($__interval), "device" fill(none)',
                unit="watt",
            ),
            _panel(
                TimeSeries,
                "Share of reported time in use, per school",
                (9, 24, 0, 19),
                "$tag_school",
                f'SELECT mean("in_use") FROM "{STATE_MEASUREMENT}" WHERE {SCHOOL} '
                'AND $timeFilter GROUP BY time(1h), "school" fill(none)',
                unit="percentunit",
            ),
        ],
    ).auto_panel_ids()


def agents() -> Dashboard:
    """Agent health (online, last heard) and ingest rates."""
    return Dashboard(
        title="campuspulse — agents and ingest",
        uid="campuspulse-agents",
        tags=["campuspulse"],
        timezone="browser",
        templating=_templates(with_device=False),
        panels=[
            _panel(
                StateTimeline,
                "Agents online",
                (10, 24, 0, 0),
                "$tag_agent",
                f'SELECT last("online") FROM "{STATUS_MEASUREMENT}" WHERE {SCHOOL} '
                'AND $timeFilter GROUP BY time($__interval), "agent" fill(previous)',
            ),
            _panel(
                TimeSeries,
                "State records per minute, per agent",
                (9, 12, 0, 10),
                "$tag_agent",
                f'SELECT count("seq") FROM "{STATE_MEASUREMENT}" WHERE {SCHOOL} '
                'AND $timeFilter GROUP BY time(1m), "agent" fill(0)',
            ),
            _panel(
                TimeSeries,
                "Readings per minute, per agent",
                (9, 12, 12, 10),
                "$tag_agent",
                f'SELECT count("seq") FROM "{READING_MEASUREMENT}" WHERE {SCHOOL} '
                'AND $timeFilter GROUP BY time(1m), "agent" fill(0)',
            ),
            _panel(
                TimeSeries,
                "Records queued at each agent (from its periodic status)",
                (9, 24, 0, 19),
                "$tag_agent",
                f'SELECT last("queue_records") FROM "{STATUS_MEASUREMENT}" WHERE {SCHOOL} '
                'AND $timeFilter GROUP BY time($__interval), "agent" fill(previous)',
            ),
            _panel(
                TimeSeries,
                "Observations held in memory at each agent (its queue's disk refuses writes when above 0)",
                (9, 24, 0, 28),
                "$tag_agent",
                f'SELECT last("queue_held") FROM "{STATUS_MEASUREMENT}" WHERE {SCHOOL} '
                'AND $timeFilter GROUP BY time($__interval), "agent" fill(previous)',
            ),
        ],
    ).auto_panel_ids()


DASHBOARDS = {"equipment.json": equipment, "agents.json": agents}


def render(build: object) -> str:
    """A dashboard as Grafana JSON text."""
    return json.dumps(build.to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"  # type: ignore[attr-defined]


def main() -> None:
    """Write every dashboard next to this file."""
    for name, make in DASHBOARDS.items():
        (HERE / name).write_text(render(make()), encoding="utf-8")
        print(f"wrote dashboards/{name}")


if __name__ == "__main__":
    main()
