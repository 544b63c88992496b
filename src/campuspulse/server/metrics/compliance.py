"""Configuration compliance (配备达标率) of domain.md, as pure arithmetic over required and held quantities.

`B` is the standard's 基本 items (consumables excluded); `have` counts 完好 units only.
R_item = #{have ≥ req}/|B|, R_qty = Σ min(have, req)/Σ req, R_val = Σ min(have, req)·p/Σ req·p;
a school is 达标 when R_item ≥ the standard's threshold. An empty denominator gives a rate of 1.
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


@dataclass(slots=True)
class SchoolCompliance:
    """A school's rates against one standard, with the gap list."""

    items: list[ItemNeed] = field(default_factory=list)

    def _ratio(self, num: int, den: int) -> Fraction:
        return Fraction(num, den) if den else Fraction(1)

    @property
    def r_item(self) -> Fraction:
        """Share of 基本 items fully equipped."""
        return self._ratio(sum(i.met for i in self.items), len(self.items))

    @property
    def r_qty(self) -> Fraction:
        """Share of required units held."""
        return self._ratio(sum(min(i.have, i.required) for i in self.items), sum(i.required for i in self.items))

    @property
    def r_val(self) -> Fraction:
        """Share of the required value held, at reference prices."""
        held = sum(min(i.have, i.required) * i.price_fen for i in self.items)
        return self._ratio(held, sum(i.required * i.price_fen for i in self.items))

    def compliant(self, threshold: float) -> bool:
        """达标: R_item at or above the threshold (compared exactly)."""
        return self.r_item >= Fraction(threshold).limit_denominator(10**6)

    def gaps(self) -> list[ItemNeed]:
        """The items short of their requirement, largest missing value first."""
        return sorted((i for i in self.items if not i.met), key=lambda i: (-i.missing * i.price_fen, i.code))


def per_student_value_fen(total_value_fen: int, students: int) -> int | None:
    """生均教学仪器设备值 in 分 (None without students)."""
    return round(total_value_fen / students) if students else None
