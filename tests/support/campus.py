"""Builders of contract payloads and provisioning calls shared by tests and benches."""

import random
from typing import Any

from campuspulse.telemetry import format_ts, parse_ts

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def provision(
    client: Any,
    school: str = "s1",
    agent: str = "a1",
    devices: tuple[str, ...] = ("pc1",),
    tz: str = "Asia/Shanghai",
    day: str = "2026-09-07",
    periods: tuple[tuple[str, str], ...] = (("08:00", "08:45"), ("09:00", "09:45")),
) -> None:
    """Register a school, one agent, its devices in room lab1, and one teaching day."""
    r = client.put(
        f"/api/v1/schools/{school}",
        headers=AUTH,
        json={"name": f"School {school}", "district": "d1", "stage": "junior", "tz": tz},
    )
    assert r.status_code in (200, 201), r.text
    assert client.put(f"/api/v1/agents/{agent}", headers=AUTH, json={"school": school}).status_code in (200, 201)
    for d in devices:
        r = client.put(
            f"/api/v1/schools/{school}/devices/{d}",
            headers=AUTH,
            json={"agent": agent, "room": "lab1", "kind": "lab_pc"},
        )
        assert r.status_code in (200, 201), r.text
    r = client.put(
        f"/api/v1/schools/{school}/calendar/{day}", headers=AUTH, json={"periods": [list(p) for p in periods]}
    )
    assert r.status_code in (200, 201), r.text


def worked_example_records(device: str = "pc1") -> list[dict[str, Any]]:
    """domain.md's lab PC on 2026-09-07: state changes at 07:50, 08:10, 08:40, 09:05, heartbeats every 60 s."""
    changes = [("07:50", "idle"), ("08:10", "in_use"), ("08:40", "idle"), ("09:05", "in_use")]
    out: list[dict[str, Any]] = []
    for i, (hhmm, state) in enumerate(changes):
        start = parse_ts(f"2026-09-07T{hhmm}:00.000+08:00")
        stop = parse_ts(f"2026-09-07T{changes[i + 1][0]}:00.000+08:00") if i + 1 < len(changes) else start + 1
        for t in range(start, stop, 60_000):
            out.append(
                {"type": "state", "seq": len(out), "ts": format_ts(t), "device": device, "state": state, "valid_s": 180}
            )
    return out


def payload(
    records: list[dict[str, Any]], agent: str = "a1", school: str = "s1", epoch: str | None = None
) -> dict[str, Any]:
    """A records payload around `records` (of the agent's queue `epoch`, if given)."""
    return {"v": 1, "agent": agent, "school": school, **({"epoch": epoch} if epoch else {}), "records": records}


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """`items` cut into lists of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def synthetic_stream(
    agent: str, devices: list[str], steps: int, seed: int = 1, start_ms: int = 1788739200000, readings: bool = True
) -> list[dict[str, Any]]:
    """An agent's records in seq order: per step and device a state (mostly heartbeats) and a reading."""

    rnd = random.Random(seed)
    state = {d: "idle" for d in devices}
    out: list[dict[str, Any]] = []
    for step in range(steps):
        ts = format_ts(start_ms + step * 60_000)
        for d in devices:
            if rnd.random() < 0.05:
                state[d] = rnd.choice(["in_use", "idle", "off", "fault"])
            if rnd.random() < 0.02:
                continue  # a missed heartbeat: unknown time
            out.append({"type": "state", "seq": len(out), "ts": ts, "device": d, "state": state[d], "valid_s": 180})
            if readings:
                out.append(
                    {
                        "type": "reading",
                        "seq": len(out),
                        "ts": ts,
                        "device": d,
                        "values": {"power_w": round(rnd.uniform(0, 120), 2)},
                    }
                )
    return out


def week_of_heartbeats(seed: int = 3) -> list[dict]:
    """Three devices, a heartbeat a minute from Sunday evening to the next Monday; pc3 stays in use overnight."""
    return heartbeats(
        "2026-09-06T20:00:00+08:00", 8, 60, ("2026-09-08T15:00:00+08:00", "2026-09-09T09:30:00+08:00"), seed
    )


def heartbeats(start: str, days: int, step_s: int, pc3_in_use: tuple[str, str], seed: int = 3) -> list[dict]:
    """Three devices changing state at random, a heartbeat every `step_s` (valid 3 steps) for `days` days from
    `start`, about 1 in 100 missed; pc3 is in use throughout `pc3_in_use`."""
    rnd = random.Random(seed)
    out, state = [], {"pc1": "idle", "pc2": "off", "pc3": "idle"}
    t0, hold_from, hold_to = parse_ts(start), parse_ts(pc3_in_use[0]), parse_ts(pc3_in_use[1])
    for step in range(days * 86400 // step_s):
        t = t0 + step * step_s * 1000
        for d in state:
            if rnd.random() < 0.03:
                state[d] = rnd.choice(["in_use", "idle", "off"])
            if d == "pc3" and hold_from <= t < hold_to:
                state[d] = "in_use"
            if rnd.random() < 0.01:
                continue  # a missed heartbeat
            out.append(
                {
                    "type": "state",
                    "seq": len(out),
                    "ts": format_ts(t),
                    "device": d,
                    "state": state[d],
                    "valid_s": 3 * step_s,
                }
            )
    return out
