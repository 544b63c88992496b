"""`POST /ingest/records`: the MQTT records payload over HTTP, for agents that cannot speak MQTT."""

import asyncio

from fastapi import APIRouter, HTTPException, Request, status

from campuspulse.server.access.principals import require_write
from campuspulse.server.api.auth import Caller
from campuspulse.server.deps import Db, WriterDep
from campuspulse.telemetry import ContractError, parse_records_payload

router = APIRouter(tags=["telemetry"])
SOURCE = "http:/api/v1/ingest/records"


@router.post("/ingest/records")
async def ingest_records(request: Request, writer: WriterDep, caller: Caller, db: Db) -> dict[str, object]:
    """Store a batch; bad records become dead letters and the rest is stored."""
    raw = await request.body()
    try:
        batch = parse_records_payload(raw)
    except ContractError as exc:
        writer.dead_letter(SOURCE, str(exc), raw.decode("utf-8", "replace"))
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"payload rejected: {exc}") from None
    await asyncio.to_thread(require_write, db, caller, batch.school)
    result = writer.ingest(batch, SOURCE)
    if result.dead_letters and not result.stored and not result.duplicates:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, {"dead_letters": result.dead_letters, "reasons": result.reasons}
        )
    return {
        "stored": result.stored,
        "duplicates": result.duplicates,
        "pending": result.pending,
        "dead_letters": result.dead_letters,
        "reasons": result.reasons,
    }
