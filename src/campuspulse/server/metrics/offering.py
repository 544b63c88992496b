"""Experiment offering rate (实验开出率) of domain.md, pure: rate_type = Σ_c |done_c ∩ req_c,type| / Σ_c |req_c,type|.

`req` of a class: the catalog experiments of its grade (for the term and the school's editions);
`done`: the experiments it recorded in the term. Counts are summed over classes before dividing.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

TYPES = ("分组", "演示")


@dataclass(frozen=True, slots=True)
class Required:
    """A catalog experiment a grade must do."""

    code: str
    subject: str
    grade: int
    type: str


@dataclass(slots=True)
class Count:
    """Required and done experiment–class pairs."""

    required: int = 0
    done: int = 0

    def row(self, **key: object) -> dict[str, object]:
        """The API's row with the rate (None without requirements)."""
        rate = round(self.done / self.required, 6) if self.required else None
        return {**key, "required": self.required, "done": self.done, "rate": rate}


@dataclass(frozen=True, slots=True)
class ClassRef:
    """A class of a school, e.g. school s1, class `8-3` in grade 8."""

    school: str
    name: str
    grade: int


def offering_counts(
    classes: Iterable[ClassRef],
    required: dict[str, list[Required]],
    done: set[tuple[str, str, str]],
) -> dict[str, dict[tuple[object, ...], Count]]:
    """Counts by type, by (type, subject), by (type, grade), by (type, school) and by (type, school, class).

    `required` maps a school to its required experiments (all grades); `done` holds (school, class, code).
    """
    out: dict[str, dict[tuple[object, ...], Count]] = {
        k: defaultdict(Count) for k in ("type", "subject", "grade", "school", "class")
    }
    for c in classes:
        for exp in required.get(c.school, []):
            if exp.grade != c.grade:
                continue
            hit = (c.school, c.name, exp.code) in done
            for kind, key in (
                ("type", (exp.type,)),
                ("subject", (exp.type, exp.subject)),
                ("grade", (exp.type, c.grade)),
                ("school", (exp.type, c.school)),
                ("class", (exp.type, c.school, c.name)),
            ):
                count = out[kind][key]
                count.required += 1
                count.done += hit
    for t in TYPES:
        out["type"].setdefault((t,), Count())
    return out
