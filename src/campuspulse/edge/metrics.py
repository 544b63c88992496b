"""Prometheus metrics of an agent: queue depth, age and size, readings discarded, publishing, driver errors."""

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as _PromCollector

from campuspulse.edge.agent import EdgeAgent
from campuspulse.telemetry import parse_ts


class _Exporter(_PromCollector):
    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        a, p = self.agent, self.agent.publisher
        yield GaugeMetricFamily("campuspulse_agent_queue_records", "records waiting for the broker", value=len(a.queue))
        oldest = a.queue.oldest_ts()
        age = max(0.0, time.time() - parse_ts(oldest) / 1000) if oldest else 0.0
        yield GaugeMetricFamily("campuspulse_agent_queue_oldest_seconds", "age of the oldest queued record", value=age)
        yield CounterMetricFamily(
            "campuspulse_agent_published_records", "records acknowledged by the broker", value=p.published_records
        )
        yield CounterMetricFamily(
            "campuspulse_agent_published_batches", "messages acknowledged by the broker", value=p.published_batches
        )
        yield GaugeMetricFamily(
            "campuspulse_agent_queue_bytes", "bytes the queue holds on disk", value=a.queue.used_bytes()
        )
        yield CounterMetricFamily(
            "campuspulse_agent_dropped_readings",
            "readings discarded at the queue's disk bound (announced as dropped)",
            value=a.queue.dropped_records,
        )
        yield GaugeMetricFamily(
            "campuspulse_agent_queue_write_failures",
            "consecutive failed queue commits (a full or failing disk); 0 when writable",
            value=a.queue_write_errors,
        )
        yield GaugeMetricFamily(
            "campuspulse_agent_held_records", "observations waiting in memory for the queue", value=a.held_records
        )
        yield CounterMetricFamily(
            "campuspulse_agent_shed_readings",
            "readings never queued because the queue's disk stayed unwritable",
            value=a.readings_shed,
        )
        yield GaugeMetricFamily(
            "campuspulse_agent_connected", "1 while connected to the broker", value=1.0 if p.connected.is_set() else 0.0
        )
        errors = CounterMetricFamily("campuspulse_agent_driver_errors", "failed device reads", labels=["device"])
        for dev, _driver, _monitor in a.devices:
            errors.add_metric([dev.id], a.device_errors.get(dev.id, 0))
        yield errors


def registry_for(agent: EdgeAgent) -> CollectorRegistry:
    """A registry exposing this agent's metrics."""
    registry = CollectorRegistry()
    registry.register(_Exporter(agent))
    return registry


def serve_metrics(agent: EdgeAgent, port: int, host: str = "127.0.0.1") -> None:
    """Serve `/metrics` for this agent on `host:port` (a background thread)."""
    start_http_server(port, addr=host, registry=registry_for(agent))
