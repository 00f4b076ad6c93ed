"""The one bounded CSV reader: limits counted while streaming, encodings, refusals naming the line,
cells kept as the text written, and downloads in which no cell runs as a spreadsheet formula."""

from __future__ import annotations

import codecs
import csv
import io
import os
import time

import numpy as np
import pandas as pd
import pytest

from core.data import csv_reader
from core.data.csv_reader import CsvLimits, read_csv, typed, write_csv
from core.errors import UserError

TRICKY = [
    "=SUM(A1)",
    "<=50K",
    ">50K",
    "Star Wars: Episode IV & more",
    'She said "hi", then left',
    "+33 1 23 45",
    "@handle",
    "-x",
    "  leading and trailing  ",
    "é ü 中文 🎬",
]


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def refused(data, match: str, limits: CsvLimits = csv_reader.DEFAULT_LIMITS, shown: str = "t.csv") -> str:
    with pytest.raises(UserError, match=match) as e:
        read_csv(data, shown, limits)
    return str(e.value)


def test_cells_are_kept_exactly_as_text_and_empty_cells_are_missing():
    data = csv_text([["text", "n"], *[[t, str(i)] for i, t in enumerate(TRICKY)], ["", "3"], ["   ", ""]])
    frame = read_csv(data.encode(), "t.csv")
    assert list(frame.columns) == ["text", "n"]
    assert frame["text"].tolist()[: len(TRICKY)] == TRICKY
    assert frame["text"].isna().tolist()[-1] and frame["n"].iloc[-1] == "3"  # empty: missing
    assert len(frame) == len(TRICKY) + 1  # the row of spaces and nothing else is skipped
    assert frame["n"].tolist()[:3] == ["0", "1", "2"]  # text until typed()
    assert all(pd.api.types.is_object_dtype(t) for t in frame.dtypes)


def test_commas_quotes_and_line_breaks_inside_quoted_cells():
    frame = read_csv(b'a,b\n"x, y","line\r\nbreak"\n"say ""hi""",2\n', "t.csv")
    assert frame["a"].tolist() == ["x, y", 'say "hi"']
    assert frame["b"].tolist() == ["line\r\nbreak", "2"]


@pytest.mark.parametrize(
    "encoded",
    [
        "a,b\n1,é\n".encode(),
        codecs.BOM_UTF8 + "a,b\n1,é\n".encode(),
        "a,b\r\n1,é\r\n".encode("utf-16"),  # BOM first, little or big endian as the machine writes
        codecs.BOM_UTF16_BE + "a,b\n1,é\n".encode("utf-16-be"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16-be-bom"],
)
def test_utf8_with_or_without_bom_and_utf16_with_bom_read_the_same(encoded):
    frame = read_csv(encoded, "t.csv")
    assert list(frame.columns) == ["a", "b"]  # the BOM is not part of the first name
    assert frame.values.tolist() == [["1", "é"]]


def test_latin1_is_refused_naming_the_line_and_the_byte_not_guessed():
    data = "name,city\nAnn,Paris\nBob,Montréal\n".encode("cp1252")
    message = refused(data, "not UTF-8")
    assert "line 3 holds the byte 0xE9 (byte 30 of the file)" in message
    assert "Save it as 'CSV UTF-8'" in message


def test_a_bad_byte_past_the_first_chunk_names_its_line(monkeypatch):
    monkeypatch.setattr(csv_reader, "CHUNK", 16)
    data = b"a,b\n" + b"1,2\n" * 50 + b"3,\xff\n"
    assert "line 52 holds the byte 0xFF (byte 207 of the file)" in refused(data, "not UTF-8")


def test_line_ends_split_across_chunks_and_old_mac_line_ends(monkeypatch):
    monkeypatch.setattr(csv_reader, "CHUNK", 5)
    frame = read_csv(b"x,y\r\n" + b"".join(b"%d,%d\r\n" % (i, i * i) for i in range(40)), "t.csv")
    assert len(frame) == 40 and frame.iloc[-1].tolist() == ["39", "1521"]
    assert read_csv(b"x,y\r1,2\r3,4\r", "t.csv").values.tolist() == [["1", "2"], ["3", "4"]]


def test_semicolon_and_tab_separated_files_are_read():
    assert read_csv(b"a;b\n1;2,5\n", "t.csv").values.tolist() == [["1", "2,5"]]
    assert read_csv(b"a\tb\n1\t2\n", "t.csv").values.tolist() == [["1", "2"]]


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "t.csv is empty"),
        (b"a,b\n", "has a header but no rows"),
        (b"a,b\n\n,\n", "has a header but no rows"),
        (b"\n\n", "holds no header row"),
        (b"a,b,a\n1,2,3\n", r"line 1, names the column 'a' twice \(columns 1 and 3\)"),
        (b"a,,c\n1,2,3\n", "line 1: column 2 has no name"),
        (b"a, \n1,2\n", "line 1: column 2 has no name"),
        (b"a,b\n1,2\n3,4,5\n", r"line 3, has 3 cell\(s\) but the header names 2 columns"),
        (b"a,b\n1,2\n3\n", r"line 3, has 1 cell\(s\) but the header names 2 columns"),
        (b'a,b\n"x\ny",1,2\n', r"the row on lines 2.3, has 3 cell"),
        (b"a,b\n1,2\x003\n", "line 2, holds a NUL byte"),
        ("a,b\n1,2\n".encode("utf-16-le"), r"line 1, holds a NUL byte \(a UTF-16 file without its BOM\?\)"),
        (codecs.BOM_UTF32_LE + "a\n1\n".encode("utf-32-le"), "is in UTF-32"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "is not a CSV table: it is a PNG image"),
        (b"PK\x03\x04" + bytes(40), r"it is a zip archive \(an Excel workbook is one\)"),
        (b'a,b\n1,2\n"open,1\n3,4\n', "line 3, opens a quoted cell that is never closed"),
        (b'a,b\n1,"x"y\n', "line 2, cannot be read as CSV"),
        (b"a,b\n\xff\xfe\xfd,1\n", "line 2 holds the byte 0xFF"),
        (b"a\x07b,c\n1,2\n", "the column name 'a\\\\x07b' contains control characters"),
    ],
)
def test_bad_files_are_refused_with_a_sentence_naming_the_line(data, match):
    refused(data, match)


def test_every_limit_names_itself():
    small = CsvLimits(max_bytes=1000, max_rows=5, max_columns=3, max_cell=8)
    refused(b"a,b\n" + b"1,2\n" * 300, "t.csv is 1 KB, more than the 1000 bytes limit", small)
    refused(b"a,b\n" + b"1,2\n" * 6, "more than 5 rows, the limit for one table", small)
    assert len(read_csv(b"a,b\n" + b"1,2\n" * 5, "t.csv", small)) == 5
    refused(b"a,b,c,d\n1,2,3,4\n", "has 4 columns, more than the 3 a table may have", small)
    refused(b"a,b\n1,123456789\n", "line 2, has a cell longer than 8 characters", small)
    refused(b'a,b\n1,"1234\n56789"\n', "line 2, has a cell longer than 8 characters", small)
    assert read_csv(b"a,b\n1,12345678\n", "t.csv", small).iloc[0, 1] == "12345678"


def test_a_path_over_the_byte_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    monkeypatch.setattr(csv_reader, "_read", lambda *a: pytest.fail("read past the size check"))
    with pytest.raises(UserError, match="big.csv is 4 KB, more than the 1000 bytes limit"):
        read_csv(path, "big.csv", CsvLimits(max_bytes=1000))


def test_a_path_is_read_like_bytes_and_a_missing_one_is_a_sentence(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"a,b\n1,x\n")
    assert read_csv(path, "t.csv").values.tolist() == [["1", "x"]]
    with pytest.raises(UserError, match="Cannot read gone.csv: No such file"):
        read_csv(tmp_path / "gone.csv", "gone.csv")
    with pytest.raises(UserError, match="is not a regular file"):
        read_csv(tmp_path, "a folder")
    os.mkfifo(tmp_path / "pipe.csv")  # opening a pipe would wait for a writer forever
    with pytest.raises(UserError, match="pipe.csv is not a regular file"):
        read_csv(tmp_path / "pipe.csv", "pipe.csv")


def test_a_100000_column_header_is_refused_in_well_under_a_second():
    header = ",".join(f"c{i}" for i in range(100_000)).encode()
    started = time.process_time()
    refused(header + b"\n" + b"1," * 99_999 + b"1\n", "has 100,000 columns, more than the 500")
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize("quoted", [False, True])
def test_a_10_mb_cell_is_refused_after_reading_a_sliver_of_it(quoted, monkeypatch):
    chunks = []
    real = csv_reader._Lines._generate

    def counting(self):
        for line in real(self):
            chunks.append(len(line))
            yield line

    monkeypatch.setattr(csv_reader._Lines, "_generate", counting)
    cell = b"x\n" * 5_000_000 if quoted else b"x" * 10_000_000
    data = b"a,b\n1," + (b'"' + cell + b'"' if quoted else cell) + b"\n"
    started = time.process_time()
    refused(data, "line 2, has a cell longer than 10,000 characters, the limit for one cell")
    assert time.process_time() - started < 1.0
    assert sum(chunks) < 200_000  # stopped long before the 10 MB were decoded


def test_a_row_of_endless_separators_is_cut_off_while_streaming():
    started = time.process_time()
    refused(b"a,b\n" + b',,,,,,,,,,"\n",' * 600_000, "one row runs over 5,001,500 characters")
    assert time.process_time() - started < 2.0


def test_typed_turns_number_columns_into_floats_and_leaves_the_rest_as_text():
    frame = read_csv(b"i,f,mixed,label,inf,pad\n1,2.5,3,<=50K,inf, 7 \n,-1e3,x,>50K,1,8\n", "t.csv")
    out = typed(frame)
    assert out["i"].dtype == np.float64 and out["i"].iloc[0] == 1.0 and np.isnan(out["i"].iloc[1])
    assert out["f"].tolist() == [2.5, -1000.0]
    assert out["pad"].tolist() == [7.0, 8.0]
    for text in ("mixed", "label", "inf"):  # a word, a label, a non-finite number: text
        assert out[text].dtype == object
    assert out["label"].tolist() == ["<=50K", ">50K"]
    assert frame["i"].iloc[0] == "1"  # the frame read is left as it was


def test_write_csv_round_trips_every_cell_and_writes_atomically(tmp_path):
    data = csv_text([["text", "n"], *[[t, str(i)] for i, t in enumerate(TRICKY)], ["a\nb", ""]])
    frame = read_csv(data.encode(), "t.csv")
    path = write_csv(frame, tmp_path / "out.csv")
    again = read_csv(path, "out.csv")
    pd.testing.assert_frame_equal(again, frame)
    assert path.read_bytes().startswith(b"text,n\n=SUM(A1),0\n")  # UTF-8, no BOM, no index
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temp file left


def test_a_read_table_downloads_with_its_formula_cells_neutralised():
    """A download goes through the project's one rule (core.fsutil.frame_csv_bytes): a text cell
    a spreadsheet would run gets a leading ', the rest (labels, numbers read as numbers) is kept."""
    from core.fsutil import frame_csv_bytes

    data = csv_text(
        [["=cmd", "text", "value"]]
        + [
            [str(i), t, str(i - 1)]
            for i, t in enumerate(["=SUM(A1)", "+33 1 23", "@cmd", "\tx", "<=50K", "plain"])
        ]
    )
    frame = typed(read_csv(data.encode(), "t.csv"))
    assert frame["text"].iloc[0] == "=SUM(A1)"  # read as written, never evaluated
    rows = list(csv.reader(io.StringIO(frame_csv_bytes(frame).decode("utf-8"))))
    assert rows[0] == ["'=cmd", "text", "value"]
    assert [r[1] for r in rows[1:]] == ["'=SUM(A1)", "'+33 1 23", "'@cmd", "'\tx", "<=50K", "plain"]
    assert [r[2] for r in rows[1:]] == ["-1.0", "0.0", "1.0", "2.0", "3.0", "4.0"]  # numbers stay numbers
    assert frame["text"].iloc[0] == "=SUM(A1)"  # the frame itself is untouched
