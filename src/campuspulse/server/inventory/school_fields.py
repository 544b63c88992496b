"""What a school, its rooms and its devices are registered with (`PUT /schools/{school}`, `…/rooms/{room}`,
`…/devices/{device}`, and the dashboard's forms)."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from campuspulse.server.inventory.stages import STAGE_GRADES
from campuspulse.telemetry.topics import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN}$")]


class SchoolIn(BaseModel):
    """`PUT /schools/{school}`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    district: Id
    stage: str = Field(min_length=1, max_length=32, description="学段, e.g. primary, junior")
    tz: str = "Asia/Shanghai"
    classes: int = Field(0, ge=0, le=10_000, description="classes in all (with classes_by_grade: their sum)")
    parallel_classes: int = Field(
        0, ge=0, le=1_000, description="classes per grade (轨数); with classes_by_grade: the largest grade's"
    )
    students: int = Field(0, ge=0, le=1_000_000)
    max_class_size: int = Field(0, ge=0, le=1_000)
    classes_by_grade: dict[str, Annotated[int, Field(ge=0, le=1_000)]] | None = Field(
        None,
        max_length=12,
        description='classes of each grade of the stage, e.g. {"7": 8, "8": 8, "9": 6}; classes and '
        "parallel_classes follow from it when they are 0",
    )

    @model_validator(mode="after")
    def _grades_agree(self) -> "SchoolIn":
        if self.classes_by_grade is None:
            return self
        grades = {str(g) for g in STAGE_GRADES.get(self.stage, range(1, 13))}
        if unknown := sorted(set(self.classes_by_grade) - grades, key=lambda g: (len(g), g)):
            raise ValueError(
                f"classes_by_grade: grade(s) {', '.join(unknown)} are not taught in 学段 {self.stage} "
                f"(its grades: {', '.join(sorted(grades, key=int))})"
            )
        total, widest = sum(self.classes_by_grade.values()), max(self.classes_by_grade.values(), default=0)
        if self.classes and self.classes != total:
            raise ValueError(f"classes is {self.classes} but classes_by_grade adds up to {total}")
        if self.parallel_classes and self.parallel_classes != widest:
            raise ValueError(f"parallel_classes is {self.parallel_classes} but the largest grade has {widest}")
        self.classes, self.parallel_classes = total, widest
        return self

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time zone {tz!r} is unknown, expected an IANA name such as Asia/Shanghai") from None
        return tz


class RoomIn(BaseModel):
    """`PUT /schools/{school}/rooms/{room}`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=64, description="physics_lab, chemistry_lab, science_lab, classroom…")
    capacity: int = Field(0, ge=0, le=100_000)


class DeviceIn(BaseModel):
    """`PUT /schools/{school}/devices/{device}`."""

    model_config = ConfigDict(extra="forbid")
    agent: Id
    room: Id
    kind: str = Field(min_length=1, max_length=64)
    equipment_item: str | None = Field(None, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200, description="what people call it, e.g. 1 号示波器")
