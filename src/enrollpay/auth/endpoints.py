from __future__ import annotations

from fastapi import APIRouter, Request, status

from enrollpay.abuse import service as abuse
from enrollpay.auth import account, service
from enrollpay.auth.dependencies import CurrentUser
from enrollpay.auth.schemas import (
    AccountActionOut,
    LoginRequest,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    SignupRequest,
    TokenResponse,
    VerifyEmailConfirm,
)
from enrollpay.auth.tokens import issue_access_token
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.client import client_ip
from enrollpay.kit.clock import utcnow
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
    responses={
        409: documented("email_taken: an account with this email exists"),
        429: documented("too_many_requests: too many sign-ups from this address; see Retry-After"),
    },
)
async def signup(body: SignupRequest, request: Request, session: SessionDep) -> TokenResponse:
    limiter = request.app.state.rate_limiter
    ip = client_ip(request)
    await abuse.guard_signup(
        request.app.state.db, request.app.state.settings, limiter, ip, now=utcnow()
    )
    user = await create_user(
        session,
        email=str(body.email),
        password=body.password,
        full_name=body.full_name,
        phone=body.phone,
    )
    await account.send_signup_verification(session, request.app.state.settings, user)
    await abuse.count_new_account(limiter, ip)
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
        client_ip=client_ip(request),
    )
    return _token_response(request, user)


@router.get("/me", response_model=UserOut, summary="The signed-in user")
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


INVALID_TOKEN = documented(
    "invalid_token: the link is malformed, expired, already used or for another address"
)
TOO_MANY = documented("too_many_requests: too many emails asked for; see Retry-After")


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AccountActionOut,
    summary="Email a link to reset the password (the same answer for unknown addresses)",
    responses={429: TOO_MANY},
)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, session: SessionDep
) -> AccountActionOut:
    await account.request_password_reset(
        session,
        request.app.state.settings,
        request.app.state.rate_limiter,
        email=str(body.email),
        client_ip=client_ip(request),
    )
    return AccountActionOut(
        status="accepted",
        message="If an account uses this email, a link to reset its password is on its way.",
    )


@router.post(
    "/auth/password-reset/confirm",
    response_model=AccountActionOut,
    summary="Set a new password with the emailed token",
    responses={400: INVALID_TOKEN},
)
async def confirm_password_reset(
    body: PasswordResetConfirm, request: Request, session: SessionDep
) -> AccountActionOut:
    await account.reset_password(
        session,
        request.app.state.settings,
        request.app.state.rate_limiter,
        token=body.token,
        new_password=body.new_password,
    )
    return AccountActionOut(
        status="password_changed", message="Your password is changed. Sign in with the new one."
    )


@router.post(
    "/auth/password",
    response_model=AccountActionOut,
    summary="Change the signed-in user's password (the current one is checked like a login)",
    responses={
        400: documented("invalid_credentials: the current password is wrong"),
        429: documented("too_many_requests: too many wrong passwords; see Retry-After"),
    },
)
async def change_password(
    body: PasswordChange, user: CurrentUser, request: Request, session: SessionDep
) -> AccountActionOut:
    await account.change_password(
        session,
        request.app.state.rate_limiter,
        user,
        current_password=body.current_password,
        new_password=body.new_password,
        client_ip=client_ip(request),
    )
    return AccountActionOut(status="password_changed", message="Your password is changed.")


@router.post(
    "/auth/verify-email/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AccountActionOut,
    summary="Email a new link to verify the signed-in user's address",
    responses={429: TOO_MANY},
)
async def request_email_verification(
    user: CurrentUser, request: Request, session: SessionDep
) -> AccountActionOut:
    outcome = await account.request_email_verification(
        session, request.app.state.settings, request.app.state.rate_limiter, user
    )
    if outcome == account.VerificationRequest.already_verified:
        return AccountActionOut(
            status="already_verified", message="Your email address is already verified."
        )
    return AccountActionOut(
        status="sent", message=f"A verification link is on its way to {user.email}."
    )


@router.post(
    "/auth/verify-email/confirm",
    response_model=AccountActionOut,
    summary="Verify the email address with the emailed token",
    responses={400: INVALID_TOKEN},
)
async def confirm_email_verification(
    body: VerifyEmailConfirm, request: Request, session: SessionDep
) -> AccountActionOut:
    await account.verify_email(session, request.app.state.settings, body.token)
    return AccountActionOut(status="email_verified", message="Your email address is verified.")
