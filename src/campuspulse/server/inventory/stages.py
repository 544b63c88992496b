"""学段 (school stages): the grades each teaches, and a school's classes grade by grade."""

from collections.abc import Mapping

STAGE_GRADES: dict[str, range] = {
    "primary": range(1, 7),
    "junior": range(7, 10),
    "senior": range(10, 13),
    "nine_year": range(1, 10),
    "complete": range(7, 13),
    "twelve_year": range(1, 13),
}


def classes_per_grade(stage: str, parallel_classes: int, by_grade: Mapping[str, int] | None) -> dict[int, int]:
    """How many classes each grade of the stage has: as recorded grade by grade, else `parallel_classes` each."""
    grades = STAGE_GRADES.get(stage, ())
    if by_grade:
        return {g: int(by_grade.get(str(g), 0)) for g in grades}
    return dict.fromkeys(grades, parallel_classes)
