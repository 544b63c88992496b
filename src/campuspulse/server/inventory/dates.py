"""The dates the figures can hold: 2000-01-01 to 2099-12-31, as the contract's timestamps. A teaching day in year 1
or 1969, or a purchase in 9999, is refused at the door (422) instead of breaking every figure that meets it."""

from datetime import date
from typing import Annotated

from pydantic import AfterValidator

FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def _supported(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"{value} is outside the supported dates, {FIRST_DATE} to {LAST_DATE}")
    return value


SupportedDate = Annotated[date, AfterValidator(_supported)]
