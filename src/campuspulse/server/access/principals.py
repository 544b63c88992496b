"""Who is calling and what they may touch: roles over a scope of the region tree (school < district < city).

- `admin`: everything.
- `district_manager`: reads and writes the schools of its region (a district, or a city and its districts).
- `school_manager`: reads and writes one school.
- `auditor`: reads, never writes, across the scope it is given (everything, a region, or a school).
- `teacher`: reads one school and writes only its experiment records (and deletes only those it wrote).
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from campuspulse.store.inventory_schema import Region
from campuspulse.store.schema import School


class Role(StrEnum):
    """What a user may do."""

    ADMIN = "admin"
    DISTRICT_MANAGER = "district_manager"
    SCHOOL_MANAGER = "school_manager"
    AUDITOR = "auditor"
    TEACHER = "teacher"


class ScopeKind(StrEnum):
    """What part of the region tree a user's role applies to."""

    ALL = "all"
    REGION = "region"
    SCHOOL = "school"


ALLOWED_SCOPES: dict[Role, tuple[ScopeKind, ...]] = {
    Role.ADMIN: (ScopeKind.ALL,),
    Role.DISTRICT_MANAGER: (ScopeKind.REGION,),
    Role.SCHOOL_MANAGER: (ScopeKind.SCHOOL,),
    Role.AUDITOR: (ScopeKind.ALL, ScopeKind.REGION, ScopeKind.SCHOOL),
    Role.TEACHER: (ScopeKind.SCHOOL,),
}
MANAGES_NOTHING = (Role.AUDITOR, Role.TEACHER)  # may not change inventory, alerts, reports or telemetry


class Scope(StrEnum):
    """Levels of the region tree a figure can be asked for."""

    CITY = "city"
    DISTRICT = "district"
    SCHOOL = "school"
    ROOM = "room"
    DEVICE = "device"


class Forbidden(PermissionError):
    """The caller's role or scope does not allow this; the message says what it does allow."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role
    scope_kind: ScopeKind
    scope_id: str = ""
    agent: str | None = None  # a token bound to this agent speaks for it alone

    @property
    def scope_label(self) -> str:
        """The scope in words, for error messages."""
        return "everything" if self.scope_kind is ScopeKind.ALL else f"{self.scope_kind.value} {self.scope_id!r}"


def check_role_scope(role: Role, kind: ScopeKind, scope_id: str) -> None:
    """Raise ValueError if `role` cannot be given this scope."""
    if kind not in ALLOWED_SCOPES[role]:
        allowed = " or ".join(k.value for k in ALLOWED_SCOPES[role])
        raise ValueError(f"role {role.value} takes a scope of kind {allowed}, not {kind.value}")
    if (kind is ScopeKind.ALL) != (scope_id == ""):
        raise ValueError("scope 'all' takes no id; 'region' and 'school' need one")


def region_districts(s: Session, region: str) -> set[str]:
    """The region and every region below it (a city's districts)."""
    found, frontier = {region}, {region}
    while frontier:
        children = set(s.scalars(select(Region.code).where(Region.parent.in_(frontier)))) - found
        found |= children
        frontier = children
    return found


def visible_regions(s: Session, p: Principal) -> set[str] | None:
    """The regions `p` may see (None: all): those of its scope, and the regions above them (for names and paths)."""
    if p.scope_kind is ScopeKind.ALL:
        return None
    if p.scope_kind is ScopeKind.SCHOOL:
        school = s.get(School, p.scope_id)
        inside = {school.district} if school is not None else set()
    else:
        inside = region_districts(s, p.scope_id)
    seen, frontier = set(inside), set(inside)
    while frontier:
        rows = s.scalars(select(Region.parent).where(Region.code.in_(frontier), Region.parent.is_not(None)))
        frontier = {parent for parent in rows if parent is not None} - seen
        seen |= frontier
    return seen


def readable_schools(s: Session, p: Principal) -> Select[str] | None:
    """A query of the school codes `p` may read, or None when it may read every school."""
    if p.scope_kind is ScopeKind.ALL:
        return None
    if p.scope_kind is ScopeKind.SCHOOL:
        return select(School.code).where(School.code == p.scope_id)
    return select(School.code).where(School.district.in_(region_districts(s, p.scope_id)))


def covers_school(s: Session, p: Principal, school: str, district: str | None = None) -> bool:
    """Whether `school` (in `district`, if it does not exist yet) lies in `p`'s scope."""
    if p.scope_kind is ScopeKind.ALL:
        return True
    if p.scope_kind is ScopeKind.SCHOOL:
        return school == p.scope_id
    if district is None:
        row = s.get(School, school)
        if row is None:
            return False
        district = row.district
    return district in region_districts(s, p.scope_id)


def require_read(s: Session, p: Principal, school: str) -> None:
    """Raise Forbidden unless `p` may read `school`."""
    if not covers_school(s, p, school):
        raise Forbidden(f"{p.name} ({p.role.value}) may read {p.scope_label}, not school {school!r}")


def require_write(s: Session, p: Principal, school: str, district: str | None = None) -> None:
    """Raise Forbidden unless `p` may change `school` (and, for a new or moved school, `district`)."""
    if p.role is Role.AUDITOR:
        raise Forbidden(f"{p.name} is an auditor: read-only")
    if p.role is Role.TEACHER:
        raise Forbidden(f"{p.name} is a teacher and writes experiment records only")
    if district is None:
        allowed = covers_school(s, p, school)
    else:
        existing = s.get(School, school)
        allowed = covers_school(s, p, school, district) and (
            existing is None or covers_school(s, p, school, existing.district)
        )
    if not allowed:
        where = f"school {school!r}" + (f" in district {district!r}" if district else "")
        raise Forbidden(f"{p.name} ({p.role.value}) may change {p.scope_label}, not {where}")


def require_record_write(s: Session, p: Principal, school: str) -> None:
    """Raise Forbidden unless `p` may add experiment records to `school` (managers of it, admins, its teachers)."""
    if p.role is Role.TEACHER:
        if school != p.scope_id:
            raise Forbidden(f"{p.name} teaches at school {p.scope_id!r}, not {school!r}")
        return
    require_write(s, p, school)


def require_admin(p: Principal, what: str) -> None:
    """Raise Forbidden unless `p` is an admin."""
    if p.role is not Role.ADMIN:
        raise Forbidden(f"only an admin may {what}; {p.name} is {p.role.value}")


def require_region_read(s: Session, p: Principal, region: str) -> None:
    """Raise Forbidden unless `p`'s scope includes the whole `region`."""
    if p.scope_kind is ScopeKind.ALL:
        return
    if p.scope_kind is ScopeKind.SCHOOL or region not in region_districts(s, p.scope_id):
        raise Forbidden(f"{p.name} ({p.role.value}) may read {p.scope_label}, not region {region!r}")


def require_scope_read(db: Session, caller: Principal, scope: Scope, ident: str) -> None:
    """Raise Forbidden unless the whole of `scope`/`ident` lies within the caller's scope."""
    if scope is Scope.CITY and not ident:
        if caller.scope_kind is not ScopeKind.ALL:
            raise Forbidden(f"{caller.name} may read {caller.scope_label}; scope=city without an id means every school")
    elif scope in (Scope.CITY, Scope.DISTRICT):
        require_region_read(db, caller, ident)
    else:
        require_read(db, caller, ident.partition("/")[0])
