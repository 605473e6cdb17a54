"""The admin console (SPEC §5): server-rendered pages under /admin on the admin API's own
services. Every page needs a signed-in admin; its buttons and forms call the JSON admin API
with the session cookie and X-CSRF-Token (static/admin.js), so the console can do exactly what
the API allows, with the same checks and the same audit trail."""

from __future__ import annotations

from fastapi import APIRouter

from enrollpay.web.admin import (
    analytics,
    catalog,
    enrollments,
    operations,
    overview,
    platforms,
    risk,
)

router = APIRouter(include_in_schema=False)
router.include_router(overview.router)
router.include_router(operations.router)
router.include_router(platforms.router)
router.include_router(risk.router)
router.include_router(enrollments.router)
router.include_router(catalog.router)
router.include_router(analytics.router)
