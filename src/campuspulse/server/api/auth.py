"""Bearer-token authentication. A new server accepts `CAMPUSPULSE_ADMIN_TOKEN` as its first admin."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


def require_token(request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The caller's principal; 401 without a valid `Authorization: Bearer <token>`."""
    expected: str | None = request.app.state.admin_token
    if cred is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    if not expected or not secrets.compare_digest(cred.credentials.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "token not recognised", headers={"WWW-Authenticate": "Bearer"}
        )
    return "admin"


Principal = Annotated[str, Depends(require_token)]
