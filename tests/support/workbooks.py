"""Reading an auditor's workbook as Excel would: rows by the API's keys (through the 字段 sheet), formulas next to
their cached values, and the few formulas the workbooks write evaluated from the cells they name."""

import io
import re
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string, range_boundaries

_RATIO = re.compile(r'^=IF\(([A-Z]+\d+)=0,"",ROUND\(([A-Z]+\d+)/([A-Z]+\d+),(\d+)\)\)$')
_SUM = re.compile(r"^=SUM\(([A-Z]+\d+:[A-Z]+\d+)\)$")
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell: what is shown (the cached value of a formula), the formula if any, and its number format."""

    value: Any
    formula: str | None
    number_format: str
    ref: str


class Book:
    """A workbook opened twice, as formulas and as cached values."""

    def __init__(self, content: bytes) -> None:
        self.formulas = load_workbook(io.BytesIO(content))
        self.values = load_workbook(io.BytesIO(content), data_only=True)

    def keys(self, sheet: str) -> dict[str, str]:
        """Header → API key of a sheet, from the 字段 sheet."""
        rows = list(self.values["字段"].iter_rows(values_only=True))[1:]
        return {header: key for name, header, key, _ in rows if name == sheet and key}

    def headers(self, sheet: str) -> list[str]:
        """The header row of a sheet."""
        return [c.value for c in self.formulas[sheet][1]]

    def table(self, sheet: str) -> list[dict[str, Cell]]:
        """The rows of a sheet below its header, by API key."""
        keys = self.keys(sheet)
        header = self.headers(sheet)
        ws, wv = self.formulas[sheet], self.values[sheet]
        out = []
        for row_f, row_v in zip(ws.iter_rows(min_row=2), wv.iter_rows(min_row=2), strict=True):
            record = {}
            for h, f, v in zip(header, row_f, row_v, strict=True):
                formula = f.value if isinstance(f.value, str) and f.value.startswith("=") else None
                record[keys[h]] = Cell(v.value, formula, f.number_format, f.coordinate)
            out.append(record)
        return out

    def about(self) -> dict[str, Any]:
        """The 说明 sheet by key (its hidden third column)."""
        rows = list(self.values["说明"].iter_rows(values_only=True))[1:]
        return {key: value for _, value, key in rows}

    def evaluate(self, sheet: str, formula: str) -> Any:
        """What Excel computes for one of the workbook's formulas, from the cells it names."""
        ws = self.values[sheet]
        if m := _RATIO.match(formula):
            guard, top, bottom, digits = m.groups()
            assert guard == bottom, formula
            d = ws[bottom].value or 0
            return "" if d == 0 else round((ws[top].value or 0) / d, int(digits))
        if m := _SUM.match(formula):
            lo_col, lo_row, hi_col, hi_row = range_boundaries(m.group(1))
            return sum(
                ws.cell(row=r, column=c).value or 0
                for r in range(lo_row, hi_row + 1)
                for c in range(lo_col, hi_col + 1)
            )
        raise AssertionError(f"a formula this helper does not know: {formula}")


def column_of(ref: str) -> int:
    """The column number of a cell reference."""
    return column_index_from_string(re.match(r"[A-Z]+", ref).group(0))  # type: ignore[union-attr]
