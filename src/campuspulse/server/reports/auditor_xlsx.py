"""Workbooks an auditor works in (XlsxWriter): Chinese headers over numbers stored as numbers with %, 元 and hour
formats; each rate an Excel formula over its parts on the same row, whose cached value is the API's figure; a
totals row; widths set, the header frozen and filterable; a 字段 sheet mapping every header to the API's key."""

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from campuspulse.server.inventory.excel import csv_safe

HOUR_S = 3600.0
RATE_DIGITS = 6  # the API's rounding of rates


class Kind(StrEnum):
    """How a column's values are written and shown."""

    TEXT = "text"
    INT = "int"
    HOURS = "hours"  # the API's seconds, written as hours
    YUAN = "yuan"
    RATE = "rate"  # a fraction shown as a percentage
    NUMBER = "number"
    DATE = "date"


_FORMATS: dict[Kind, str] = {
    Kind.INT: "#,##0",
    Kind.HOURS: "#,##0.00",
    Kind.YUAN: "#,##0.00",
    Kind.RATE: "0.0%",
    Kind.NUMBER: "General",  # "0.###" would show a whole number as "5."
    Kind.DATE: "yyyy-mm-dd",
}


@dataclass(frozen=True, slots=True)
class Col:
    """A column: the API's key, its Chinese header, how it is shown, and for a rate the keys of its parts."""

    key: str
    label: str
    kind: Kind = Kind.TEXT
    meaning: str = ""
    width: int = 0
    parts: tuple[str, str] | None = None  # a RATE written as =ROUND(numerator/denominator, 6)
    summed: bool = False  # the totals row adds this column up

    @property
    def header(self) -> str:
        """The header cell's text, with the unit."""
        unit = {Kind.HOURS: "（小时）", Kind.YUAN: "（元）"}.get(self.kind, "")
        return self.label + unit


@dataclass(slots=True)
class Table:
    """A sheet of records; `total`: rows (the API's own totals) written last in bold, or, with `sum_label`, a row of
    SUM formulas over the summed columns."""

    sheet: str
    columns: Sequence[Col]
    rows: list[dict[str, Any]]
    total: list[dict[str, Any]] = field(default_factory=list)
    sum_label: tuple[str, str] | None = None  # (key, label) of the totals row's caption cell
    note: str = ""  # what the sheet holds, on the 字段 sheet
    hidden: bool = False


@dataclass(slots=True)
class Book:
    """An 说明 sheet of (label, value, key), then tables, then free text sheets (title, lines)."""

    about: list[tuple[str, Any, str]]
    tables: list[Table] = field(default_factory=list)
    texts: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    fields: bool = True  # a 字段 sheet mapping each header to its key


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _cached_ratio(numerator: Any, denominator: Any) -> float | str:
    n, d = _number(numerator) or 0, _number(denominator) or 0
    return "" if not d else round(n / d, RATE_DIGITS)


class _Writer:
    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self.head = wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#E8EEF7"})
        self.plain = {kind: wb.add_format({"num_format": f}) for kind, f in _FORMATS.items()}
        self.bold = {kind: wb.add_format({"num_format": f, "bold": True}) for kind, f in _FORMATS.items()}
        self.bold_text = wb.add_format({"bold": True})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})

    def fmt(self, kind: Kind, bold: bool) -> Any:
        if kind is Kind.TEXT:
            return self.bold_text if bold else None
        return (self.bold if bold else self.plain)[kind]

    def table(self, t: Table) -> None:
        ws = self.wb.add_worksheet(t.sheet)
        cols = list(t.columns)
        where = {c.key: i for i, c in enumerate(cols)}
        for i, c in enumerate(cols):
            ws.write_string(0, i, c.header, self.head)
            ws.set_column(i, i, c.width or _width(c, t.rows))
        ws.set_row(0, 32)
        ws.freeze_panes(1, 0)
        n = 0
        for n, row in enumerate(t.rows, start=1):
            self.record(ws, n, cols, where, row, bold=False)
        last = n
        for total in t.total:
            n += 1
            self.record(ws, n, cols, where, total, bold=True)
        if not t.total and t.sum_label is not None and t.rows:
            n += 1
            self.sums(ws, n, cols, where, t, last)
        ws.autofilter(0, 0, max(last, 1), len(cols) - 1)
        if t.hidden:
            ws.hide()

    def record(
        self, ws: Worksheet, r: int, cols: list[Col], where: dict[str, int], row: dict[str, Any], bold: bool
    ) -> None:
        for i, c in enumerate(cols):
            value = row.get(c.key)
            fmt = self.fmt(c.kind, bold)
            if c.parts is not None:
                self.rate(ws, r, i, c, where, row, fmt)
            elif value is None or value == "":
                ws.write_blank(r, i, None, fmt)
            elif c.kind is Kind.HOURS:
                ws.write_number(r, i, float(value) / HOUR_S, fmt)
            elif c.kind is Kind.DATE:
                ws.write_datetime(r, i, date.fromisoformat(str(value)[:10]), fmt)
            elif c.kind is Kind.TEXT or isinstance(value, str):
                ws.write_string(r, i, str(csv_safe(value)), fmt)
            elif isinstance(value, bool):
                ws.write_string(r, i, "是" if value else "否", fmt)
            else:
                ws.write_number(r, i, _number(value), fmt)

    def rate(self, ws: Worksheet, r: int, i: int, c: Col, where: dict[str, int], row: dict[str, Any], fmt: Any) -> None:
        assert c.parts is not None
        top, bottom = c.parts
        value = row.get(c.key)
        if value is None and _number(row.get(bottom)):  # no rate for a reason other than its parts (given beside)
            ws.write_blank(r, i, None, fmt)
            return
        ws.write_formula(r, i, _ratio_formula(r, where[top], where[bottom]), fmt, "" if value is None else value)

    def sums(self, ws: Worksheet, r: int, cols: list[Col], where: dict[str, int], t: Table, last: int) -> None:
        assert t.sum_label is not None
        key, label = t.sum_label
        ws.write_string(r, where[key], label, self.bold_text)
        totals: dict[str, Any] = {}
        for i, c in enumerate(cols):
            if not c.summed:
                continue
            total = sum((Decimal(str(row.get(c.key) or 0)) for row in t.rows), Decimal(0))
            totals[c.key] = total
            cached = float(total) / HOUR_S if c.kind is Kind.HOURS else float(total)
            span = f"{xl_rowcol_to_cell(1, i)}:{xl_rowcol_to_cell(last, i)}"
            ws.write_formula(r, i, f"=SUM({span})", self.fmt(c.kind, True), cached)
        for i, c in enumerate(cols):
            if c.parts is not None and all(p in totals for p in c.parts):
                ratio = _cached_ratio(totals[c.parts[0]], totals[c.parts[1]])
                ws.write_formula(
                    r, i, _ratio_formula(r, where[c.parts[0]], where[c.parts[1]]), self.fmt(c.kind, True), ratio
                )

    def about(self, rows: list[tuple[str, Any, str]]) -> None:
        ws = self.wb.add_worksheet("说明")
        ws.write_row(0, 0, ["项目", "内容", "key"], self.head)
        for r, (label, value, key) in enumerate(rows, start=1):
            ws.write_string(r, 0, label)
            if isinstance(value, date):
                ws.write_datetime(r, 1, value, self.plain[Kind.DATE])
            elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                ws.write_number(r, 1, _number(value))
            else:
                ws.write_string(r, 1, "" if value is None else str(value), self.wrap)
            ws.write_string(r, 2, key)
        ws.set_column(0, 0, 22)
        ws.set_column(1, 1, 90)
        ws.set_column(2, 2, 18, None, {"hidden": True})

    def texts(self, title: str, lines: list[tuple[str, str]]) -> None:
        ws = self.wb.add_worksheet(title)
        ws.write_row(0, 0, ["指标", "说明"], self.head)
        for r, (name, text) in enumerate(lines, start=1):
            ws.write_string(r, 0, name, self.bold_text)
            ws.write_string(r, 1, text, self.wrap)
        ws.set_column(0, 0, 16)
        ws.set_column(1, 1, 110)

    def fields(self, tables: list[Table]) -> None:
        ws = self.wb.add_worksheet("字段")
        ws.write_row(0, 0, ["工作表", "列", "key", "含义"], self.head)
        r = 0
        for t in tables:
            if t.note:
                r += 1
                ws.write_row(r, 0, [t.sheet, "", "", t.note], self.bold_text)
            for c in t.columns:
                r += 1
                formula = f"=ROUND({c.parts[0]}/{c.parts[1]}, {RATE_DIGITS})" if c.parts else ""
                ws.write_row(r, 0, [t.sheet, c.header, c.key, "；".join(x for x in (c.meaning, formula) if x)])
        for i, w in enumerate((16, 22, 20, 80)):
            ws.set_column(i, i, w)
        ws.freeze_panes(1, 0)


def _ratio_formula(r: int, top: int, bottom: int) -> str:
    n, d = xl_rowcol_to_cell(r, top), xl_rowcol_to_cell(r, bottom)
    return f'=IF({d}=0,"",ROUND({n}/{d},{RATE_DIGITS}))'


def _width(c: Col, rows: list[dict[str, Any]]) -> int:
    longest = max((_shown_len(row.get(c.key)) for row in rows[:500]), default=0)
    header = sum(2 if ord(ch) > 0x2E7F else 1 for ch in c.header)
    return max(8, min(48, max(longest, header // 2 + 2) + 2))


def _shown_len(value: Any) -> int:
    if value is None:
        return 0
    text = str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def write(book: Book) -> bytes:
    """The workbook's bytes."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    w = _Writer(wb)
    w.about(book.about)
    for t in book.tables:
        w.table(t)
    for title, lines in book.texts:
        w.texts(title, lines)
    if book.fields:
        w.fields(book.tables)
    wb.close()
    return out.getvalue()
