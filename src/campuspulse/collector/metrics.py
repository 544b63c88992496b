"""Prometheus metrics of a collector, read from its counters at scrape time."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as _PromCollector

from campuspulse.collector.service import Collector


class _Exporter(_PromCollector):
    def __init__(self, collector: Collector) -> None:
        self.c = collector

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = self.c.counters
        yield CounterMetricFamily("campuspulse_collector_messages", "MQTT messages handled", value=c.messages)
        yield CounterMetricFamily("campuspulse_collector_batches", "store transactions committed", value=c.batches)
        records = CounterMetricFamily("campuspulse_collector_records", "records by outcome", labels=["outcome"])
        for outcome, value in (
            ("stored", c.records_stored),
            ("duplicate", c.duplicates),
            ("pending", c.pending),
            ("dead_letter", c.dead_letters),
            ("future_ts", c.future_records),
        ):
            records.add_metric([outcome], value)
        yield records
        yield CounterMetricFamily(
            "campuspulse_collector_write_failures", "batches the store refused", value=c.write_failures
        )
        yield CounterMetricFamily(
            "campuspulse_collector_seqs_lost", "seqs declared lost after the reorder window", value=c.seqs_lost
        )
        yield GaugeMetricFamily(
            "campuspulse_collector_lag_seconds", "now minus the newest record ts of the last batch", value=c.last_lag_s
        )
        yield GaugeMetricFamily(
            "campuspulse_collector_connected",
            "1 when subscribed to the broker",
            value=1.0 if self.c.connected.is_set() else 0.0,
        )
        if self.c.sink is not None:
            s = self.c.sink.counters
            ts = CounterMetricFamily("campuspulse_timeseries_lines", "time-series lines by outcome", labels=["outcome"])
            for outcome, value in (
                ("spooled", s.lines_spooled),
                ("written", s.lines_written),
                ("discarded", s.lines_discarded),
                ("set_aside", s.lines_set_aside),
            ):
                ts.add_metric([outcome], value)
            yield ts
            yield CounterMetricFamily(
                "campuspulse_timeseries_write_errors", "failed writes (retried)", value=s.write_errors
            )
            yield GaugeMetricFamily("campuspulse_timeseries_spool_lines", "lines waiting on disk", value=s.spool_lines)


def registry_for(collector: Collector) -> CollectorRegistry:
    """A registry exposing this collector's metrics: its counters, read at scrape time, and its histogram."""
    registry = CollectorRegistry()
    registry.register(_Exporter(collector))
    registry.register(collector.batch_seconds)
    return registry


def serve_metrics(collector: Collector, port: int, host: str = "127.0.0.1") -> None:
    """Serve `/metrics` for this collector on `host:port` (a background thread)."""
    start_http_server(port, addr=host, registry=registry_for(collector))
