"""The Prometheus alerting rules of the pipeline: valid for promtool, firing when they should on series promtool
plays through them, and naming only metrics the collector and the agent really expose."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client import generate_latest

from campuspulse.collector.metrics import registry_for as collector_registry
from campuspulse.collector.service import Collector
from campuspulse.collector.timeseries import TimeSeriesSink
from campuspulse.edge.agent import EdgeAgent
from campuspulse.edge.metrics import registry_for as agent_registry
from campuspulse.edge.settings import AgentSettings
from campuspulse.settings import MqttSettings
from campuspulse.store.db import open_store
from campuspulse.store.ingest import TelemetryWriter

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "campuspulse-alerts.yml"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing (Debian: apt install prometheus; .ci/run installs it)"
    return found


def test_promtool_accepts_the_rules():
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_rules_fire_on_what_they_watch_and_stay_quiet_otherwise(tmp_path: Path):
    """promtool plays series through the rules: a collector down for 3 minutes, an agent's disk refusing writes,
    seqs declared lost; a healthy agent raises nothing."""
    cases = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'campuspulse_collector_connected{instance="c1"}', "values": "1 0 0 0 0"},
                    {"series": 'campuspulse_agent_queue_write_failures{instance="a1"}', "values": "0 3 5 9 12"},
                    {"series": 'campuspulse_agent_connected{instance="a2"}', "values": "1 1 1 1 1"},
                    {"series": 'campuspulse_collector_seqs_lost_total{instance="c1"}', "values": "0 0 40 40 40"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "4m",
                        "alertname": "CampuspulseCollectorDisconnected",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "instance": "c1"},
                                "exp_annotations": {
                                    "summary": "collector c1 is not subscribed to the broker",
                                    "description": "No record reaches the store through it; agents keep theirs "
                                    "queued on disk meanwhile.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "4m",
                        "alertname": "CampuspulseAgentDiskRefusing",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "instance": "a1"},
                                "exp_annotations": {
                                    "summary": "agent a1: its queue's disk refuses writes",
                                    "description": "Observations wait in memory and die with the process; free "
                                    "the disk.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "4m", "alertname": "CampuspulseAgentBrokerDisconnected", "exp_alerts": []},
                    {
                        "eval_time": "3m",
                        "alertname": "CampuspulseSeqsDeclaredLost",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "instance": "c1"},
                                "exp_annotations": {
                                    "summary": "40 seqs were declared lost in the last 15 minutes",
                                    "description": "Possible data loss: GET /api/v1/agents/{agent} lists the gaps "
                                    "per epoch.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(yaml.safe_dump(cases, sort_keys=False))
    r = subprocess.run([promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_metric_the_rules_name_is_exposed_by_a_collector_or_an_agent(tmp_path: Path):
    sink = TimeSeriesSink("http://127.0.0.1:1", "", "campuspulse", "campuspulse", tmp_path / "spool.db")
    collector = Collector(MqttSettings(), TelemetryWriter(open_store(f"sqlite:///{tmp_path / 'store.db'}")), sink=sink)
    devices = [{"id": "d0", "source": {"driver": "simulated"}}]
    agent = EdgeAgent(
        AgentSettings(id="a1", school="s1", queue_path=tmp_path / "q.db", devices=devices), MqttSettings()
    )
    exposed = generate_latest(collector_registry(collector)).decode() + generate_latest(agent_registry(agent)).decode()
    names = set(re.findall(r"^(campuspulse_[a-z_]+)", exposed, re.MULTILINE))
    rules = yaml.safe_load(RULES.read_text())
    wanted = {m for g in rules["groups"] for r in g["rules"] for m in re.findall(r"campuspulse_[a-z_]+", r["expr"])}
    assert wanted and wanted <= names, sorted(wanted - names)
    agent.queue.close()
