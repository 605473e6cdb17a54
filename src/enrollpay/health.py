"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from enrollpay.db.engine import Database
from enrollpay.db.migrate import head_revisions

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its migrations are current",
    responses={503: {"description": "Not ready; `checks` says why"}},
)
async def readyz(request: Request) -> Any:
    db: Database = request.app.state.db
    checks: dict[str, str] = {}
    try:
        async with db.engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: set(MigrationContext.configure(sync).get_current_heads())
            )
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head_revisions() else "pending"
    except Exception as exc:  # any failure to reach the database means "not ready"
        checks["database"] = f"unavailable: {type(exc).__name__}"
        checks.setdefault("migrations", "unknown")
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
