"""The simulated campus: schools, rooms, devices, agents and their teaching calendars."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from campuspulse.drivers.simulated import JUNIOR_DAY, Period

TZ = "Asia/Shanghai"
PRIMARY_DAY: list[Period] = [
    ("08:00", "08:40"),
    ("08:50", "09:30"),
    ("09:50", "10:30"),
    ("10:40", "11:20"),
    ("14:00", "14:40"),
    ("14:50", "15:30"),
]

# room type → (device kinds, share of periods the room's equipment is used)
ROOMS: dict[str, tuple[list[str], float]] = {
    "physics-lab": (["lab-pc", "oscilloscope", "power-supply", "smart-board"], 0.45),
    "chemistry-lab": (["lab-pc", "fume-hood", "balance", "smart-board"], 0.35),
    "biology-lab": (["lab-pc", "microscope-camera", "incubator"], 0.3),
    "science-lab": (["lab-pc", "microscope-camera", "smart-board", "balance"], 0.4),
    "classroom": (["smart-board", "projector"], 0.8),
    "maker-space": (["3d-printer", "laser-cutter", "lab-pc"], 0.2),
}


NEVER_USED = {"laser-cutter"}  # bought and left idle: what the idle-equipment list is for


@dataclass(frozen=True)
class SimDevice:
    """One simulated device, watched by its room's agent."""

    id: str
    kind: str
    use_share: float


@dataclass(frozen=True)
class SimRoom:
    """A room with an edge agent watching its devices."""

    id: str
    type: str
    agent: str
    devices: list[SimDevice]


@dataclass(frozen=True)
class SimSchool:
    """A school of the simulated campus."""

    code: str
    name: str
    district: str
    stage: str
    classes: int
    students: int
    periods: list[Period]
    rooms: list[SimRoom] = field(default_factory=list)


def _rooms(code: str, types: list[str]) -> list[SimRoom]:
    rooms = []
    for i, rtype in enumerate(types, start=1):
        kinds, share = ROOMS[rtype]
        room_id = f"{rtype}-{i}"
        devices = [SimDevice(f"{room_id}-{k}", k, 0.0 if k in NEVER_USED else share) for k in kinds]
        rooms.append(SimRoom(room_id, rtype, f"{code}-{room_id}", devices))
    return rooms


def build_campus() -> list[SimSchool]:
    """Three schools in two districts, 60-odd devices in all."""
    junior = ["physics-lab", "chemistry-lab", "biology-lab", "classroom", "classroom", "maker-space"]
    primary = ["science-lab", "science-lab", "classroom", "classroom", "classroom", "maker-space"]
    return [
        SimSchool(
            "hd-junior-01",
            "海淀区实验中学（示例）",
            "haidian",
            "junior",
            24,
            1150,
            JUNIOR_DAY,
            _rooms("hd-junior-01", junior),
        ),
        SimSchool(
            "hd-primary-02",
            "海淀区第二小学（示例）",
            "haidian",
            "primary",
            18,
            760,
            PRIMARY_DAY,
            _rooms("hd-primary-02", primary),
        ),
        SimSchool(
            "cy-junior-03",
            "朝阳区第三中学（示例）",
            "chaoyang",
            "junior",
            12,
            560,
            JUNIOR_DAY,
            _rooms("cy-junior-03", [*junior[:4], "maker-space"]),
        ),
    ]


def live_periods(now: datetime, regular: list[Period], compressed: bool = False) -> list[Period]:
    """Today's periods: the regular day inside school hours on a weekday; else compressed periods around now.

    The compressed day (20-minute periods, 5-minute breaks, from an hour ago) is the demo's make-up day,
    so that figures move whenever the demo is started.
    """
    first, last = regular[0][0], regular[-1][1]
    hhmm = now.strftime("%H:%M")
    if not compressed and now.weekday() < 5 and first <= hhmm < last:
        return regular
    start = now.replace(second=0, microsecond=0) - timedelta(hours=1)
    periods = []
    for i in range(12):  # now falls 10 minutes into the third period
        p0 = start + timedelta(minutes=25 * i)
        p1 = p0 + timedelta(minutes=20)
        if p1.date() < now.date() or p0.date() > now.date():
            continue
        first = p0.strftime("%H:%M") if p0.date() == now.date() else "00:00"
        last = p1.strftime("%H:%M") if p1.date() == now.date() else "24:00"
        periods.append((first, last))
    return periods or [("00:00", "23:59")]


def teaching_days(today: date, back: int) -> list[date]:
    """The weekdays among the `back` days before today."""
    days = [today - timedelta(days=n) for n in range(back, 0, -1)]
    return [d for d in days if d.weekday() < 5]


def local_now() -> datetime:
    """Now in the campus's time zone."""
    return datetime.now(ZoneInfo(TZ))
