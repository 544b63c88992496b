"""Any table of the dashboard as an Excel workbook: the rows the user sees (searched and sorted), posted by the page,
written back with numbers as numbers — percentages as percentages, dates as dates — under the table's headers."""

import json
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import Response

from campuspulse.server.deps import XLSX, Db
from campuspulse.server.reports.auditor_xlsx import Book, Col, Kind, Table, write
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.session import form_token_ok, page_principal

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_TABLE_CHARS = 5_000_000
MAX_COLUMNS = 60
_PERCENT = re.compile(r"^-?\d+(\.\d+)?%$")
_NUMBER = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$|^-?\d+(\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILE = re.compile(r"[^A-Za-z0-9_.-]+")  # an ASCII file name: headers carry no other


def _kind(values: list[str]) -> Kind:
    shown = [v for v in values if v not in ("", "—")]
    if not shown:
        return Kind.TEXT
    if all(_PERCENT.match(v) for v in shown):
        return Kind.RATE
    if all(_NUMBER.match(v) for v in shown):
        return Kind.NUMBER
    if all(_DATE.match(v) for v in shown):
        return Kind.DATE
    return Kind.TEXT


def _value(text: str, kind: Kind) -> Any:
    if text in ("", "—"):
        return None
    if kind is Kind.RATE:
        return float(text[:-1]) / 100
    if kind is Kind.NUMBER:
        number = float(text.replace(",", ""))
        return int(number) if number.is_integer() and "." not in text else number
    if kind is Kind.DATE:
        return date.fromisoformat(text).isoformat()
    return text


def table_book(title: str, header: list[str], rows: list[list[str]]) -> Book:
    """A workbook of one table, each column typed by what all its cells hold."""
    width = len(header)
    rows = [(r + [""] * width)[:width] for r in rows]
    kinds = [_kind([r[i] for r in rows]) for i in range(width)]
    cols = [Col(f"c{i + 1}", h or f"列 {i + 1}", kinds[i]) for i, h in enumerate(header)]
    records = [{c.key: _value(r[i], kinds[i]) for i, c in enumerate(cols)} for r in rows]
    sheet = re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "表"
    return Book([("表格", title, "title")], [Table(sheet, cols, records)], fields=False)


@router.post("/table.xlsx")
def table_file(
    request: Request,
    db: Db,
    table: Annotated[str, Form(max_length=MAX_TABLE_CHARS)],
    title: Annotated[str, Form(max_length=200)] = "",
    file: Annotated[str, Form(max_length=200)] = "table",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The posted table as XLSX, for a logged-in page (its form token required)."""
    user = page_principal(request, db)
    t = Text(lang_of(request))
    if not form_token_ok(request, csrf):
        return render(request, "error.html", 403, user=user, heading=t("forbidden"), message=t("form_expired"))
    try:
        data = json.loads(table)
        header = [str(h)[:200] for h in data["header"]][:MAX_COLUMNS]
        rows = [[str(c)[:2000] for c in row][:MAX_COLUMNS] for row in data["rows"]]
    except (ValueError, KeyError, TypeError):
        code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return render(request, "error.html", code, user=user, heading=t("bad_input"), message=t("bad_input"))
    name = (_FILE.sub("-", file).strip("-.") or "table")[:100] + ".xlsx"
    content = write(table_book(title or name, header, rows))
    return Response(content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})
