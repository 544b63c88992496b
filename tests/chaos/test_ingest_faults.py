"""Chaos between the agent and the ledger: one agent partitioned from the network, an agent whose clock runs
ten minutes ahead, and the ledger's PostgreSQL crashing under the collector. Each ends with the rig's exact
accounting table."""

import glob
import os
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.server.ledger.schema import ClockSkew
from tests.chaos.rig import Rig
from tests.support.private_postgres import PrivatePostgres
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
PARTITION_S = float(os.environ.get("CAMPUSPULSE_CHAOS_PARTITION_S", "20"))


def test_a_partitioned_agent_catches_up_and_loses_nothing(tmp_path):
    rig = Rig(tmp_path, via_proxy=True)
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records to flow through the proxy")
        assert rig.proxy is not None
        rig.proxy.cut()
        settled = rig.settled()[0]
        time.sleep(PARTITION_S)
        assert rig.settled()[0] - settled < 200, "nothing crossed the partition but what was in flight"
        held = rig.queued()
        rig.proxy.restore()
        wait_until(lambda: rig.queued() < 100, 60, "the agent to reconnect and publish its backlog")
        rig.stop_agent()
        rig.account(f"agent partitioned {PARTITION_S:.0f} s", **{"held while cut off": held})
    finally:
        rig.close()


def test_an_agent_clock_ten_minutes_ahead_is_flagged_and_loses_nothing(tmp_path):
    lib = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)
    assert lib is not None, "libfaketime is missing (Debian: apt install faketime)"
    rig = Rig(tmp_path, agent_env={"LD_PRELOAD": lib, "FAKETIME": "+10m", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 300, 30, "the skewed agent's records to settle")
        rig.stop_agent()
        produced = rig.produced()
        wait_until(lambda: rig.settled() == (produced - 1, 0), 60, "every record settled")
        with Session(rig.engine) as s:
            flagged = int(s.scalar(select(func.count()).select_from(ClockSkew)) or 0)
        rig.account("agent clock 10 min ahead", **{"flagged clock skew": flagged})
        assert flagged == produced, "every record stamped 10 minutes ahead is flagged, and stored all the same"
    finally:
        rig.close()


def test_the_ledger_database_crashing_loses_nothing(tmp_path):
    pg = PrivatePostgres()
    pg.start()
    rig = Rig(tmp_path, ledger_url=pg.url)
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records in the ledger")
        pg.crash()
        time.sleep(10)
        failures = rig.collector.counters.write_failures
        assert failures > 0, "the collector noticed and held its acks"
        pg.start()
        wait_until(lambda: rig.queued() < 100, 60, "the backlog to drain once the ledger is back")
        rig.stop_agent()
        rig.account("ledger PostgreSQL crashed for 10 s", **{"batches refused": failures})
    finally:
        rig.close()
        pg.stop()
