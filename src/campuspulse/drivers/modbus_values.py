"""Modbus register words to numbers: 16-, 32- and 64-bit integers and IEEE 754 floats in every word and byte order,
with the "not available" values meters send instead of a measurement.

Registers are 16-bit words sent high byte first. A value over several words comes in one of four orders: ABCD
(big: high word first), CDAB (little: low word first), BADC and DCBA (the same with each word's bytes swapped).
Meters mark a value they do not have with a sentinel rather than an error (SunSpec Information Model
Specification, "unimplemented" values; the 0x7FFF… maximum some meters use for "no value"): 0x8000… and 0x7FFF…
for signed integers, all ones for unsigned ones, NaN (and ±infinity) for floats. Those are no reading, never a
value, so that a meter without a measurement cannot look like a device drawing 2 GW.
"""

import math
import struct
from typing import Literal

RegisterType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
WORDS: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
}
_FORMAT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}


def _sentinels(kind: str) -> set[int]:
    bits = 16 * WORDS[kind]
    if kind.startswith("uint"):
        return {(1 << bits) - 1}
    if kind.startswith("int"):
        return {-(1 << (bits - 1)), (1 << (bits - 1)) - 1}
    return set()


def decode(
    registers: list[int],
    kind: RegisterType,
    word_order: Literal["big", "little"] = "big",
    byte_swap: bool = False,
    sentinels: bool = True,
) -> float | None:
    """The number the registers hold, or None for a "not available" value (when `sentinels` is on)."""
    if len(registers) != WORDS[kind]:
        raise ValueError(f"{kind} needs {WORDS[kind]} registers, got {len(registers)}")
    words = registers[::-1] if word_order == "little" else list(registers)
    raw = b"".join(w.to_bytes(2, "big")[::-1] if byte_swap else w.to_bytes(2, "big") for w in words)
    (value,) = struct.unpack(">" + _FORMAT[kind], raw)
    if sentinels:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, int) and value in _sentinels(kind):
            return None
    return float(value) if math.isfinite(value) else None
