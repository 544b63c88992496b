"""Logging in (OAuth2 password flow → JWT), users, and revocable API tokens for machines."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from campuspulse.server.access import credentials
from campuspulse.server.access.principals import (
    Forbidden,
    Principal,
    Role,
    ScopeKind,
    covers_school,
    region_districts,
)
from campuspulse.server.api import answers
from campuspulse.server.api.auth import Caller
from campuspulse.server.api.schemas import Id
from campuspulse.server.deps import Db
from campuspulse.server.errors import NotFound
from campuspulse.store.access_schema import ApiToken, User

router = APIRouter(tags=["auth"])


class UserIn(BaseModel):
    """`POST /users`."""

    model_config = ConfigDict(extra="forbid")
    username: Id
    password: str | None = Field(None, min_length=10, max_length=200, description="none for a machine user")
    role: Role
    scope_kind: ScopeKind
    scope_id: str = Field("", max_length=64)


class ApiTokenIn(BaseModel):
    """`POST /auth/api-tokens`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="what the token is for, e.g. the agent's host")
    username: Id | None = Field(None, description="admins may create tokens for another user")
    ttl_days: int | None = Field(None, ge=1, le=3650, description="none: until revoked")
    agent: Id | None = Field(
        None, description="bind the token to this agent: it then posts this agent's records and no other's"
    )


def _user_out(u: User) -> dict[str, object]:
    return {
        "username": u.username,
        "role": u.role,
        "scope_kind": u.scope_kind,
        "scope_id": u.scope_id,
        "disabled": u.disabled,
        "has_password": u.password_hash is not None,
    }


def _token_out(t: ApiToken) -> dict[str, object]:
    return {
        "id": t.id,
        "username": t.username,
        "name": t.name,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
        "agent": t.agent,
    }


@router.post("/auth/token", response_model=answers.AccessToken)
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], db: Db) -> dict[str, object]:
    """Exchange a username and password for a bearer access token (a JWT).

    After `server.login_attempts` failures for a username from one address, logins are refused (429) until
    the window (`server.login_window_s`) is over.
    """
    limit, window = request.app.state.login_limit
    address = request.client.host if request.client else "?"
    try:
        user = credentials.log_in(db, form.username, form.password, address, limit, window)
    except credentials.TooManyAttempts as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers=headers) from None
    except credentials.BadCredentials as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    ttl: timedelta = request.app.state.access_token_ttl
    token = credentials.issue_access_token(user, request.app.state.jwt_key, ttl)
    return {"access_token": token, "token_type": "bearer", "expires_in": int(ttl.total_seconds())}


@router.get("/auth/me", response_model=answers.Me)
def me(caller: Caller) -> dict[str, object]:
    """Who the token acts as, and over what."""
    return {"username": caller.name, "role": caller.role, "scope_kind": caller.scope_kind, "scope_id": caller.scope_id}


def _may_create(db: Db, caller: Principal, body: UserIn) -> None:
    if caller.role is Role.ADMIN:
        return
    if caller.role is Role.DISTRICT_MANAGER and body.role in (Role.SCHOOL_MANAGER, Role.AUDITOR, Role.TEACHER):
        inside = (body.scope_kind is ScopeKind.SCHOOL and covers_school(db, caller, body.scope_id)) or (
            body.scope_kind is ScopeKind.REGION and body.scope_id in region_districts(db, caller.scope_id)
        )
        if inside:
            return
    if caller.role is Role.SCHOOL_MANAGER and body.role is Role.TEACHER and body.scope_id == caller.scope_id:
        return  # a school's manager signs up its teachers
    raise Forbidden(f"{caller.name} ({caller.role.value}) may not create a {body.role.value} over that scope")


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=answers.UserOut)
def create_user(body: UserIn, db: Db, caller: Caller) -> dict[str, object]:
    """Create a user (admins; district managers for school managers, auditors and teachers inside their region;
    school managers for teachers of their school)."""
    _may_create(db, caller, body)
    try:
        user = credentials.create_user(db, body.username, body.role, body.scope_kind, body.scope_id, body.password)
    except ValueError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _user_out(user)


@router.get("/users", response_model=answers.Users)
def list_users(db: Db, caller: Caller) -> dict[str, object]:
    """Every user (admins)."""
    if caller.role is not Role.ADMIN:
        raise Forbidden("only an admin may list users")
    return {"users": [_user_out(u) for u in credentials.list_users(db)]}


def _admin_over(caller: Principal, username: str) -> None:
    if caller.role is not Role.ADMIN:
        raise Forbidden("only an admin may change, disable or delete users")
    if username == caller.name:
        raise HTTPException(status.HTTP_409_CONFLICT, "an admin may not change, disable or delete their own user")


class UserChangeIn(BaseModel):
    """`PATCH /users/{username}`: any of these; a new role, scope or password, or disabling, ends the user's
    sessions."""

    model_config = ConfigDict(extra="forbid")
    disabled: bool | None = None
    role: Role | None = None
    scope_kind: ScopeKind | None = None
    scope_id: str | None = Field(None, max_length=64)
    password: str | None = Field(None, min_length=10, max_length=200, description="a new password (a reset)")


@router.patch("/users/{username}", response_model=answers.UserOut)
def change_user(username: str, body: UserChangeIn, db: Db, caller: Caller) -> dict[str, object]:
    """Disable or enable a user, change their role or scope, or reset their password (admins; audited). Every
    change but enabling ends the user's sessions at once."""
    _admin_over(caller, username)
    try:
        user = credentials.existing_user(db, username)
        if body.role is not None or body.scope_kind is not None or body.scope_id is not None:
            role = body.role or Role(user.role)
            kind = body.scope_kind or ScopeKind(user.scope_kind)
            scope_id = body.scope_id if body.scope_id is not None else ("" if kind is ScopeKind.ALL else user.scope_id)
            credentials.set_role(db, username, role, kind, scope_id)
        if body.password is not None:
            credentials.set_password(db, username, body.password)
        if body.disabled is not None:
            credentials.set_disabled(db, username, body.disabled)
    except LookupError as exc:
        raise NotFound(str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _user_out(user)


class PasswordChangeIn(BaseModel):
    """`POST /auth/password`."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=200)
    new_password: str = Field(min_length=10, max_length=200)


@router.post("/auth/password", response_model=answers.AccessToken)
def change_password(request: Request, body: PasswordChangeIn, db: Db, caller: Caller) -> dict[str, object]:
    """Change one's own password: every session of the user ends (this one too); the answer carries a new access
    token."""
    try:
        user = credentials.change_own_password(db, caller.name, body.current_password, body.new_password)
    except credentials.BadCredentials:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong") from None
    ttl: timedelta = request.app.state.access_token_ttl
    token = credentials.issue_access_token(user, request.app.state.jwt_key, ttl)
    return {"access_token": token, "token_type": "bearer", "expires_in": int(ttl.total_seconds())}


@router.delete("/users/{username}", status_code=status.HTTP_204_NO_CONTENT)
def delete_user(username: str, db: Db, caller: Caller) -> None:
    """Delete a user: their API tokens are revoked and their sessions die with them, also when the name is given to
    a new user later (admins; audited)."""
    _admin_over(caller, username)
    try:
        credentials.delete_user(db, username)
    except LookupError as exc:
        raise NotFound(str(exc)) from None


@router.post("/auth/api-tokens", status_code=status.HTTP_201_CREATED, response_model=answers.NewApiToken)
def create_api_token(body: ApiTokenIn, db: Db, caller: Caller) -> dict[str, object]:
    """A new API token; its secret is shown once, in this answer."""
    username = body.username or caller.name
    if username != caller.name and caller.role is not Role.ADMIN:
        raise Forbidden("only an admin may create tokens for another user")
    ttl = timedelta(days=body.ttl_days) if body.ttl_days else None
    try:
        row, secret = credentials.create_api_token(db, username, body.name, ttl, body.agent)
    except credentials.BadCredentials as exc:
        raise NotFound(str(exc)) from None
    return {**_token_out(row), "token": secret}


@router.get("/auth/api-tokens", response_model=answers.ApiTokens)
def list_api_tokens(db: Db, caller: Caller) -> dict[str, object]:
    """The caller's API tokens (an admin sees all)."""
    rows = credentials.api_tokens(db, None if caller.role is Role.ADMIN else caller.name)
    return {"tokens": [_token_out(t) for t in rows]}


@router.delete("/auth/api-tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_token(token_id: str, db: Db, caller: Caller) -> None:
    """Revoke an API token at once."""
    row = db.get(ApiToken, token_id)
    if row is None or (row.username != caller.name and caller.role is not Role.ADMIN):
        raise NotFound(f"no API token {token_id!r} of yours")
    credentials.revoke_api_token(db, token_id)
