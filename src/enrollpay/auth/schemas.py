from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from enrollpay.auth.account_tokens import TOKEN_MAX_LENGTH
from enrollpay.users.schemas import UserOut

_PHONE = re.compile(r"^\+?[0-9]{10,15}$")


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    compact = re.sub(r"[\s\-()]", "", value)
    if not _PHONE.match(compact):
        raise ValueError("a phone number is 10 to 15 digits, optionally with a leading +")
    return compact


def _password(value: str) -> str:
    if not value.strip():
        raise ValueError("the password cannot be only spaces")
    return value


PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
Password = Annotated[
    str,
    Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
    AfterValidator(_password),
]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str | None, AfterValidator(_phone)]


class StrictBody(BaseModel):
    # Unknown fields are refused (422), so e.g. {"role": "admin"} can never slip through.
    model_config = ConfigDict(extra="forbid")


class SignupRequest(StrictBody):
    email: EmailStr = Field(max_length=320)
    password: Password
    full_name: FullName
    phone: Phone = None


class LoginRequest(StrictBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=128)


class TokenResponse(BaseModel):
    user: UserOut
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


AccountToken = Annotated[str, Field(min_length=1, max_length=TOKEN_MAX_LENGTH)]


class PasswordResetRequest(StrictBody):
    email: EmailStr = Field(max_length=320)


class PasswordResetConfirm(StrictBody):
    token: AccountToken
    new_password: Password


class VerifyEmailConfirm(StrictBody):
    token: AccountToken


class PasswordChange(StrictBody):
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    new_password: Password


class AccountActionOut(BaseModel):
    """What a password-reset or verification call did."""

    status: Literal["accepted", "sent", "already_verified", "password_changed", "email_verified"]
    message: str
