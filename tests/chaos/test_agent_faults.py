"""Chaos for the edge: a broker down for a minute and an agent killed with SIGKILL mid-flight, with 50 simulated
devices on one agent process. Each ends with an exact accounting, printed as a table: every seq produced
reaches a bare subscriber (duplicates counted, first arrivals in order per device) and the ledger settles each
exactly once."""

import os
import signal
import time

import pytest

from tests.chaos.rig import DEVICES, Rig
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
OUTAGE_S = float(os.environ.get("CAMPUSPULSE_CHAOS_OUTAGE_S", "60"))


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
