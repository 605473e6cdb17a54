from __future__ import annotations

from fastapi import APIRouter, Request, status

from enrollpay.auth import service
from enrollpay.auth.dependencies import CurrentUser
from enrollpay.auth.schemas import LoginRequest, SignupRequest, TokenResponse
from enrollpay.auth.tokens import issue_access_token
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.users.models import User
from enrollpay.users.schemas import UserOut
from enrollpay.users.service import create_user

router = APIRouter(tags=["auth"])


def _token_response(request: Request, user: User) -> TokenResponse:
    token = issue_access_token(request.app.state.settings, user.id)
    return TokenResponse(
        user=UserOut.model_validate(user),
        access_token=token.token,
        expires_in=token.expires_in,
    )


@router.post(
    "/auth/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenResponse,
    summary="Create a learner account and get an access token",
    responses={409: documented("email_taken: an account with this email exists")},
)
async def signup(body: SignupRequest, request: Request, session: SessionDep) -> TokenResponse:
    user = await create_user(
        session,
        email=str(body.email),
        password=body.password,
        full_name=body.full_name,
        phone=body.phone,
    )
    return _token_response(request, user)


@router.post(
    "/auth/login",
    response_model=TokenResponse,
    summary="Exchange email and password for an access token",
    responses={
        401: documented("invalid_credentials: unknown email or wrong password"),
        429: documented("too_many_requests: too many failed logins; see Retry-After"),
    },
)
async def login(body: LoginRequest, request: Request, session: SessionDep) -> TokenResponse:
    user = await service.authenticate(
        session,
        request.app.state.rate_limiter,
        email=body.email,
        password=body.password,
        client_ip=request.client.host if request.client else "unknown",
    )
    return _token_response(request, user)


@router.get("/me", response_model=UserOut, summary="The signed-in user")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
