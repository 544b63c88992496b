"""Offering-rate queries: term window, each school's classes and editions, catalog requirements, records."""

import re
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campuspulse.server.access.principals import Scope
from campuspulse.server.errors import Conflict, NotFound
from campuspulse.server.inventory.experiments import CLASS_PATTERN
from campuspulse.server.inventory.stages import STAGE_GRADES, classes_per_grade
from campuspulse.server.metrics.offering import ClassRef, Required, offering_counts
from campuspulse.server.metrics.service import schools_in_scope
from campuspulse.store.inventory_schema import ExperimentItem, ExperimentRecord, SchoolEdition
from campuspulse.store.schema import School

_TERM = re.compile(r"^(?P<year>\d{4})-(?P<term>[12])$")
_CLASS = re.compile(CLASS_PATTERN)


def term_window(term: str) -> tuple[int, date, date]:
    """`2026-1` (autumn term of the 2026–27 school year) → (1, 2026-08-01, 2027-01-31); `2026-2` → spring."""
    m = _TERM.match(term)
    if m is None or not 1970 <= int(m["year"]) <= 9000:
        raise NotFound(f"term {term!r} should be <school year>-<1|2>, e.g. 2026-1 for the 2026 autumn term")
    year, n = int(m["year"]), int(m["term"])
    if n == 1:
        return 1, date(year, 8, 1), date(year + 1, 1, 31)
    return 2, date(year + 1, 2, 1), date(year + 1, 7, 31)


def _editions(s: Session, schools: list[School]) -> dict[str, dict[str, str]]:
    chosen: dict[str, dict[str, str]] = defaultdict(dict)
    for row in s.scalars(select(SchoolEdition).where(SchoolEdition.school.in_([sc.code for sc in schools]))):
        chosen[row.school][row.subject] = row.edition
    return chosen


def _required(
    s: Session, schools: list[School], catalog_term: int, include_optional: bool, strict: bool
) -> tuple[dict[str, list[Required]], list[dict[str, Any]]]:
    """Each school's required experiments of the term, by its textbook edition of each subject its 学段 teaches;
    and the schools that need an edition and have none (`strict`: that is a Conflict instead)."""
    q = select(ExperimentItem).where(ExperimentItem.term == catalog_term)
    if not include_optional:
        q = q.where(ExperimentItem.required.is_(True))
    items = list(s.scalars(q))
    chosen = _editions(s, schools)
    out: dict[str, list[Required]] = {}
    missing: list[dict[str, Any]] = []
    for school in schools:
        grades = STAGE_GRADES.get(school.stage, range(1, 13))
        by_subject: dict[str, dict[str, list[ExperimentItem]]] = defaultdict(lambda: defaultdict(list))
        for item in items:
            if item.grade in grades:  # a subject outside the school's 学段 never needs an edition
                by_subject[item.subject][item.edition].append(item)
        reqs = []
        for subject, editions in sorted(by_subject.items()):
            edition = chosen[school.code].get(subject)
            if edition is None:
                if len(editions) > 1:
                    hint = f"PUT /api/v1/schools/{school.code}/editions"
                    if strict:
                        raise Conflict(
                            f"school {school.code!r} has no textbook edition for {subject} and the catalog has "
                            f"{sorted(editions)}; {hint}"
                        )
                    missing.append({"school": school.code, "subject": subject, "editions": sorted(editions)})
                    continue
                edition = next(iter(editions))
            reqs += [Required(i.code, i.subject, i.grade, i.type) for i in editions.get(edition, [])]
        out[school.code] = reqs
    return out, missing


def _classes(school: School, recorded: set[str]) -> list[ClassRef]:
    per_grade = classes_per_grade(school.stage, school.parallel_classes, school.classes_by_grade)
    names = {f"{g}-{n}" for g, count in per_grade.items() for n in range(1, count + 1)}
    names |= recorded
    refs = []
    for name in names:
        m = _CLASS.match(name)
        if m is not None:
            refs.append(ClassRef(school.code, name, int(m["grade"])))
    return sorted(refs, key=lambda c: (c.school, c.grade, int(c.name.partition("-")[2])))


def offering_rate(s: Session, scope: Scope, ident: str, term: str, include_optional: bool = False) -> dict[str, Any]:
    """Offering rates by type, subject, grade, school and (for a school) class over one term."""
    catalog_term, first, last = term_window(term)
    schools = list(schools_in_scope(s, scope, ident))
    codes = [sc.code for sc in schools]
    done: set[tuple[str, str, str]] = set()
    recorded: dict[str, set[str]] = defaultdict(set)
    q = select(ExperimentRecord.school, ExperimentRecord.class_, ExperimentRecord.experiment).where(
        ExperimentRecord.school.in_(codes), ExperimentRecord.day >= first, ExperimentRecord.day <= last
    )
    for school, class_, code in s.execute(q):
        done.add((school, class_, code))
        recorded[school].add(class_)
    classes = [c for sc in schools for c in _classes(sc, recorded[sc.code])]
    required, missing = _required(s, schools, catalog_term, include_optional, strict=scope is Scope.SCHOOL)
    counts = offering_counts(classes, required, done)
    out: dict[str, Any] = {
        "scope": scope.value,
        "id": ident,
        "term": {"term": term, "catalog_term": catalog_term, "from": first, "to": last},
        "include_optional": include_optional,
        "classes": len(classes),
        "by_type": [c.row(type=k[0]) for k, c in sorted(counts["type"].items())],
        "by_subject": [c.row(type=k[0], subject=k[1]) for k, c in sorted(counts["subject"].items())],
        "by_grade": [c.row(type=k[0], grade=k[1]) for k, c in sorted(counts["grade"].items())],
        "by_school": [c.row(type=k[0], school=k[1]) for k, c in sorted(counts["school"].items())],
        # schools left out of a subject's figures: they teach it, the catalog has several editions, they name none
        "missing_editions": missing,
    }
    if scope is Scope.SCHOOL:
        order = {c.name: i for i, c in enumerate(classes)}
        rows = sorted(counts["class"].items(), key=lambda kv: (kv[0][0], order[str(kv[0][2])]))
        out["by_class"] = [c.row(type=k[0], **{"class": k[2]}) for k, c in rows]
    return out


def class_plan(s: Session, school: School, class_name: str, term: str) -> list[dict[str, Any]]:
    """The catalog experiments of a class's grade this term in its school's editions, required ones first, each
    with the days the class recorded it in the term."""
    catalog_term, first, last = term_window(term)
    m = _CLASS.match(class_name)
    if m is None:
        raise NotFound(f"class {class_name!r} should be <grade>-<number>, e.g. 8-3")
    grade = int(m["grade"])
    plan, _ = _required(s, [school], catalog_term, include_optional=True, strict=False)
    codes = [r.code for r in plan.get(school.code, []) if r.grade == grade]
    items = s.scalars(select(ExperimentItem).where(ExperimentItem.code.in_(codes))).all() if codes else []
    done: dict[str, list[date]] = defaultdict(list)
    q = select(ExperimentRecord.experiment, ExperimentRecord.day).where(
        ExperimentRecord.school == school.code,
        ExperimentRecord.class_ == class_name,
        ExperimentRecord.day >= first,
        ExperimentRecord.day <= last,
    )
    for code, day in s.execute(q.order_by(ExperimentRecord.day)):
        done[code].append(day)
    rows = [
        {
            "code": i.code,
            "name": i.name,
            "subject": i.subject,
            "type": i.type,
            "required": i.required,
            "done": done.get(i.code, []),
        }
        for i in items
    ]
    return sorted(rows, key=lambda r: (not r["required"], r["subject"], r["type"], r["code"]))


def class_names(school: School, recorded: set[str]) -> list[str]:
    """A school's classes: those its grades have (by its record of classes), and any recorded besides."""
    return [c.name for c in _classes(school, recorded)]
