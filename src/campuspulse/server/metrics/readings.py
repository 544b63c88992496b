"""Device readings read back from the time-series store, for the dashboard's timelines.

The collector writes readings as `equipment_reading` points; VictoriaMetrics keeps each field as the series
`equipment_reading_<field>`, which its export API returns with every sample. (InfluxDB 2/3 stores are read
through Grafana: `dashboards/`.)
"""

from collections import defaultdict

import httpx
import orjson

from campuspulse.telemetry.line_protocol import READING_MEASUREMENT


class ReadingsUnavailable(RuntimeError):
    """The time-series store could not be read; the message says where and why."""


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class ReadingsStore:
    """Readings of a VictoriaMetrics server (its base URL, e.g. `http://127.0.0.1:8428`)."""

    def __init__(self, url: str, timeout_s: float = 5) -> None:
        self.url, self.timeout_s = url.rstrip("/"), timeout_s

    def device_readings(
        self, school: str, device: str, from_ms: int, to_ms: int, max_points: int = 1000
    ) -> dict[str, list[tuple[int, float]]]:
        """field → [(ts_ms, value)] of one device over [from, to), averaged down to at most `max_points` each."""
        prefix = f"{READING_MEASUREMENT}_"
        match = (
            f'{{__name__=~"{prefix}.+",__name__!="{prefix}seq",school="{_label(school)}",device="{_label(device)}"}}'
        )
        params = {"match[]": match, "start": f"{from_ms / 1000:.3f}", "end": f"{(to_ms - 1) / 1000:.3f}"}
        try:
            r = httpx.get(f"{self.url}/api/v1/export", params=params, timeout=self.timeout_s)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise ReadingsUnavailable(f"the time-series store at {self.url} could not be read: {exc}") from None
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for line in r.content.splitlines():
            row = orjson.loads(line)
            field = str(row["metric"]["__name__"]).removeprefix(prefix)
            series[field] += [
                (t, v) for t, v in zip(row["timestamps"], row["values"], strict=True) if from_ms <= t < to_ms
            ]
        return {f: _thin(sorted(points), from_ms, to_ms, max_points) for f, points in sorted(series.items())}


def _thin(points: list[tuple[int, float]], from_ms: int, to_ms: int, n: int) -> list[tuple[int, float]]:
    """Mean per equal time bucket when there are more than `n` points."""
    if len(points) <= n:
        return points
    width = (to_ms - from_ms) / n
    buckets: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for t, v in points:
        buckets[int((t - from_ms) // width)].append((t, v))
    return [(sum(t for t, _ in b) // len(b), sum(v for _, v in b) / len(b)) for _, b in sorted(buckets.items())]
