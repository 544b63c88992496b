"""Chaos between the agent and the stores: one agent partitioned from the network, an agent whose clock runs
ten minutes ahead, the store's PostgreSQL crashing under the collector, the collector process SIGKILLed, and the
time-series server stopped. Each ends with the rig's exact accounting table (both stores where both are on)."""

import glob
import os
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campuspulse.store.schema import ClockSkew
from tests.chaos.rig import Rig
from tests.support.private_postgres import PrivatePostgres
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt
PARTITION_S = float(os.environ.get("CAMPUSPULSE_CHAOS_PARTITION_S", "20"))
SERIES_DOWN_S = float(os.environ.get("CAMPUSPULSE_CHAOS_SERIES_DOWN_S", "30"))


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


def test_the_store_database_crashing_loses_nothing(tmp_path):
    pg = PrivatePostgres()
    pg.start()
    rig = Rig(tmp_path, store_url=pg.url)
    try:
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records in the store")
        pg.crash()
        time.sleep(10)
        failures = rig.collector.counters.write_failures
        assert failures > 0, "the collector noticed and held its acks"
        pg.start()
        wait_until(lambda: rig.queued() < 100, 60, "the backlog to drain once the store is back")
        rig.stop_agent()
        rig.account("store's PostgreSQL crashed for 10 s", **{"batches refused": failures})
    finally:
        rig.close()
        pg.stop()


def test_the_collector_killed_twice_loses_nothing_in_either_store(tmp_path):
    rig = Rig(tmp_path, collector_process=True, timeseries=True)
    try:
        rig.start_agent()
        for _ in range(2):
            watermark = rig.settled()[0]
            wait_until(lambda w=watermark: rig.settled()[0] > w + 300, 30, "records settling")
            rig.kill_collector()
            time.sleep(3)  # the agent keeps publishing; the broker keeps the collector's session
            rig.start_collector()
        time.sleep(3)
        rig.stop_agent()
        rig.account("collector SIGKILL twice, both stores", **{"collector kills": 2})
    finally:
        rig.close()


def test_the_time_series_server_down_keeps_the_store_going_and_loses_nothing(tmp_path):
    rig = Rig(tmp_path, timeseries=True)
    try:
        assert rig.victoria is not None and rig.collector is not None and rig.collector.sink is not None
        rig.start_agent()
        wait_until(lambda: rig.settled()[0] > 200, 30, "records in the store")
        rig.victoria.stop()
        down = rig.settled()[0]
        time.sleep(SERIES_DOWN_S)
        settled_while_down = rig.settled()[0] - down
        assert settled_while_down > SERIES_DOWN_S * 50, "the store kept settling while the time series was down"
        spooled = rig.collector.sink.counters.spool_lines
        assert spooled > 0 and rig.collector.sink.counters.write_errors > 0
        rig.victoria.start()
        rig.stop_agent()
        rig.account(
            f"time-series server down {SERIES_DOWN_S:.0f} s",
            **{"settled while down": settled_while_down, "spooled": spooled},
        )
    finally:
        rig.close()
