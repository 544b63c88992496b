"""Equipment standards: read by every role, written by admins (usually loaded from `config/standards/`)."""

from fastapi import APIRouter, Response

from campuspulse.server.access.principals import require_admin
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.provisioning import answer
from campuspulse.server.deps import Db
from campuspulse.server.inventory import standards
from campuspulse.server.inventory.service import row_dict

router = APIRouter(tags=["standards"])


@router.get("/standards", response_model=answers.Standards)
def list_standards(db: Db, _: Caller) -> dict[str, object]:
    """Every standard version."""
    return {"standards": [row_dict(s) for s in standards.list_standards(db)]}


@router.get("/standards/{code}", response_model=answers.StandardOut)
def get_standard(code: str, db: Db, _: Caller, version: str | None = None) -> dict[str, object]:
    """A standard version (default: the newest) with its items and their quantity rules."""
    row, items = standards.get_standard(db, code, version)
    return {**row_dict(row), "items": [standards.item_out(i) for i in items]}


@router.put("/standards/{code}/{version}", response_model=answers.StandardOut)
def put_standard(
    code: str, version: str, body: standards.StandardIn, db: Db, response: Response, caller: Caller
) -> dict[str, object]:
    """Create or replace a standard version with exactly these items (admins)."""
    require_admin(caller, "change equipment standards")
    created = standards.put_standard(db, code, version, body)
    row, items = standards.get_standard(db, code, version)
    return answer(created, response, {**row_dict(row), "items": [standards.item_out(i) for i in items]})
