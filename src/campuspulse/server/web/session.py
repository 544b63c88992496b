"""Browser sessions: the API's access token kept in an HttpOnly, SameSite=Strict cookie."""

import hashlib
import secrets
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from campuspulse.server.access.credentials import BadCredentials, principal_of, user_of_access_token
from campuspulse.server.access.principals import Principal

SESSION_COOKIE = "cp_session"
CSRF_COOKIE = "cp_csrf"


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, next_path: str, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


def page_principal(request: Request, db: Session) -> Principal:
    """The logged-in user of this browser (the audit actor of the request), or LoginRequired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(request.url.path, expired=False)
    try:
        principal = principal_of(user_of_access_token(db, token, request.app.state.jwt_key))
    except BadCredentials:
        raise LoginRequired(request.url.path, expired=True) from None
    db.info["actor"] = principal.name
    return principal


def to_login(_request: Request, exc: Exception) -> Response:
    """Send the browser to the login form, to come back afterwards."""
    assert isinstance(exc, LoginRequired)
    suffix = "&expired=1" if exc.expired else ""
    response = RedirectResponse(f"/ui/login?next={quote(exc.next_path)}{suffix}", status_code=303)
    if exc.expired:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def secure(request: Request) -> bool:
    """Whether cookies should be Secure (the page came over HTTPS, directly or through a proxy)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def form_token(request: Request) -> str:
    """The token of every form a logged-in user posts (logout included): derived from the session cookie, which a
    cross-site page cannot read ("" without a session)."""
    session = request.cookies.get(SESSION_COOKIE)
    return hashlib.sha256(b"logout:" + session.encode()).hexdigest()[:32] if session else ""


def form_token_ok(request: Request, token: str) -> bool:
    """Whether a posted form carries this session's token."""
    expected = form_token(request)
    return bool(expected) and secrets.compare_digest(token, expected)


def csrf_token() -> str:
    """A fresh double-submit token for the login form."""
    return secrets.token_urlsafe(24)


def set_csrf(request: Request, response: Response, token: str) -> None:
    """Set the login form's token as a cookie too; the form's post must carry both, equal."""
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/ui")


def start_session(request: Request, response: Response, token: str, max_age_s: int) -> None:
    """Keep the access token in the session cookie."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age_s, httponly=True, samesite="strict", secure=secure(request), path="/"
    )
    response.delete_cookie(CSRF_COOKIE, path="/ui")


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a path of this site's pages only."""
    return path if path and path.startswith("/ui/") and not path.startswith("//") else "/ui/"
