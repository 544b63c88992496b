"""Month rows over the school-day rollups: written whenever a month's day rows change, read for long ranges."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, Subquery, delete, insert, select, true, union_all
from sqlalchemy.orm import Session

from campuspulse.store.rollup_schema import SchoolDayRollup, SchoolMonthRollup

DAY_FIGURES = (
    "available_ms",
    "in_use_ms",
    "known_ms",
    "approximate_ms",
    "sessions",
    "used_periods",
    "available_periods",
)
ADDITIVE = (*DAY_FIGURES, "continued")


def or_bits(bitmaps: Sequence[str]) -> str:
    """Device bitmaps OR-ed together (left-aligned: the first device is the leftmost bit)."""
    n = max((len(b) for b in bitmaps), default=0)
    acc = 0
    for bits in bitmaps:
        acc |= int(bits.ljust(n, "0"), 2)
    return format(acc, f"0{n}b") if n else ""


def month_row(school: str, month: str, days: Sequence[Any]) -> dict[str, Any]:
    """The month row of a school's day rows of that month (objects or rows with the school-day columns)."""
    ordered = sorted(days, key=lambda r: r.day)
    out: dict[str, Any] = {name: sum(int(getattr(r, name)) for r in ordered) for name in ADDITIVE}
    out |= {
        "school": school,
        "month": month,
        "first_day": ordered[0].day,
        "last_day": ordered[-1].day,
        "first_continued": int(ordered[0].continued),
        "devices": max(int(r.devices) for r in ordered),
        "used_bits": or_bits([str(r.used_bits) for r in ordered]),
    }
    return out


def refresh_months(s: Session, school: str, months: Sequence[str]) -> None:
    """Recompute a school's month rows for these months (`YYYY-MM`) from its day rows."""
    d = SchoolDayRollup
    by_month: dict[str, list[Row[Any]]] = defaultdict(list)
    for month in sorted(set(months)):
        q = select(d.day, d.devices, d.used_bits, *_figures(d))
        by_month[month] = list(s.execute(q.where(d.school == school, d.day >= f"{month}-01", d.day <= f"{month}-31")))
    s.execute(
        delete(SchoolMonthRollup).where(SchoolMonthRollup.school == school, SchoolMonthRollup.month.in_(list(by_month)))
    )
    rows = [month_row(school, month, days) for month, days in by_month.items() if days]
    if rows:
        s.execute(insert(SchoolMonthRollup), rows)


def refresh_all_months(s: Session) -> None:
    """Recompute every month row from the day rows (after a migration or a bulk load; the caller commits)."""
    d = SchoolDayRollup
    pairs: dict[str, set[str]] = defaultdict(set)
    for school, day in s.execute(select(d.school, d.day)):
        pairs[school].add(day[:7])
    for school, months in pairs.items():
        refresh_months(s, school, sorted(months))


def of_schools(column: Any, codes: list[str] | None) -> Any:
    """`column IN codes`, or no condition at all for every school (a long IN list costs more than it saves)."""
    return true() if codes is None else column.in_(codes)


def _figures(t: Any) -> list[Any]:
    return [getattr(t, name) for name in ADDITIVE]


def range_rows(s: Session, codes: list[str] | None, first: date, last: date) -> Subquery:
    """Rows holding each school-day figure from `first` to `last` exactly once (of the schools `codes`, or all):
    a month row where the range covers the month's teaching days, the day rows of the others. Columns: school,
    day, the additive figures, first_continued, devices, used_bits."""
    a, b = first.isoformat(), last.isoformat()
    m, d = SchoolMonthRollup, SchoolDayRollup
    mine_m = of_schools(m.school, codes)
    whole = (m.first_day >= a) & (m.last_day <= b)
    parts = [
        select(m.school, m.first_day.label("day"), *_figures(m), m.first_continued, m.devices, m.used_bits).where(
            mine_m, m.month >= a[:7], m.month <= b[:7], whole
        )
    ]
    for month in sorted(
        {a[:7], b[:7]}
    ):  # months inside the range are always whole; every month with day rows has a row
        partial = list(s.scalars(select(m.school).where(mine_m, m.month == month, ~whole)))
        if partial:
            lo, hi = max(a, f"{month}-01"), min(b, f"{month}-31")
            parts.append(
                select(
                    d.school, d.day, *_figures(d), d.continued.label("first_continued"), d.devices, d.used_bits
                ).where(d.school.in_(partial), d.day >= lo, d.day <= hi)
            )
    return union_all(*parts).subquery()
