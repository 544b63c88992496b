"""Device kinds in words: the built-in names of the kinds common deployments use, and the names a city gives
kinds in the store (`device_kinds`), which take precedence; the code stays the id."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.store.inventory_schema import DeviceKind

KIND_NAMES: dict[str, tuple[str, str]] = {  # (Chinese, English) of kinds the sample campus and common deployments use
    "projector": ("投影仪", "projector"),
    "smart-board": ("交互式电子白板", "interactive whiteboard"),
    "smart_board": ("交互式电子白板", "interactive whiteboard"),
    "oscilloscope": ("示波器", "oscilloscope"),
    "lab-pc": ("实验室电脑", "lab PC"),
    "lab_pc": ("实验室电脑", "lab PC"),
    "pc": ("电脑", "PC"),
    "balance": ("电子天平", "balance"),
    "microscope-camera": ("显微摄像头", "microscope camera"),
    "power-supply": ("学生电源", "power supply"),
    "3d-printer": ("3D 打印机", "3D printer"),
    "laser-cutter": ("激光切割机", "laser cutter"),
    "incubator": ("培养箱", "incubator"),
    "fume-hood": ("通风橱", "fume hood"),
    "camera": ("摄像头", "camera"),
    "smart-plug": ("智能插座", "smart plug"),
    "power-meter": ("电能表", "power meter"),
}


def kind_names(s: Session) -> dict[str, tuple[str, str]]:
    """Every kind's (Chinese, English) name: the store's over the built-in ones."""
    named = dict(KIND_NAMES)
    for row in s.scalars(select(DeviceKind)):
        named[row.kind] = (row.name_zh, row.name_en or KIND_NAMES.get(row.kind, (row.name_zh, row.kind))[1])
    return named


def stored_kinds(s: Session) -> list[str]:
    """The kinds the store names."""
    return list(s.scalars(select(DeviceKind.kind)))


def put_kind(s: Session, kind: str, name_zh: str, name_en: str | None) -> bool:
    """Name a kind (created if new); True if it was created."""
    row = s.get(DeviceKind, kind)
    if row is None:
        s.add(DeviceKind(kind=kind, name_zh=name_zh, name_en=name_en))
        s.flush()
        return True
    row.name_zh, row.name_en = name_zh, name_en
    s.flush()
    return False


def delete_kind(s: Session, kind: str) -> bool:
    """Forget the store's name of a kind (its built-in name, if any, shows again); False if it had none."""
    row = s.get(DeviceKind, kind)
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True
