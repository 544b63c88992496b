"""The dashboard's account pages: one's own password (everyone), and users for admins — create, change role or
scope, reset a password, disable or enable, delete. Every form carries the session's token; every change is
audited and ends the sessions it must."""

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response

from campuspulse.server.access import credentials
from campuspulse.server.access.principals import ALLOWED_SCOPES, Principal, Role, ScopeKind
from campuspulse.server.deps import Db
from campuspulse.server.web.i18n import Text, lang_of
from campuspulse.server.web.pages import render
from campuspulse.server.web.session import form_token_ok, page_principal, start_session
from campuspulse.telemetry.topics import ID_PATTERN

router = APIRouter(prefix="/ui", include_in_schema=False)
MIN_PASSWORD = 10
ACTIONS = ("role", "password", "disable", "enable", "delete")


class Refused(ValueError):
    """A form the page refuses; `key` names the message in the page's language."""

    def __init__(self, key: str, status_code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> None:
        super().__init__(key)
        self.key, self.status_code = key, status_code


def _back(path: str, done: str) -> Response:
    return RedirectResponse(f"{path}?done={done}", status_code=status.HTTP_303_SEE_OTHER)


def _checked(request: Request, csrf: str) -> None:
    if not form_token_ok(request, csrf):
        raise Refused("form_expired", status.HTTP_403_FORBIDDEN)


def _password(new: str, again: str) -> str:
    if len(new) < MIN_PASSWORD or len(new) > 200:
        raise Refused("password_length")
    if new != again:
        raise Refused("password_mismatch")
    return new


def _role_and_scope(role: str, scope_kind: str, scope_id: str) -> tuple[Role, ScopeKind, str]:
    try:
        role_v, kind_v = Role(role), ScopeKind(scope_kind)
    except ValueError:
        raise Refused("role_scope_mismatch") from None
    scope_id = "" if kind_v is ScopeKind.ALL else scope_id.strip()
    if kind_v not in ALLOWED_SCOPES[role_v] or (kind_v is not ScopeKind.ALL and not scope_id) or len(scope_id) > 64:
        raise Refused("role_scope_mismatch")
    return role_v, kind_v, scope_id


def _users_page(request: Request, db: Db, user: Principal, code: int = 200, error: str | None = None) -> Response:
    t = Text(lang_of(request))
    done = request.query_params.get("done")
    return render(
        request,
        "users.html",
        code,
        user=user,
        users=credentials.list_users(db),
        roles=list(Role),
        kinds=list(ScopeKind),
        error=t(error) if error else None,
        done=t(f"done_{done}") if done in ("created", *ACTIONS) else None,
    )


def _admin(request: Request, db: Db) -> Principal:
    user = page_principal(request, db)
    if user.role is not Role.ADMIN:
        raise Refused("admins_only", status.HTTP_403_FORBIDDEN)
    return user


@router.get("/users")
def users(request: Request, db: Db) -> Response:
    """Every user, with what an admin may do to each."""
    try:
        user = _admin(request, db)
    except Refused as exc:
        return _refused(request, db, exc)
    return _users_page(request, db, user)


def _refused(request: Request, db: Db, exc: Refused) -> Response:
    t = Text(lang_of(request))
    user = page_principal(request, db)
    if exc.key == "admins_only":
        return render(request, "error.html", exc.status_code, user=user, heading=t("forbidden"), message=t(exc.key))
    return _users_page(request, db, user, exc.status_code, exc.key)


@router.post("/users")
def create_user(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=32)],
    scope_kind: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=200)],
    password_again: Annotated[str, Form(max_length=200)],
    scope_id: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Create a user with a password."""
    try:
        _admin(request, db)
        _checked(request, csrf)
        role_v, kind_v, ident = _role_and_scope(role, scope_kind, scope_id)
        name = username.strip()
        if not re.fullmatch(ID_PATTERN, name):
            raise Refused("username_form")
        try:
            credentials.create_user(db, name, role_v, kind_v, ident, _password(password, password_again))
        except ValueError:
            raise Refused("user_exists", status.HTTP_409_CONFLICT) from None
    except Refused as exc:
        return _refused(request, db, exc)
    return _back("/ui/users", "created")


@router.post("/users/{username}")
def change_user(
    request: Request,
    db: Db,
    username: str,
    action: Annotated[str, Form(max_length=16)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    scope_kind: Annotated[str, Form(max_length=16)] = "",
    scope_id: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    password_again: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Change a user: `action` is role, password, disable, enable or delete."""
    try:
        me = _admin(request, db)
        _checked(request, csrf)
        if username == me.name:
            raise Refused("not_yourself", status.HTTP_409_CONFLICT)
        if action not in ACTIONS:
            raise Refused("bad_action")
        try:
            if action == "role":
                credentials.set_role(db, username, *_role_and_scope(role, scope_kind, scope_id))
            elif action == "password":
                credentials.set_password(db, username, _password(password, password_again))
            elif action == "delete":
                credentials.delete_user(db, username)
            else:
                credentials.set_disabled(db, username, action == "disable")
        except LookupError:
            raise Refused("no_such_user", status.HTTP_404_NOT_FOUND) from None
    except Refused as exc:
        return _refused(request, db, exc)
    return _back("/ui/users", action)


def _account_page(request: Request, user: Principal, code: int = 200, error: str | None = None) -> Response:
    t = Text(lang_of(request))
    done = request.query_params.get("done") == "password"
    return render(
        request,
        "account.html",
        code,
        user=user,
        error=t(error) if error else None,
        done=t("done_own_password") if done else None,
    )


@router.get("/account")
def account(request: Request, db: Db) -> Response:
    """One's own account: who, over what, and a form to change the password."""
    return _account_page(request, page_principal(request, db))


@router.post("/account/password")
def change_own_password(
    request: Request,
    db: Db,
    current_password: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    password_again: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Change one's own password: every other session of the user ends, this browser gets a new one."""
    user = page_principal(request, db)
    try:
        _checked(request, csrf)
        new = _password(password, password_again)
        try:
            changed = credentials.change_own_password(db, user.name, current_password, new)
        except credentials.BadCredentials:
            raise Refused("current_password_wrong", status.HTTP_403_FORBIDDEN) from None
    except Refused as exc:
        return _account_page(request, user, exc.status_code, exc.key)
    response = _back("/ui/account", "password")
    ttl = request.app.state.access_token_ttl
    token = credentials.issue_access_token(changed, request.app.state.jwt_key, ttl)
    start_session(request, response, token, int(ttl.total_seconds()))
    return response
