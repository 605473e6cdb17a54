"""The dev mailbox: what would have been emailed, for development without a mail server.

Mounted only when no SMTP_URL is set and the app runs on the built-in Razorpay sandbox, so it
never exists in production: the messages hold password-reset and payment links, and the pages
have no authentication.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from enrollpay.config import Settings
from enrollpay.db.session import SessionDep
from enrollpay.errors import NotFound
from enrollpay.kit.ids import has_prefix
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor
from enrollpay.notifications import repository
from enrollpay.notifications.rendering import environment
from enrollpay.notifications.schemas import MailboxMessageOut

PAGE_PATH = "/dev/mailbox"
API_PATH = "/api/v1/dev/mailbox"
# The messages carry live links with tokens: never cached, never leaked as a Referer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def mailbox_enabled(settings: Settings) -> bool:
    return settings.SMTP_URL is None and settings.sandbox_mode


def dev_mailbox_router(settings: Settings) -> APIRouter:
    """The mailbox routes, or an empty router when they must not exist."""
    router = APIRouter(include_in_schema=False)
    if not mailbox_enabled(settings):
        return router

    @router.get(PAGE_PATH, response_class=HTMLResponse)
    async def mailbox_page(
        session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> HTMLResponse:
        messages = await repository.list_messages(
            session, before_id=checked_cursor(cursor, "msg"), limit=limit
        )
        next_cursor = messages[-1].id if len(messages) == limit else None
        html = environment.get_template("mailbox/list.html").render(
            messages=messages, next_cursor=next_cursor, limit=limit
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @router.get(PAGE_PATH + "/{email_id}", response_class=HTMLResponse)
    async def mailbox_message_page(session: SessionDep, email_id: str) -> HTMLResponse:
        message = await repository.get(session, email_id) if has_prefix(email_id, "msg") else None
        if message is None:
            raise NotFound("No such message in the dev mailbox.")
        html = environment.get_template("mailbox/message.html").render(
            message=message, sender=settings.EMAIL_FROM
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @router.get(API_PATH, response_model=Page[MailboxMessageOut])
    async def mailbox_api(
        session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
    ) -> Page[MailboxMessageOut]:
        messages = await repository.list_messages(
            session, before_id=checked_cursor(cursor, "msg"), limit=limit
        )
        return Page[MailboxMessageOut](
            items=[MailboxMessageOut.model_validate(m) for m in messages],
            next_cursor=messages[-1].id if len(messages) == limit else None,
        )

    return router
