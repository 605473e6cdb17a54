"""The admin console (SPEC §5): server-rendered pages under /admin on the admin API's own
services. Every page needs a signed-in admin; its buttons and forms call the JSON admin API
with the session cookie and X-CSRF-Token (static/admin.js), so the console can do exactly what
the API allows, with the same checks and the same audit trail."""

from __future__ import annotations

from fastapi import APIRouter

from enrollpay.web.admin import overview

router = APIRouter(include_in_schema=False)
router.include_router(overview.router)
