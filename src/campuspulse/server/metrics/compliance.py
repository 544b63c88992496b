"""Configuration compliance (配备达标率) of domain.md, as pure arithmetic over required and held quantities.

`B` is the standard's 基本 items (consumables excluded); `have` counts 完好 units only.
R_item = #{have ≥ req}/|B|, R_qty = Σ min(have, req)/Σ req, R_val = Σ min(have, req)·p/Σ req·p;
a school is 达标 when R_item ≥ the standard's threshold. A rate comes with its parts; one whose denominator is 0 is
None with the reason (no required items; reference prices missing), not 1 and not 0, and R_val is None whenever a
基本 item has no reference price (its value would silently drop out of both sums).
"""

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class ItemNeed:
    """One 基本 item of the standard at one school."""

    code: str
    name: str
    unit: str
    required: int
    have: int
    price_fen: int

    @property
    def met(self) -> bool:
        """Whether the school holds enough working units."""
        return self.have >= self.required

    @property
    def missing(self) -> int:
        """Units still to buy."""
        return max(self.required - self.have, 0)


@dataclass(frozen=True, slots=True)
class Rate:
    """numerator / denominator, or None with the reason when it is not defined."""

    numerator: int
    denominator: int
    reason: str | None = None

    @property
    def value(self) -> Fraction | None:
        """The exact rate (None when undefined)."""
        if self.reason is not None or not self.denominator:
            return None
        return Fraction(self.numerator, self.denominator)


NO_ITEMS = "the standard has no 基本 item"
NO_UNITS = "the standard requires no unit of its 基本 items of this school"


@dataclass(slots=True)
class SchoolCompliance:
    """A school's rates against one standard, with the gap list."""

    items: list[ItemNeed] = field(default_factory=list)

    @property
    def item_rate(self) -> Rate:
        """R_item: 基本 items fully equipped / 基本 items."""
        return Rate(sum(i.met for i in self.items), len(self.items), None if self.items else NO_ITEMS)

    @property
    def quantity_rate(self) -> Rate:
        """R_qty: units held up to the requirement / units required."""
        required = sum(i.required for i in self.items)
        return Rate(sum(min(i.have, i.required) for i in self.items), required, None if required else NO_UNITS)

    @property
    def value_rate(self) -> Rate:
        """R_val: value held up to the requirement / value required, in 分 at reference prices."""
        held = sum(min(i.have, i.required) * i.price_fen for i in self.items)
        needed = sum(i.required * i.price_fen for i in self.items)
        unpriced = sorted(i.code for i in self.items if not i.price_fen)
        if unpriced:
            shown = ", ".join(unpriced[:5]) + (f" and {len(unpriced) - 5} more" if len(unpriced) > 5 else "")
            return Rate(held, needed, f"reference prices missing for {len(unpriced)} 基本 item(s): {shown}")
        return Rate(held, needed, None if needed else NO_UNITS)

    @property
    def r_item(self) -> Fraction | None:
        """Share of 基本 items fully equipped."""
        return self.item_rate.value

    @property
    def r_qty(self) -> Fraction | None:
        """Share of required units held."""
        return self.quantity_rate.value

    @property
    def r_val(self) -> Fraction | None:
        """Share of the required value held, at reference prices."""
        return self.value_rate.value

    def compliant(self, threshold: float) -> bool | None:
        """达标: R_item at or above the threshold (compared exactly); None when nothing is required."""
        r_item = self.r_item
        return None if r_item is None else r_item >= Fraction(threshold).limit_denominator(10**6)

    def gaps(self) -> list[ItemNeed]:
        """The items short of their requirement, largest missing value first."""
        return sorted((i for i in self.items if not i.met), key=lambda i: (-i.missing * i.price_fen, i.code))


def per_student_value_fen(total_value_fen: int, students: int) -> int | None:
    """生均教学仪器设备值 in 分 (None without students)."""
    return round(total_value_fen / students) if students else None
