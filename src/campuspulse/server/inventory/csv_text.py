"""CSV text read row by row, where a broken file is an error that names its line instead of a crash."""

import csv
import io
from collections.abc import Iterator


class CsvBroken(ValueError):
    """The CSV text cannot be read as CSV at `line` (a stray line break inside a field, a NUL byte, …)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: not readable as CSV ({reason})")
        self.line, self.reason = line, reason


def csv_rows(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str | None]]]]:
    """(the header's column names, the rows as (line number, {column: value})); CsvBroken where it breaks."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise CsvBroken(reader.line_num + 1, str(exc)) from None

    def rows() -> Iterator[tuple[int, dict[str, str | None]]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CsvBroken(reader.line_num + 1, str(exc)) from None  # the line it could not finish
            yield reader.line_num, row

    return header, rows()
