"""The one bounded CSV reader: a table a person hands in, read without trusting it.

Limits (CsvLimits) are counted while the file streams through Python's csv module, and the
first one passed stops the reading at once, so a hostile file costs no more than what was read:

- bytes: a file larger than max_bytes is refused before a byte is parsed (and the count goes on
  while reading, in case the file grows);
- columns: the header may hold at most max_columns names (a 100,000-column header is refused as
  soon as its first line is parsed);
- rows: at most max_rows data rows; the row past the limit stops the reading;
- cells: at most max_cell characters each (csv's own field limit is translated into the same
  message); one row may not run over max_columns × (max_cell + 3) characters, however it is
  split by quoted line breaks, so no record grows without bound in memory.

Encodings: UTF-8 with or without a BOM, and UTF-16 with its BOM. A file that is not valid UTF-8
is refused with the line and byte where it stops being UTF-8, never guessed as cp1252 or latin-1
(a guess turns é into Ã© silently, and any binary file "decodes" as latin-1). NUL bytes, empty or
duplicate column names and rows with too few or too many cells are refused naming the line.

Every cell is kept as text exactly as written (`=SUM(A1)`, `<=50K`, `Star Wars: Episode IV &
more`); only an empty cell (or one of spaces only) becomes missing (NaN). Blank lines and rows
whose every cell is empty are skipped (spreadsheets write them at the end). typed() turns the
columns that hold numbers into floats; write_csv() writes our UTF-8 copy atomically. A download
for a person goes through core.fsutil.frame_csv_bytes, the project's one rule for cells that a
spreadsheet would run as a formula.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core.data import labels
from core.errors import UserError
from core.fsutil import MB, atomic_write, human_size

CHUNK = 64 * 1024  # bytes decoded at a time
_LINE_END = re.compile(r"[\r\n]")  # csv knows CR LF, LF and CR alone
_NOT_TEXT = {  # what a file that is not text starts with, as a person would name it
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip archive (an Excel workbook is one)",
    b"\xd0\xcf\x11\xe0": "an old Excel or Word file",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip-compressed file",
    b"PAR1": "a Parquet file",
}


@dataclass(frozen=True)
class CsvLimits:
    """How much one CSV may hold; the first limit passed while reading stops it."""

    max_bytes: int = 50 * MB
    max_rows: int = 500_000
    max_columns: int = 500
    max_cell: int = 10_000  # characters in one cell

    @property
    def max_record(self) -> int:
        """Characters one row may take in the file, quotes and separators included."""
        return self.max_columns * (self.max_cell + 3)


DEFAULT_LIMITS = CsvLimits()


def read_csv(
    source: bytes | Path, shown: str = "The file", limits: CsvLimits = DEFAULT_LIMITS
) -> pd.DataFrame:
    """Read a CSV a person handed in (bytes, or a path on this machine) within limits.

    Returns a DataFrame of text (object) columns named by the header, empty cells NaN.
    Raises UserError with a sentence naming the line for anything it cannot read.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            if path.exists() and not path.is_file():  # a folder, a pipe or a device: never opened
                raise UserError(f"{shown} is not a regular file; give the path of a CSV file.")
            size = path.stat().st_size
            _check_size(size, shown, limits)
            with open(path, "rb") as f:
                return _read(f, shown, limits)
        except OSError as e:
            raise UserError(f"Cannot read {_inner(shown)}: {e.strerror or e}.") from e
    if not isinstance(source, (bytes, bytearray, memoryview)):
        raise UserError(f"{shown} is not a file's bytes or a path.")
    _check_size(len(source), shown, limits)
    return _read(io.BytesIO(bytes(source)), shown, limits)


def _check_size(size: int, shown: str, limits: CsvLimits) -> None:
    if size > limits.max_bytes:
        raise UserError(
            f"{shown} is {human_size(size)}, more than the {human_size(limits.max_bytes)} limit "
            "for one table. Nothing was read."
        )


def _read(f: BinaryIO, shown: str, limits: CsvLimits) -> pd.DataFrame:
    head = f.read(4)
    f.seek(0)
    if not head:
        raise UserError(f"{shown} is empty: a table needs a header row and at least one row.")
    lines = _Lines(f, shown, limits, _encoding(head, f, shown))
    if limits.max_cell + 1 > csv.field_size_limit():
        csv.field_size_limit(limits.max_cell + 1)  # only ever raised: other readers keep theirs
    reader = csv.reader(lines, delimiter=_delimiter(lines.peek()), strict=True)
    header = _next(reader, lines, shown, limits)
    while header is not None and not any(c.strip() for c in header):
        header = _next(reader, lines, shown, limits)  # blank lines before the header
    if header is None:
        raise UserError(f"{shown} holds no header row: it is empty or only blank lines.")
    columns = _check_header(header, f"{shown}, line {lines.line}", limits)
    data: list[list[str | float]] = [[] for _ in columns]
    n = blank = 0
    while True:
        start = lines.line + 1
        row = _next(reader, lines, shown, limits)
        if row is None:
            break
        if not any(c.strip() for c in row):
            blank += 1
            if blank > limits.max_rows:
                raise UserError(f"{shown} holds more than {limits.max_rows:,} empty rows. Nothing was read.")
            continue
        if len(row) != len(columns):
            where = f"line {start}" if lines.line == start else f"the row on lines {start}–{lines.line}"
            raise UserError(
                f"{shown}, {where}, has {len(row)} cell(s) but the header names {len(columns)} "
                "columns; every row needs one cell per column (a comma inside a cell needs quotes)."
            )
        n += 1
        if n > limits.max_rows:
            raise UserError(
                f"{shown} has more than {limits.max_rows:,} rows, the limit for one table; "
                "keep a sample of it. Nothing was read."
            )
        if max(map(len, row)) > limits.max_cell:
            raise UserError(_cell_too_long(shown, start, limits))
        for column, cell in zip(data, row):
            column.append(np.nan if not cell or cell.isspace() else cell)
    if n == 0:
        raise UserError(f"{shown} has a header but no rows: a table needs at least one row of data.")
    return pd.DataFrame({name: pd.Series(col, dtype=object) for name, col in zip(columns, data)})


def _next(reader, lines: _Lines, shown: str, limits: CsvLimits) -> list[str] | None:
    """The next record, csv's errors turned into sentences naming the line."""
    lines.record = 0
    start = lines.line + 1
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as e:
        if "field larger than field limit" in str(e):
            raise UserError(_cell_too_long(shown, start, limits)) from e
        if "unexpected end of data" in str(e):
            raise UserError(
                f'{shown}, line {start}, opens a quoted cell that is never closed (a " without its '
                'closing "). Nothing was read.'
            ) from e
        raise UserError(f"{shown}, line {lines.line}, cannot be read as CSV ({e}). Nothing was read.") from e


def _cell_too_long(shown: str, line: int, limits: CsvLimits) -> str:
    return (
        f"{shown}, line {line}, has a cell longer than {limits.max_cell:,} characters, the limit "
        "for one cell. Nothing was read."
    )


def _delimiter(first_line: str) -> str:
    """A comma, unless the header line has none but semicolons or tabs (Excel in much of Europe
    writes ; and some programs write tab-separated files)."""
    if "," not in first_line:
        for other in (";", "\t"):
            if other in first_line:
                return other
    return ","


def _check_header(header: list[str], where: str, limits: CsvLimits) -> list[str]:
    """The column names, refused when too many, empty, not plain text or given twice."""
    if len(header) > limits.max_columns:
        raise UserError(
            f"{where}, has {len(header):,} columns, more than the {limits.max_columns:,} a table may "
            "have. Nothing was read."
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if not name.strip():
            raise UserError(f"{where}: column {i} has no name; every column needs a name in the header row.")
        labels.check_label(name, f"{where}: the column name")
        if name in seen:
            raise UserError(
                f"{where}, names the column {name!r} twice (columns {seen[name]} and {i}); "
                "each column needs its own name."
            )
        seen[name] = i
    return header


def _encoding(head: bytes, f: BinaryIO, shown: str) -> str:
    """The codec for a file from its first bytes: UTF-8 (BOM or none), UTF-16 with its BOM."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise UserError(f"{shown} is in UTF-32, which is not read here; save it as CSV UTF-8.")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    start = f.read(16)
    f.seek(0)
    for magic, what in _NOT_TEXT.items():
        if start.startswith(magic):
            raise UserError(f"{shown} is not a CSV table: it is {what}. Save the table as CSV UTF-8.")
    return "utf-8"


def _last_cell(text: str) -> int:
    """Characters after the last separator of a line being read."""
    return len(text) - 1 - max(text.rfind(","), text.rfind(";"), text.rfind("\t"))


def _inner(shown: str) -> str:
    """shown inside a sentence: "The file" becomes "the file"."""
    return "the" + shown[3:] if shown.startswith("The ") else shown


class _Lines:
    """The file's text line by line for csv, with the bounds checked as it streams."""

    def __init__(self, f: BinaryIO, shown: str, limits: CsvLimits, encoding: str):
        self.f, self.shown, self.limits, self.encoding = f, shown, limits, encoding
        self.line = 0  # lines handed to csv so far
        self.record = 0  # characters of the current record so far
        self._it = self._generate()
        self._back: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def peek(self) -> str:
        """The first line, left to be read again ("" for a file without one)."""
        if not self._back:
            self._back.append(next(self._it, ""))
        return self._back[0]

    def __next__(self) -> str:
        text = self._back.pop() if self._back else next(self._it)
        if not text:
            raise StopIteration
        self.line += 1
        self.record += len(text)
        if "\x00" in text:
            hint = " (a UTF-16 file without its BOM?)" if self.encoding == "utf-8" else ""
            raise UserError(
                f"{self.shown}, line {self.line}, holds a NUL byte{hint}; a CSV is text. Nothing was read."
            )
        if self.record > self.limits.max_record:
            raise UserError(
                f"{self.shown}, line {self.line}: one row runs over {self.limits.max_record:,} "
                f"characters, more than {self.limits.max_columns:,} cells of at most "
                f"{self.limits.max_cell:,} characters could take. Nothing was read."
            )
        return text

    def _generate(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        read, lines_before, pending = 0, 0, ""
        while True:
            chunk = self.f.read(CHUNK)
            read += len(chunk)
            if read > self.limits.max_bytes:
                raise UserError(
                    f"{self.shown} is more than {human_size(self.limits.max_bytes)}, the limit for one "
                    "table. Nothing was read."
                )
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                raise UserError(
                    self._not_utf8(e, read - len(chunk), len(chunk), lines_before, pending)
                ) from e
            pending += text
            end = 0
            while (found := _LINE_END.search(pending, end)) is not None:
                stop = found.end()
                if pending[found.start()] == "\r":
                    if stop == len(pending) and chunk:
                        break  # a CR at the chunk's end may be the first half of CR LF
                    if pending.startswith("\n", stop):
                        stop += 1
                line, end = pending[end:stop], stop
                lines_before += 1
                yield line
            pending = pending[end:]
            if (
                len(pending) > 2 * self.limits.max_cell + 2
                and _last_cell(pending) > 2 * self.limits.max_cell + 2
            ):
                # even quoted, with every quote doubled, this cell is longer than max_cell
                raise UserError(_cell_too_long(self.shown, lines_before + 1, self.limits))
            if len(pending) > self.limits.max_record:
                raise UserError(
                    f"{self.shown}, line {lines_before + 1}, runs over {self.limits.max_record:,} "
                    "characters without a line break. Nothing was read."
                )
            if not chunk:
                if pending:
                    yield pending
                return

    def _not_utf8(
        self, e: UnicodeDecodeError, chunk_start: int, chunk_len: int, lines: int, pending: str
    ) -> str:
        """Where the file stops being UTF-8, as a sentence (e.object holds the bytes the decoder
        kept back from the chunk before, then this chunk)."""
        data = bytes(e.object)
        offset = chunk_start - (len(data) - chunk_len)  # where e.object starts in the file
        line = lines + pending.count("\n") + data[: e.start].count(b"\n") + 1
        byte = data[e.start : e.start + 1]
        if self.encoding == "utf-16":
            return f"{self.shown} says it is UTF-16 but breaks off at line {line}. Nothing was read."
        return (
            f"{self.shown} is not UTF-8 text: line {line} holds the byte 0x{byte.hex().upper()} "
            f"(byte {offset + e.start + 1:,} of the file), which is not valid UTF-8. Save it as "
            "'CSV UTF-8' (in Excel: File › Save As › CSV UTF-8) and try again. Nothing was read."
        )


# --- after reading ---------------------------------------------------------------------------


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which columns whose every non-empty cell is a finite number are float64."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_numeric_dtype(column):
            out[name] = column.astype("float64")
            continue
        text = column.map(lambda c: c.strip() if isinstance(c, str) else c)
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        present = column.notna().to_numpy()
        if present.any() and np.isfinite(numbers.to_numpy()[present]).all():
            out[name] = numbers
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write frame as our UTF-8 CSV (header row, no index, missing cells empty), atomically."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return atomic_write(Path(path), text)
