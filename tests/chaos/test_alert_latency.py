"""Agent processes SIGKILLed: one alert per agent reaches the webhook within the rule's timeout + 10 s, none for
the devices behind them (even past the device rule's own limit, on a teaching day), and a resolved notice once
they are back. The benchmark over 20 agents: `python -m tests.bench.bench_alert_latency`."""

import time

from tests.support.alert_rig import DEVICE_AFTER_S, OFFLINE_AFTER_S, alert_rig, summary
from tests.support.waiting import wait_until

AGENTS = 3


def test_killed_agents_raise_one_alert_each_and_a_resolved_notice_on_restart(tmp_path):
    with alert_rig(tmp_path, AGENTS) as rig:
        assert rig.notices("opened", prefix="") == {}, "nothing while they run"
        rig.kill_all()
        wait_until(lambda: len(rig.latencies()) == AGENTS, OFFLINE_AFTER_S + 30, "an alert for every killed agent")
        latencies = rig.latencies()
        print(f"detection latency: {summary(latencies)} (rule timeout {OFFLINE_AFTER_S} s)")
        assert max(latencies) <= OFFLINE_AFTER_S + 10

        time.sleep(DEVICE_AFTER_S + 5)  # past the device rule's limit: the devices behind the dead agents stay quiet
        kill = min(rig.killed_at.values())
        behind = {d: round(t - kill, 1) for d, t in rig.notices("opened", prefix="device:").items()}
        assert behind == {}, f"device alerts (seconds after the kill): {behind}"
        opened = [r.json for r in rig.hook.requests if r.json["event"] == "opened"]
        assert len(opened) == AGENTS, "one notification per agent, no repeats"
        assert all(len(a["alert"]["details"]["hides"]) == 2 for a in opened)

        for agent in rig.agents:
            rig.start_agent(agent)
        wait_until(lambda: len(rig.notices("resolved")) == AGENTS, 60, "a resolved notice for every agent")
