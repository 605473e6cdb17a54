"""Who is on the other end of a request: the client address and user agent, in one place.

The address is the socket peer as the ASGI server reports it. Behind a reverse proxy, run
uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy>` so the peer is the real client;
X-Forwarded-For is never read here (anyone can send it)."""

from __future__ import annotations

from starlette.requests import Request

USER_AGENT_MAX_LENGTH = 300


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    return agent[:USER_AGENT_MAX_LENGTH] if agent else None
