"""Request bodies of the HTTP API."""

from enum import StrEnum
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from campuspulse.server.inventory.calendars import check_periods
from campuspulse.server.inventory.equipment_ledger import EquipmentItemIn, EquipmentStatus
from campuspulse.server.inventory.school_fields import DeviceIn, Id, RoomIn
from campuspulse.telemetry.topics import ID_PATTERN

IdPath = Annotated[str, Path(pattern=rf"^{ID_PATTERN}$")]


class AgentIn(BaseModel):
    """`PUT /agents/{agent}`."""

    model_config = ConfigDict(extra="forbid")
    school: Id


class CalendarDayIn(BaseModel):
    """`PUT /schools/{school}/calendar/{date}`: the day's periods in local time."""

    model_config = ConfigDict(extra="forbid")
    periods: list[tuple[str, str]] = Field(min_length=1, max_length=24)

    @field_validator("periods")
    @classmethod
    def _ordered(cls, periods: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return check_periods(periods)


class RegionLevel(StrEnum):
    """Levels of the region tree above schools."""

    CITY = "city"
    DISTRICT = "district"


class RegionIn(BaseModel):
    """`PUT /regions/{region}`: a city, or a district under its city."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    level: RegionLevel
    parent: Id | None = Field(None, description="the city a district belongs to")


__all__ = ["DeviceIn", "EquipmentItemIn", "EquipmentStatus", "RoomIn"]
