"""Money is kept in 分 (integer cents of a yuan) so that sums and rates never round."""

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field

MAX_YUAN = Decimal("1e10")  # 10 billion 元 a unit: 10^12 分, far from the 64-bit columns' limit
Yuan = Annotated[Decimal, Field(ge=0, le=MAX_YUAN, decimal_places=2)]


def yuan_to_fen(yuan: Decimal | int | str) -> int:
    """元 → 分, rounding half up at the third decimal."""
    return int((Decimal(yuan) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> Decimal:
    """分 → 元 with two decimals."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))
