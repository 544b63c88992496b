"""Device kinds in words: `GET /device-kinds` (everyone), `PUT`/`DELETE /device-kinds/{kind}` (admins)."""

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from campuspulse.server.access.principals import require_admin
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.provisioning import answer
from campuspulse.server.api.schemas import IdPath
from campuspulse.server.deps import Db
from campuspulse.server.inventory import kinds

router = APIRouter(tags=["inventory"])


class KindIn(BaseModel):
    """`PUT /device-kinds/{kind}`: what the kind is called."""

    model_config = ConfigDict(extra="forbid")
    name_zh: str = Field(min_length=1, max_length=100, description="e.g. 投影仪")
    name_en: str | None = Field(None, min_length=1, max_length=100, description="e.g. projector")


@router.get("/device-kinds", response_model=answers.DeviceKinds)
def list_kinds(db: Db, _: Caller) -> dict[str, object]:
    """Every named kind: the built-in names with the store's over them (`named_here`)."""
    stored = set(kinds.stored_kinds(db))
    return {
        "kinds": [
            {"kind": k, "name_zh": zh, "name_en": en, "named_here": k in stored}
            for k, (zh, en) in sorted(kinds.kind_names(db).items())
        ]
    }


@router.put("/device-kinds/{kind}", response_model=answers.DeviceKindOut)
def put_kind(kind: IdPath, body: KindIn, db: Db, response: Response, caller: Caller) -> dict[str, object]:
    """Name a device kind for every page and report (admins; audited)."""
    require_admin(caller, "name device kinds")
    created = kinds.put_kind(db, kind, body.name_zh, body.name_en)
    return answer(created, response, {"kind": kind, **body.model_dump()})


@router.delete("/device-kinds/{kind}", status_code=status.HTTP_204_NO_CONTENT)
def delete_kind(kind: IdPath, db: Db, caller: Caller) -> None:
    """Forget the store's name of a kind: its built-in name, if any, shows again (admins)."""
    require_admin(caller, "name device kinds")
    if not kinds.delete_kind(db, kind):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"kind {kind!r} has no name in the store")
