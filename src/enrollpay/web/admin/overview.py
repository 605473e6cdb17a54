"""The console's first page: what needs an operator's eye, and a search box for a learner."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enrollpay.admin import repository
from enrollpay.db.session import SessionDep
from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.kit.clock import utcnow
from enrollpay.web.admin.pages import AdminPageUser, render_admin

router = APIRouter()


@router.get("/admin")
async def overview_page(request: Request, admin: AdminPageUser, session: SessionDep) -> Response:
    overview = await repository.overview(session, now=utcnow())
    context = {
        "title": "Overview",
        "overview": overview,
        "statuses": [status.value for status in EnrollmentStatus],
    }
    return render_admin(request, "admin/overview.html", context, user=admin)
