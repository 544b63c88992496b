"""Quantity rules of equipment standards (domain.md): how many units of an item a school must have.

A rule is data, loaded from the standard's file: written out (`{per: group, n: 1, group_size: 2}`) or in
the notation of provincial tables (`1/校`, `2/室(physics_lab)`, `13/50人`, `1/组`, `1/组(4人)`). `n` may come in
bands by the school's number of classes or of parallel classes; `double_from_parallel` doubles group sets for
large schools (双配套).
"""

import itertools
import math
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Band(BaseModel):
    """`n` for schools with at most `up_to_classes` classes, or at most `up_to_parallel_classes` classes per grade
    (neither: any larger school). A rule's bands all count the same way."""

    model_config = ConfigDict(extra="forbid")
    up_to_classes: int | None = Field(None, ge=1, le=10_000)
    up_to_parallel_classes: int | None = Field(None, ge=1, le=1_000)
    n: int = Field(ge=0, le=100_000)

    @property
    def limit(self) -> int | None:
        """The band's upper bound, whichever way it counts."""
        return self.up_to_classes if self.up_to_classes is not None else self.up_to_parallel_classes


class QuantityRule(BaseModel):
    """How the required quantity of an item follows from the school."""

    model_config = ConfigDict(extra="forbid")
    per: Literal["school", "room", "students", "group"]
    n: int | None = Field(None, ge=0, le=100_000)
    bands: list[Band] | None = None
    room_type: str | None = Field(None, description="per room: which rooms, e.g. physics_lab")
    min_rooms: int = Field(1, ge=0, le=1_000, description="per room: rooms counted at least (the standard's minimum)")
    students: int = Field(50, ge=1, le=10_000, description="per students: n units for every this many students")
    group_size: int = Field(2, ge=1, le=100, description="per group: students sharing one set in a lab class")
    double_from_parallel: int | None = Field(None, ge=1, le=1_000, description="from this many parallel classes: ×2")

    @model_validator(mode="after")
    def _complete(self) -> "QuantityRule":
        if (self.n is None) == (self.bands is None):
            raise ValueError("give either n or bands")
        if self.bands is not None:
            if not self.bands or self.bands[-1].limit is not None:
                raise ValueError("the last band must have no upper bound (it takes every larger school)")
            if any(b.up_to_classes is not None and b.up_to_parallel_classes is not None for b in self.bands):
                raise ValueError("a band is bounded by up_to_classes or by up_to_parallel_classes, not both")
            kinds = {b.up_to_classes is not None for b in self.bands[:-1]}
            if len(kinds) > 1:
                raise ValueError("a rule's bands all count classes (up_to_classes) or all parallel classes")
            limits = [b.limit for b in self.bands[:-1]]
            if None in limits or any(a >= b for a, b in itertools.pairwise(limits)):  # type: ignore[operator]
                raise ValueError("every band but the last needs an upper bound, in increasing order")
        if self.per == "room" and not self.room_type:
            raise ValueError("a per-room rule needs room_type")
        return self


@dataclass(frozen=True, slots=True)
class SchoolFacts:
    """What required quantities depend on."""

    classes: int
    parallel_classes: int
    students: int
    max_class_size: int
    rooms: dict[str, int]


_NOTATION = re.compile(
    r"^\s*(?P<n>\d+)\s*/\s*(?:(?P<school>校)|(?P<room>室)\s*[(（]\s*(?P<type>[A-Za-z0-9_]+)\s*[)）]"
    r"|(?P<per>\d+)\s*人|(?P<group>组)(?:\s*[(（]\s*(?P<size>\d+)\s*人\s*[)）])?)\s*$"
)


def parse_notation(text: str) -> QuantityRule:
    """`1/校`, `2/室(physics_lab)`, `13/50人`, `1/组`, `1/组(4人)` → a rule; ValueError naming the accepted forms."""
    m = _NOTATION.match(text)
    if m is None:
        raise ValueError(f"quantity rule {text!r} is not one of n/校, n/室(room_type), n/50人, n/组, n/组(4人)")
    n = int(m["n"])
    if m["school"]:
        return QuantityRule(per="school", n=n)
    if m["room"]:
        return QuantityRule(per="room", n=n, room_type=m["type"])
    if m["per"]:
        return QuantityRule(per="students", n=n, students=int(m["per"]))
    return QuantityRule(per="group", n=n, group_size=int(m["size"] or 2))


def _n(rule: QuantityRule, school: SchoolFacts) -> int:
    if rule.bands is None:
        return rule.n or 0
    by_parallel = any(b.up_to_parallel_classes is not None for b in rule.bands)
    size = school.parallel_classes if by_parallel else school.classes
    return next(b.n for b in rule.bands if b.limit is None or size <= b.limit)


def required(rule: QuantityRule, school: SchoolFacts) -> int:
    """The quantity the rule asks of this school (bands by total or by parallel classes, as the rule says)."""
    n = _n(rule, school)
    match rule.per:
        case "school":
            qty = n
        case "room":
            qty = n * max(school.rooms.get(rule.room_type or "", 0), rule.min_rooms)
        case "students":
            qty = math.ceil(n * school.students / rule.students)
        case "group":
            qty = n * math.ceil(school.max_class_size / rule.group_size)
    if rule.double_from_parallel is not None and school.parallel_classes >= rule.double_from_parallel:
        qty *= 2
    return qty
