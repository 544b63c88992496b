"""Who is calling: the bootstrap admin token, an API token (`cpt_…`), or a JWT from `POST /auth/token`."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from campuspulse.server.access.credentials import (
    API_TOKEN_PREFIX,
    BadCredentials,
    principal_of,
    principal_of_api_token,
    user_of_access_token,
)
from campuspulse.server.access.principals import Principal, Role, ScopeKind
from campuspulse.server.deps import Db

BOOTSTRAP_ADMIN = "bootstrap-admin"
_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def current_principal(request: Request, token: Annotated[str | None, Depends(_scheme)], db: Db) -> Principal:
    """The authenticated caller; 401 without a valid `Authorization: Bearer <token>`. Names the audit actor."""
    if not token:
        raise _unauthorized("send Authorization: Bearer <token> (log in at POST /api/v1/auth/token)")
    bootstrap: str | None = request.app.state.admin_token
    if bootstrap and secrets.compare_digest(token.encode(), bootstrap.encode()):
        principal = Principal(BOOTSTRAP_ADMIN, Role.ADMIN, ScopeKind.ALL)
    else:
        try:
            if token.startswith(API_TOKEN_PREFIX):
                principal = principal_of_api_token(db, token)
            else:
                principal = principal_of(user_of_access_token(db, token, request.app.state.jwt_key))
        except BadCredentials as exc:
            raise _unauthorized(str(exc)) from None
    db.info["actor"] = principal.name
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
