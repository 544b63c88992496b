"""The agent's pure parts: state detection, emission policy, and the on-disk queue."""

from campuspulse.drivers.base import Observation
from campuspulse.edge.monitor import DeviceMonitor, EmitPolicy
from campuspulse.edge.queue import RecordQueue
from campuspulse.edge.state_detection import DetectorConfig, StateDetector


def states(detector, watts, step_ms=1000):
    return [detector.update(Observation(i * step_ms, {"power_w": w})) for i, w in enumerate(watts)]


def test_hysteresis_keeps_a_device_in_use_between_the_thresholds():
    d = StateDetector(DetectorConfig(in_use_above=40, idle_below=25, off_below=2))
    assert states(d, [10, 50, 30, 26, 20, 30, 1]) == ["idle", "in_use", "in_use", "in_use", "idle", "idle", "off"]


def test_debounce_ignores_short_spikes():
    d = StateDetector(DetectorConfig(debounce_s=3))
    # a 2-second spike does not count; a level held for 3 seconds does
    assert states(d, [10, 60, 60, 10, 60, 60, 60, 60]) == ["idle"] * 7 + ["in_use"]


def test_a_device_reporting_its_own_state_is_taken_at_its_word():
    d = StateDetector(DetectorConfig())
    assert d.update(Observation(0, {}, state="in_use")) == "in_use"


def test_monitor_sends_changes_at_once_and_repeats_state_as_heartbeat():
    m = DeviceMonitor("d1", DetectorConfig(), EmitPolicy(valid_s=180, heartbeat_s=60, reading_every_s=120))
    out = []
    for sec, w in [(0, 10), (30, 10), (60, 10), (70, 80), (100, 80), (130, 80), (240, 80)]:
        out += m.observe(Observation(sec * 1000, {"power_w": w}))
    st = [(r["ts"][11:19], r["state"]) for r in out if r["type"] == "state"]
    assert st == [
        ("00:00:00", "idle"),
        ("00:01:00", "idle"),
        ("00:01:10", "in_use"),
        ("00:02:10", "in_use"),
        ("00:04:00", "in_use"),
    ]
    assert [r["ts"][11:19] for r in out if r["type"] == "reading"] == ["00:00:00", "00:02:10"]


def test_a_failing_device_is_reported_as_fault_and_recovers():
    m = DeviceMonitor("d1", DetectorConfig(), EmitPolicy())
    m.observe(Observation(0, {"power_w": 80}))
    assert [r["state"] for r in m.fault(5000)] == ["fault"]
    assert m.fault(6000) == [], "fault is repeated as a heartbeat, not on every poll"
    assert [r["state"] for r in m.observe(Observation(7000, {"power_w": 80})) if r["type"] == "state"] == ["in_use"]


def test_queue_keeps_records_and_seq_across_restarts(tmp_path):
    q = RecordQueue(tmp_path / "q.db")
    assert q.append([{"type": "state"}] * 3) == [0, 1, 2]
    q.remove_through(1)
    q.close()
    q = RecordQueue(tmp_path / "q.db")
    assert [r["seq"] for r in q.peek(10)] == [2]
    assert q.append([{"type": "reading"}]) == [3], "seq continues after a restart, never reused"
    q.remove_through(3)
    assert len(q) == 0 and q.next_seq == 4
