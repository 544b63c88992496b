"""Money is kept in 分 (integer cents of a yuan) so that sums and rates never round."""

from decimal import ROUND_HALF_UP, Decimal


def yuan_to_fen(yuan: Decimal | int | str) -> int:
    """元 → 分, rounding half up at the third decimal."""
    return int((Decimal(yuan) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> Decimal:
    """分 → 元 with two decimals."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))
