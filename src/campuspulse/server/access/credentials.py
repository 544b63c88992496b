"""Credentials: argon2 password hashes, short-lived JWT access tokens, revocable API tokens for machines."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Principal, Role, ScopeKind, check_role_scope, require_write
from campuspulse.store.access_schema import ApiToken, EndedSession, LoginFailure, ServerSecret, User
from campuspulse.store.audit import fingerprint
from campuspulse.store.schema import Agent

_hasher = PasswordHasher()
_ALGORITHM = "HS256"
API_TOKEN_PREFIX = "cpt_"
# Verifying against this keeps a login for an unknown user as slow as one with a wrong password.
_DUMMY_HASH = _hasher.hash("not a password")


class BadCredentials(ValueError):
    """A login or token that does not authenticate anyone."""


def principal_of(user: User, agent: str | None = None) -> Principal:
    """The principal a user acts as (through a token bound to `agent`, if given)."""
    return Principal(user.username, Role(user.role), ScopeKind(user.scope_kind), user.scope_id, agent)


def create_user(
    s: Session, username: str, role: Role, kind: ScopeKind, scope_id: str = "", password: str | None = None
) -> User:
    """A new user; ValueError if the name is taken or the role cannot have this scope."""
    check_role_scope(role, kind, scope_id)
    if s.get(User, username) is not None:
        raise ValueError(f"user {username!r} exists already")
    user = User(
        username=username,
        role=role.value,
        scope_kind=kind.value,
        scope_id=scope_id,
        password_hash=_hasher.hash(password) if password else None,
        created_at=datetime.now(UTC),
    )
    s.add(user)
    s.flush()
    return user


def authenticate_password(s: Session, username: str, password: str) -> User:
    """The user with this name and password; BadCredentials otherwise (same answer for either mistake)."""
    user = s.get(User, username)
    try:
        _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise BadCredentials("wrong username or password") from None
    if user is None or user.password_hash is None or user.disabled:
        raise BadCredentials("wrong username or password")
    return user


JWT_KEY_IN_USE = "jwt_signing_key_in_use"  # which key signs sessions (a fingerprint): its changes are audited


def signing_key(s: Session, configured: str | None) -> str:
    """The JWT signing key: the configured one, or one generated once and shared through the store. Which key is
    in use is recorded in the store, so that a change of key enters the audit chain (the session names its
    actor)."""
    if configured:
        key = configured
    else:
        row = s.get(ServerSecret, "jwt_signing_key")
        if row is None:
            row = ServerSecret(name="jwt_signing_key", value=secrets.token_urlsafe(48))
            s.add(row)
        key = row.value
    mark = f"{'configured' if configured else 'store'} {fingerprint(key)}"
    in_use = s.get(ServerSecret, JWT_KEY_IN_USE)
    if in_use is None:
        s.add(ServerSecret(name=JWT_KEY_IN_USE, value=mark))
    elif in_use.value != mark:
        in_use.value = mark
    s.flush()
    return key


def _incarnation(user: User) -> int:
    """Which user of that name this is: its creation time in ms (a name deleted and taken again is another user)."""
    return int(user.created_at.timestamp() * 1000)


def issue_access_token(user: User, key: str, ttl: timedelta) -> str:
    """A signed JWT naming the user (and which user of that name), valid for `ttl`."""
    now = datetime.now(UTC)
    claims = {"sub": user.username, "uid": _incarnation(user), "gen": user.session_gen, "iat": now, "exp": now + ttl}
    claims["jti"] = secrets.token_hex(8)
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def _active(s: Session, username: str) -> User:
    user = s.get(User, username)
    if user is None or user.disabled:
        raise BadCredentials("the token's user no longer exists or is disabled")
    return user


def user_of_access_token(s: Session, token: str, key: str) -> User:
    """The user a JWT names; BadCredentials if it is forged, expired or the user is disabled."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError:
        raise BadCredentials("the access token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise BadCredentials("token not recognised") from None
    user = _active(s, str(claims["sub"]))
    if claims.get("uid") != _incarnation(user):
        raise BadCredentials("the token's user no longer exists; log in again")
    if claims.get("gen", 0) != user.session_gen:
        raise BadCredentials("the session was ended by a change of password, role or access; log in again")
    if s.get(EndedSession, str(claims.get("jti", ""))) is not None:
        raise BadCredentials("the session was ended (logged out); log in again")
    return user


def end_session(s: Session, token: str, key: str) -> None:
    """Refuse this access token from now on (logout), forgetting ended sessions that have expired anyway."""
    try:
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options={"require": ["exp", "jti"]})
    except jwt.InvalidTokenError:
        return  # forged or expired: nothing to end
    now = datetime.now(UTC)
    s.execute(delete(EndedSession).where(EndedSession.expires_at < now))
    if s.get(EndedSession, str(claims["jti"])) is None:
        s.add(EndedSession(jti=str(claims["jti"]), expires_at=datetime.fromtimestamp(claims["exp"], UTC)))
    s.flush()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    s: Session, username: str, name: str, ttl: timedelta | None = None, agent: str | None = None
) -> tuple[ApiToken, str]:
    """A new API token for `username` (bound to `agent`, if given); the secret is returned once and only its hash
    is kept. A token bound to an agent must belong to a user who may write the agent's school (Forbidden)."""
    user = _active(s, username)
    if agent is not None:
        bound = s.get(Agent, agent)
        if bound is None:
            raise BadCredentials(f"no agent {agent!r}; register it with PUT /api/v1/agents/{agent}")
        require_write(s, principal_of(user), bound.school)
    ident, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = ApiToken(
        id=ident,
        username=username,
        name=name,
        secret_hash=_digest(secret),
        created_at=now,
        expires_at=now + ttl if ttl else None,
        agent=agent,
    )
    s.add(row)
    s.flush()
    return row, f"{API_TOKEN_PREFIX}{ident}.{secret}"


def principal_of_api_token(s: Session, token: str) -> Principal:
    """Who an API token acts as, and for which agent if it is bound to one; BadCredentials if unknown, revoked
    or expired."""
    ident = token.removeprefix(API_TOKEN_PREFIX).partition(".")[0]
    user = user_of_api_token(s, token)
    row = s.get(ApiToken, ident)
    return principal_of(user, row.agent if row is not None else None)


def user_of_api_token(s: Session, token: str) -> User:
    """The user an API token acts as; BadCredentials if unknown, revoked or expired."""
    ident, _, secret = token.removeprefix(API_TOKEN_PREFIX).partition(".")
    row = s.get(ApiToken, ident)
    if row is None or not secrets.compare_digest(row.secret_hash, _digest(secret)):
        raise BadCredentials("token not recognised")
    if row.revoked_at is not None:
        raise BadCredentials(f"API token {ident} was revoked")
    expires = row.expires_at
    if expires is not None and expires <= datetime.now(UTC):
        raise BadCredentials(f"API token {ident} has expired; create a new one")
    user = _active(s, row.username)
    if row.created_at < user.created_at:  # made for an earlier user of that name, since deleted
        raise BadCredentials(f"API token {ident} belongs to a deleted user")
    return user


def delete_user(s: Session, username: str) -> User:
    """Delete a user and revoke their API tokens; their sessions die with them. LookupError if there is none."""
    user = s.get(User, username)
    if user is None:
        raise LookupError(f"no user {username!r}")
    now = datetime.now(UTC)
    for token in s.scalars(select(ApiToken).where(ApiToken.username == username, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
    s.delete(user)
    s.flush()
    return user


def set_disabled(s: Session, username: str, disabled: bool) -> User:
    """Disable a user (every token and session refused at once) or enable them again; LookupError if none."""
    user = existing_user(s, username)
    if disabled and not user.disabled:
        user.session_gen += 1  # enabling again does not revive the sessions disabling ended
    user.disabled = disabled
    s.flush()
    return user


def existing_user(s: Session, username: str) -> User:
    """The user of that name; LookupError if there is none."""
    user = s.get(User, username)
    if user is None:
        raise LookupError(f"no user {username!r}")
    return user


def set_password(s: Session, username: str, password: str | None) -> User:
    """Set (or, with None, remove) a user's password and end every session of theirs; LookupError if none."""
    user = existing_user(s, username)
    user.password_hash = _hasher.hash(password) if password else None
    user.session_gen += 1
    s.flush()
    return user


def change_own_password(s: Session, username: str, current: str, new: str) -> User:
    """A user's own password change: the current one must be right (BadCredentials); every session ends."""
    user = authenticate_password(s, username, current)
    return set_password(s, user.username, new)


def set_role(s: Session, username: str, role: Role, kind: ScopeKind, scope_id: str = "") -> User:
    """Give a user another role or scope and end their sessions; ValueError if the role cannot have this scope,
    LookupError if there is no such user."""
    check_role_scope(role, kind, scope_id)
    user = existing_user(s, username)
    if (user.role, user.scope_kind, user.scope_id) != (role.value, kind.value, scope_id):
        user.role, user.scope_kind, user.scope_id = role.value, kind.value, scope_id
        user.session_gen += 1
    s.flush()
    return user


def revoke_api_token(s: Session, ident: str) -> ApiToken:
    """Revoke an API token at once; LookupError if there is none."""
    row = s.get(ApiToken, ident)
    if row is None:
        raise LookupError(f"no API token {ident!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return row


def api_tokens(s: Session, username: str | None = None) -> list[ApiToken]:
    """API tokens, newest first, of one user or of all."""
    q = select(ApiToken).order_by(ApiToken.created_at.desc())
    if username is not None:
        q = q.where(ApiToken.username == username)
    return list(s.scalars(q))


def list_users(s: Session) -> list[User]:
    """Every user, by name."""
    return list(s.scalars(select(User).order_by(User.username)))


class TooManyAttempts(BadCredentials):
    """Logins refused for a while after repeated failures; `retry_after_s` says for how long."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


MAX_DELAY_S = 60  # the longest a stranger's wrong passwords can make a named user wait between tries
ADDRESS_FACTOR = 10  # failures one address may make in a window, as a multiple of the per-name allowance


def check_throttle(s: Session, username: str, address: str, limit: int, window: timedelta) -> None:
    """Raise TooManyAttempts while the name must wait (growing delays after `limit` failures in a row, at most
    MAX_DELAY_S) or the address has failed too often within the window (ADDRESS_FACTOR × `limit`)."""
    now = datetime.now(UTC)
    by_address = s.get(LoginFailure, f"addr:{address}"[:200])
    if by_address is not None and by_address.count >= limit * ADDRESS_FACTOR:
        left = (by_address.first_at + window - now).total_seconds()
        if left > 0:
            raise TooManyAttempts(int(left) + 1)
    by_name = s.get(LoginFailure, f"name:{username}")
    if by_name is not None and by_name.count >= limit:
        # for a name, `first_at` keeps the time of its latest failure
        wait = min(2 ** (by_name.count - limit), MAX_DELAY_S) - (now - by_name.first_at).total_seconds()
        if wait > 0:
            raise TooManyAttempts(int(wait) + 1)


def record_failure(s: Session, username: str, address: str, window: timedelta) -> None:
    """Count a failed login: one more in a row for the name, one more in the window for the address."""
    now = datetime.now(UTC)
    key = f"addr:{address}"[:200]
    row = s.get(LoginFailure, key, with_for_update=True)
    if row is None:
        s.add(LoginFailure(key=key, first_at=now, count=1))
    elif now - row.first_at > window:
        row.first_at, row.count = now, 1
    else:
        row.count += 1
    key = f"name:{username}"
    row = s.get(LoginFailure, key, with_for_update=True)
    if row is None:
        s.add(LoginFailure(key=key, first_at=now, count=1))
    else:
        row.first_at, row.count = now, row.count + 1


def clear_failures(s: Session, username: str) -> None:
    """Forget a name's failures in a row after it logged in (the address keeps its window)."""
    row = s.get(LoginFailure, f"name:{username}")
    if row is not None:
        s.delete(row)


MAX_USERNAME = 64  # the users table's username column


def log_in(s: Session, username: str, password: str, address: str, limit: int, window: timedelta) -> User:
    """The user of a password login from `address`, counting failures per name and per address (kept even when the
    caller's transaction rolls back); raises TooManyAttempts while throttled, BadCredentials when wrong. A stranger's
    wrong passwords slow a name down (growing delays, at most MAX_DELAY_S), never lock it out for a window."""
    if len(username) > MAX_USERNAME:  # no such user can exist, and the throttling key must fit its column
        raise BadCredentials("wrong username or password")
    check_throttle(s, username, address, limit, window)
    try:
        user = authenticate_password(s, username, password)
    except BadCredentials:
        with Session(s.get_bind()) as other, other.begin():
            record_failure(other, username, address, window)
        raise
    clear_failures(s, username)
    return user
