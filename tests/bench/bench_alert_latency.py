"""Detection latency of the agent-offline alert: N agent processes (20 by default) SIGKILLed at once, and the time
from each kill to its alert at a webhook receiver, against the rule's timeout (target: timeout + 10 s at most).

Run: `python -m tests.bench.bench_alert_latency [--agents 20]`. An agent killed outright is found by the broker's
last will (1.5 × the MQTT keepalive, 5 s here) before the silence timeout; the figures show both paths' margins.
"""

import argparse
import tempfile
from pathlib import Path

from rich.console import Console

from tests.support.alert_rig import KEEPALIVE_S, OFFLINE_AFTER_S, alert_rig, summary
from tests.support.waiting import wait_until


def main() -> None:
    """Start, kill, measure, restart; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, alert_rig(Path(tmp), args.agents) as rig:
        console.print(f"{args.agents} agents online; killing them all (SIGKILL)")
        rig.kill_all()
        wait_until(lambda: len(rig.latencies()) == args.agents, OFFLINE_AFTER_S + 60, "every agent's alert")
        latencies = rig.latencies()
        devices = rig.notices("opened", prefix="device:")
        console.print(f"detection latency: {summary(latencies)}")
        console.print(
            f"rule timeout {OFFLINE_AFTER_S} s (target ≤ {OFFLINE_AFTER_S + 10} s); last will after "
            f"{1.5 * KEEPALIVE_S:.1f} s of keepalive; device alerts behind the dead agents: {len(devices)}"
        )
        for agent in rig.agents:
            rig.start_agent(agent)
        wait_until(lambda: len(rig.notices("resolved")) == args.agents, 120, "every resolved notice")
        console.print(f"resolved notices after restart: {len(rig.notices('resolved'))}")


if __name__ == "__main__":
    main()
