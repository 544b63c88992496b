"""Every problem a ledger upload can report reads in Chinese on a Chinese page: the messages are produced by the real
checks (a workbook with one bad cell per row through `import_ledger`), not written out here."""

import io

import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from campuspulse.server.inventory import equipment_ledger
from campuspulse.server.inventory.excel import SheetRejected
from campuspulse.server.web.problems_zh import problem_zh
from campuspulse.store.db import make_engine, upgrade
from campuspulse.store.schema import School

GOOD = {
    "item": "L1",
    "catalog_code": "JP-0101",
    "name": "天平",
    "room": None,
    "quantity": 3,
    "unit": "台",
    "unit_value": "120.00",
    "status": "完好",
    "purchase_date": "2025-09-01",
    "status_since": None,
}
BAD_CELLS = [
    ("quantity", "十"),
    ("quantity", -1),
    ("quantity", 10**9),
    ("quantity", True),
    ("unit_value", "a lot"),
    ("unit_value", -5),
    ("status", "坏了"),
    ("purchase_date", "2026-13-40"),
    ("purchase_date", "1900-01-01"),
    ("name", ""),
    ("name", "名" * 300),
    ("unit", ""),
    ("room", "no-such-room"),
    ("room", "bad room!"),
    ("item", "bad id!"),
    ("catalog_code", ""),
]


@pytest.fixture
def session(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with Session(engine) as s:
        s.info["actor"] = "test"
        s.add(School(code="s1", name="一中", district="d1", stage="junior", tz="Asia/Shanghai"))
        s.flush()
        yield s
    engine.dispose()


def workbook(rows: list[dict]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = equipment_ledger.SHEET
    keys = [c.key for c in equipment_ledger.COLUMNS]
    ws.append([c.header for c in equipment_ledger.COLUMNS])
    for row in rows:
        ws.append([row.get(k) for k in keys])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_every_row_problem_of_a_ledger_upload_reads_in_chinese(session):
    rows = [{**GOOD, "item": f"L{n}", key: value} for n, (key, value) in enumerate(BAD_CELLS, start=2)]
    rows.append({**GOOD, "item": "L2"})  # the same item twice
    with pytest.raises(SheetRejected) as refused:
        equipment_ledger.import_ledger(session, "s1", workbook(rows))
    problems = refused.value.problems
    assert len(problems) >= len(BAD_CELLS)
    untranslated = [p.message for p in problems if problem_zh(p.message) == p.message]
    assert not untranslated, untranslated
    for p in problems:
        said = problem_zh(p.message)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in said), said
        assert "Input should" not in said and "String should" not in said, said
        assert len(said) < 120, "what the cell held is cut short"


@pytest.mark.parametrize("content", [b"not a workbook", b"PK\x03\x04broken"])
def test_a_file_that_is_no_workbook_reads_in_chinese(session, content):
    with pytest.raises(SheetRejected) as refused:
        equipment_ledger.import_ledger(session, "s1", content)
    (problem,) = refused.value.problems
    assert problem_zh(problem.message) != problem.message


def test_an_unknown_message_is_left_as_it_is():
    assert problem_zh("something new (got 3)") == "something new (got 3)"
