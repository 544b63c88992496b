"""`POST /ingest/records`: the MQTT records payload over HTTP, for agents that cannot speak MQTT."""

from fastapi import APIRouter, HTTPException, Request, status

from campuspulse.server.api.auth import Principal
from campuspulse.server.api.deps import LedgerDep
from campuspulse.telemetry import ContractError, parse_records_payload

router = APIRouter(tags=["telemetry"])
SOURCE = "http:/api/v1/ingest/records"


@router.post("/ingest/records")
async def ingest_records(request: Request, ledger: LedgerDep, _: Principal) -> dict[str, object]:
    """Store a batch; bad records become dead letters and the rest is stored."""
    raw = await request.body()
    try:
        batch = parse_records_payload(raw)
    except ContractError as exc:
        ledger.dead_letter(SOURCE, str(exc), raw.decode("utf-8", "replace"))
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"payload rejected: {exc}") from None
    result = ledger.ingest(batch, SOURCE)
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
