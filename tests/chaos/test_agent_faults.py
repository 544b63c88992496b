"""Chaos for the edge: a broker down for a minute, an agent killed with SIGKILL mid-flight and an agent whose disk
fills up, with 50 simulated devices on one agent process. Each ends with an exact accounting, printed as a table:
every seq produced reaches a bare subscriber (duplicates counted, first arrivals in order per device) and the
store settles each exactly once."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from campuspulse.edge.queue import QueueUnavailable
from campuspulse.store.schema import Agent
from tests.chaos.rig import DEVICES, Rig
from tests.support.small_disk import SmallDisk
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
OUTAGE_S = float(os.environ.get("CAMPUSPULSE_CHAOS_OUTAGE_S", "60"))
DISK_FULL_S = float(os.environ.get("CAMPUSPULSE_CHAOS_DISK_FULL_S", "20"))


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def test_a_broker_down_for_a_minute_loses_nothing(rig):
    rig.start_agent()
    wait_until(lambda: rig.produced() > 200, 30, "the agent to start producing")
    rig.broker.stop()
    time.sleep(OUTAGE_S)
    held = rig.queued()
    assert held >= OUTAGE_S * DEVICES * 0.5, f"the agent kept observing while the broker was away ({held} queued)"
    rig.broker.start()
    wait_until(lambda: rig.queued() < 100, 120, "the backlog to be published")
    rig.stop_agent()
    rig.account(f"broker down {OUTAGE_S:.0f} s, {DEVICES} devices")


def test_an_agent_killed_mid_flight_resumes_its_seq_and_loses_nothing(rig):
    rig.start_agent()
    wait_until(lambda: rig.produced() > 300, 30, "the agent to start producing")
    assert rig.agent is not None
    rig.agent.send_signal(signal.SIGKILL)
    rig.agent.wait(10)
    before = rig.produced()
    rig.start_agent()
    wait_until(lambda: rig.produced() > before + 300, 30, "the restarted agent to go on")
    rig.agent.send_signal(signal.SIGKILL)
    rig.agent.wait(10)
    rig.start_agent()
    time.sleep(3)
    rig.stop_agent()
    rig.account(f"agent SIGKILL twice, {DEVICES} devices")


def unwritable_since(rig: Rig) -> datetime | None:
    with Session(rig.engine) as s:
        agent = s.get(Agent, "a1")
        assert agent is not None
        return agent.queue_unwritable_since


def readable_by_others(rig: Rig) -> bool:
    try:
        rig.queued()
    except QueueUnavailable:  # "database is locked": the agent holds it for itself
        return False
    return True


def test_an_agent_whose_disk_fills_up_holds_its_records_in_memory_and_loses_nothing(tmp_path):
    with SmallDisk(tmp_path / "disk", size_mb=16) as disk:
        rig = Rig(tmp_path, queue_dir=disk.path)
        try:
            rig.start_agent()
            wait_until(lambda: rig.settled()[0] > 200, 30, "records in the store")
            rig.broker.stop()  # the queue must grow: a queue that keeps up lives in the pages it already has
            time.sleep(2)
            disk.fill()
            wait_until(
                lambda: rig.agent_metric("campuspulse_agent_queue_write_failures") > 0,
                60,
                "the agent to meet the full disk",
            )
            time.sleep(DISK_FULL_S)
            held = rig.agent_metric("campuspulse_agent_held_records")
            failures = rig.agent_metric("campuspulse_agent_queue_write_failures")
            assert held >= DISK_FULL_S * DEVICES * 0.5, f"the agent kept observing into memory ({held} held)"
            assert rig.agent is not None
            rig.agent.send_signal(signal.SIGKILL)  # what it held in memory had no seq yet: nothing waits for it
            rig.agent.wait(10)
            rig.start_agent()  # on the still full disk
            wait_until(
                lambda: rig.agent_metric("campuspulse_agent_queue_write_failures") > 0,
                60,
                "the restarted agent to observe into memory",
            )
            rig.broker.start()  # it publishes its queue; the full disk refuses to let go of what was acknowledged
            wait_until(
                lambda: rig.agent_metric("campuspulse_agent_queue_records") == 0,
                60,
                "the queue to be published from the full disk",
            )
            wait_until(lambda: unwritable_since(rig) is not None, 30, "the server to hear of the full disk")
            disk.free()
            wait_until(
                lambda: rig.agent_metric("campuspulse_agent_held_records") < 500,
                60,
                "the held records to reach the queue once the disk has room",
            )
            wait_until(lambda: unwritable_since(rig) is None, 30, "the server to hear the disk has room again")
            assert rig.agent_metric("campuspulse_agent_shed_readings") == 0
            wait_until(lambda: rig.agent_metric("campuspulse_agent_queue_records") < 100, 60, "the backlog published")
            rig.stop_agent()  # a clean stop leaves no shared-memory index behind; a restart on a full disk then
            assert not rig.queue_path.with_name(rig.queue_path.name + "-shm").exists()  # cannot make one
            disk.fill()
            rig.start_agent()
            wait_until(
                lambda: rig.agent_metric("campuspulse_agent_queue_write_failures") > 0,
                60,
                "the agent started on a full disk to observe into memory",
            )
            assert "opened for this process only" in rig.log_tail() and not readable_by_others(rig)
            disk.free()
            wait_until(lambda: readable_by_others(rig), 30, "the queue to be shared with other processes again")
            wait_until(lambda: rig.agent_metric("campuspulse_agent_held_records") < 500, 60, "the held records queued")
            rig.stop_agent()
            rig.account(
                f"agent disk full {DISK_FULL_S:.0f} s (broker away), killed and restarted on it; stopped, "
                "disk filled, started on it",
                **{"held in memory": int(held), "failed commits": int(failures)},
            )
        finally:
            rig.close()


def test_an_agent_whose_queue_cannot_be_created_says_so(tmp_path):
    with SmallDisk(tmp_path / "disk", size_mb=1) as disk:
        disk.fill()
        config = tmp_path / "agent.yaml"
        config.write_text(
            f"agent:\n  id: a1\n  school: s1\n  queue_path: {disk.path / 'queue.db'}\n"
            "  devices: [{id: d0, source: {driver: simulated}}]\n"
        )
        done = subprocess.run(
            [sys.executable, "-m", "campuspulse", "agent", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert f"cannot open the agent's queue at {disk.path / 'queue.db'}" in message and "disk full" in message
    assert "Traceback" not in done.stderr
