"""Archives: reading a zip or a tar (plain, gzip, bzip2 or xz) into a scratch folder, within budgets.

Every header is hostile until checked, and checked before anything is read past it. A zip's
central directory is walked first (entries counted, names with NUL refused) so that a directory
of millions of entries is refused before zipfile builds them; sizes it declares are checked
against the limits and against the archive's own size (a 1 MB file that claims gigabytes is a
bomb), and a member too large to keep is skipped without being inflated. A tar is read as a
stream, its decompression done here: every byte inflated (kept, skipped or header) counts, and
the stream is cut off past the total budget or when, past RATIO_FLOOR, it inflates more than RATIO
times the bytes read so far, so a bomb costs a bounded amount of work whatever its headers claim.
Below RATIO_FLOOR any ratio passes: masks saved uncompressed shrink hundreds of times in a zip.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from core.data import images
from core.data.ingest.names import entry_parts, is_hidden
from core.data.ingest.sources import (
    CHUNK,
    Budget,
    Cancelled,
    Entry,
    Gathered,
    IngestCancelled,
    Limits,
    Progress,
    copy_limited,
    too_big,
)
from core.errors import UserError
from core.fsutil import MB, human_size, zip_end

Keep = Callable[[tuple[str, ...]], bool]  # which entries a caller wants; the rest are left out unread
RATIO = 200  # inflated : compressed bytes past which a large archive is a bomb (photos barely shrink)
# Inflated bytes always allowed, whatever the ratio: uncompressed masks (BMP, TIFF) of few shapes
# shrink 100-1000 times, so a legal segmentation set may inflate far more than RATIO below this.
RATIO_FLOOR = 256 * MB
STREAM_SLACK = 32 * MB  # a tar stream's headers and skipped members, inflated on top of the budget
MAX_DIRECTORY = 32 * MB  # a zip's central directory (zipfile reads it whole); 50,000 names take ~15 MB
# What reading a damaged archive raises, from zipfile, tarfile and the decompressors.
READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError, EOFError, OSError)
READ_ERRORS += (ValueError, struct.error, NotImplementedError)
NOTHING = "Nothing was added."


def _size(f: BinaryIO) -> int:
    f.seek(0, io.SEEK_END)
    size = f.tell()
    f.seek(0)
    return size


def _bomb(shown: str, inflated: int, packed: int) -> UserError:
    return UserError(
        f"{shown} inflates to more than {human_size(inflated)} from {human_size(packed)} of data, over "
        f"{RATIO} times its size (a zip bomb?). {NOTHING}"
    )


def _too_many(shown: str, limits: Limits) -> UserError:
    return UserError(
        f"{shown} has too many entries: more than the {limits.max_files:,} limit for one archive; split it "
        f"into smaller sets. {NOTHING}"
    )


def _shorten(name: str, n: int = 80) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


# --- zip -------------------------------------------------------------------------------------------


def _walk_directory(f: BinaryIO, shown: str, limits: Limits) -> None:
    """Count the central directory's entries (as zipfile will read them) and refuse too many, or a
    name holding a NUL byte (zipfile would cut the name there), before zipfile parses them."""
    end = zip_end(f)
    if end is None or end.start < 0:
        return  # zipfile refuses it with its own words
    pos, size_cd, done, count = end.start, end.size, 0, 0
    if size_cd > MAX_DIRECTORY:
        raise UserError(
            f"{shown} has a directory of {human_size(size_cd)}, more than the {human_size(MAX_DIRECTORY)} "
            f"limit (names thousands of characters long?). {NOTHING}"
        )
    while done < size_cd:
        f.seek(pos + done)
        head = f.read(46)
        if len(head) != 46 or head[:4] != b"PK\x01\x02":
            return
        n, m, k = struct.unpack("<HHH", head[28:34])
        count += 1
        if count > limits.max_files:
            raise _too_many(shown, limits)
        if b"\0" in f.read(n):
            raise UserError(f"{shown} names an entry with a NUL byte in its name; refused, {NOTHING.lower()}")
        done += 46 + n + m + k


def _open_zip(f: BinaryIO, shown: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f)
    except NotImplementedError as e:
        raise UserError(f"{shown} needs a zip feature this program cannot read ({e}); {NOTHING}") from e
    except READ_ERRORS as e:
        raise UserError(f"{shown} is not a readable zip file ({e}). {NOTHING}") from e


def _check_declared(
    infos: list[zipfile.ZipInfo], shown: str, limits: Limits, size: int, keep: Keep | None
) -> None:
    """Refuse an archive whose entries declare more than the budget, or far more than its size
    (entries keep leaves out are never inflated, so they do not count)."""
    twice = [n for n, c in Counter(i.filename for i in infos).items() if c > 1]
    if twice:
        raise UserError(
            f"{shown} holds the entry {_shorten(twice[0])!r} more than once; refused, {NOTHING.lower()}"
        )
    declared = inflated = 0  # all the entries claim; what will be inflated (larger ones are skipped)
    for info in infos:
        parts = entry_parts(info.filename, f"The archive {shown}")
        if ((info.external_attr >> 16) & 0o170000) == 0o120000:
            raise UserError(
                f"The entry {_shorten(info.filename)!r} in {shown} is a symbolic link; links "
                f"could point outside the dataset. Refused, {NOTHING.lower()}"
            )
        if parts and not info.is_dir() and (keep is None or keep(parts)):
            declared += info.file_size
            inflated += info.file_size if info.file_size <= limits.max_file_bytes else 0
    if declared > limits.max_total_bytes:
        raise UserError(
            f"{shown} would expand to {human_size(declared)}, more than the "
            f"{human_size(limits.max_total_bytes)} limit (a zip bomb?). {NOTHING}"
        )
    if inflated > RATIO_FLOOR and inflated > RATIO * size:
        raise _bomb(shown, inflated, size)


def zip_entries(
    f: BinaryIO,
    shown: str,
    raw: Path,
    budget: Budget,
    progress: Progress | None,
    cancelled: Cancelled | None,
    keep: Keep | None = None,
) -> Gathered:
    """Check every entry of a zip, then extract its files into raw, within the budget; keep(parts)
    False leaves an entry out unread."""
    limits = budget.limits
    size = _size(f)
    _walk_directory(f, shown, limits)
    zf = _open_zip(f, shown)
    found = Gathered()
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise _too_many(shown, limits)
        _check_declared(infos, shown, limits, size, keep)
        _check_overlaps(f, infos, getattr(zf, "start_dir", None), shown)
        for i, info in enumerate(infos):
            if cancelled and cancelled():
                raise IngestCancelled()
            parts = entry_parts(info.filename, f"The archive {shown}")
            if info.is_dir() or not parts:
                continue
            if is_hidden(parts):
                found.hidden += 1
                continue
            if keep is not None and not keep(parts):
                continue  # left out by the caller (a catalogue's layout): never inflated or written
            budget.add_file()
            if info.flag_bits & 0x1:
                raise UserError(
                    f"{shown} is encrypted ({_shorten(info.filename)} needs a password); "
                    f"upload an unencrypted zip. {NOTHING}"
                )
            if info.file_size > limits.max_file_bytes:
                found.problems.append(images.Problem("/".join(parts), too_big(limits)))
                continue
            target = raw / str(i)
            damaged = f"The entry {_shorten(info.filename)!r} of {shown} is damaged"
            try:
                src = zf.open(info)
            except NotImplementedError as e:
                raise UserError(
                    f"The entry {_shorten(info.filename)!r} of {shown} uses a compression this program "
                    f"cannot read ({e}); make the zip again with ordinary (deflate) compression. {NOTHING}"
                ) from e
            except READ_ERRORS as e:
                raise UserError(f"{damaged} ({e}). {NOTHING}") from e
            with src:
                copy_limited(src, target, budget, limits, "/".join(parts), damaged)
            found.entries.append(Entry(parts, target))
            if progress and i % 50 == 0:
                progress(0.5 * i / max(1, len(infos)), f"extracted {i:,} of {len(infos):,} files")
    return found


def _check_overlaps(f: BinaryIO, infos: list[zipfile.ZipInfo], start_dir: int | None, shown: str) -> None:
    """Refuse entries whose bytes overlap (how the smallest zip bombs reuse one payload), and
    entries whose header lies outside the archive."""
    spans = []
    for info in infos:
        header = b""
        if info.header_offset >= 0:
            f.seek(info.header_offset)
            header = f.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise UserError(
                f"{shown} is damaged: the entry {_shorten(info.filename)!r} points to no file header. "
                f"{NOTHING}"
            )
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort(key=lambda s: (s[0], s[2]))
    for (_start_a, end_a, name_a), (start_b, _end_b, name_b) in zip(spans, spans[1:]):
        if end_a > start_b:
            raise UserError(
                f"{shown} has overlapping entries ({_shorten(name_a)!r} and {_shorten(name_b)!r} share "
                f"bytes), a trick used by zip bombs. Refused, {NOTHING.lower()}"
            )
    if spans and start_dir is not None and spans[-1][1] > start_dir:
        raise UserError(
            f"{shown} is damaged: the entry {_shorten(spans[-1][2])!r} runs into the zip's directory. "
            f"{NOTHING}"
        )


# --- tar -------------------------------------------------------------------------------------------


class Inflating(io.RawIOBase):
    """An archive's bytes as they inflate, cut off past `cap` bytes or, past RATIO_FLOOR, RATIO times the
    compressed bytes read so far (a bomb); what tarfile reads, so every byte it inflates counts."""

    def __init__(self, packed: BinaryIO, inner: BinaryIO, shown: str, cap: int, compressed: bool):
        super().__init__()
        self.packed, self.inner, self.shown, self.cap, self.compressed = packed, inner, shown, cap, compressed
        self.total = 0

    def readable(self) -> bool:
        """Always: this is a reader."""
        return True

    def read(self, n: int = -1) -> bytes:
        """Up to n inflated bytes (CHUNK when n is negative), counted against the caps."""
        data = self.inner.read(CHUNK if n is None or n < 0 else n)
        self.total += len(data)
        if self.total > self.cap:
            raise UserError(
                f"{self.shown} expands to more than {human_size(self.cap)}, the limit for one dataset "
                f"(a zip bomb?). Extraction stopped, nothing was added."
            )
        if self.compressed and self.total > RATIO_FLOOR and self.total > RATIO * max(1, self.packed.tell()):
            raise _bomb(self.shown, self.total, self.packed.tell())
        return data

    def readinto(self, buffer) -> int:
        """read(), into buffer."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def inflating(f: BinaryIO, shown: str, limits: Limits) -> Inflating:
    """f's tar stream, decompressed here (gzip, bzip2 or xz, by its first bytes) within the caps."""
    head = f.read(6)
    f.seek(0)
    if head.startswith(b"\x1f\x8b"):
        inner = gzip.GzipFile(fileobj=f, mode="rb")
    elif head.startswith(b"BZh"):
        inner = bz2.BZ2File(f, "rb")
    elif head.startswith(b"\xfd7zXZ\x00"):
        inner = lzma.LZMAFile(f, "rb")
    else:
        return Inflating(f, f, shown, _size(f), False)
    return Inflating(f, inner, shown, limits.max_total_bytes + STREAM_SLACK, True)


MAX_EXTENDED = MB  # a pax header or GNU long name: paths and attributes, never this long
EXTENDED = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


def _headers(shown: str) -> type[tarfile.TarInfo]:
    """tarfile's member header, refusing an extended header (pax, a GNU long name) larger than
    MAX_EXTENDED before tarfile reads it whole into memory."""

    class Header(tarfile.TarInfo):
        def _proc_member(self, tar):
            if self.type in EXTENDED and self.size > MAX_EXTENDED:
                raise UserError(
                    f"{shown} is damaged or hostile: an extended header claims {human_size(self.size)}, more "
                    f"than the {human_size(MAX_EXTENDED)} a path and its attributes could take. {NOTHING}"
                )
            return super()._proc_member(tar)

    return Header


def _next(tar: tarfile.TarFile, shown: str) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except READ_ERRORS as e:
        raise UserError(f"{shown} is damaged or cut short ({e}). {NOTHING}") from e


def tar_entries(
    f: BinaryIO,
    shown: str,
    raw: Path,
    budget: Budget,
    progress: Progress | None,
    cancelled: Cancelled | None,
    keep: Keep | None = None,
) -> Gathered:
    """Stream a tar (plain or compressed), refusing links and special files, into raw; keep(parts)
    False leaves an entry out (passed over, not written)."""
    limits = budget.limits
    stream = inflating(f, shown, limits)
    found, i = Gathered(), 0
    try:
        tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=_headers(shown))
    except READ_ERRORS as e:
        raise UserError(f"{shown} is damaged or cut short ({e}). {NOTHING}") from e
    with tar:
        while (member := _next(tar, shown)) is not None:
            tar.members = []  # a stream needs no index of what went by; it would grow with each entry
            if cancelled and cancelled():
                raise IngestCancelled()
            i += 1
            if i > limits.max_files:
                raise _too_many(shown, limits)
            name = _shorten(member.name)
            parts = entry_parts(member.name, f"The archive {shown}")
            if member.issym() or member.islnk():
                raise UserError(
                    f"The entry {name!r} in {shown} is a link; links could point outside the dataset. "
                    f"Refused, {NOTHING.lower()}"
                )
            if member.size < 0:
                raise UserError(f"{shown} is damaged: the entry {name!r} has a negative size. {NOTHING}")
            if member.size > stream.cap:
                raise UserError(
                    f"{shown} is damaged or a bomb: the entry {name!r} claims {human_size(member.size)}, "
                    f"more than the {human_size(stream.cap)} it may hold. {NOTHING}"
                )
            if member.isdir() or not parts:
                continue
            if not member.isfile():
                raise UserError(
                    f"The entry {name!r} in {shown} is a device or special file. Refused, {NOTHING.lower()}"
                )
            if is_hidden(parts):
                found.hidden += 1
                continue
            if keep is not None and not keep(parts):
                continue  # left out by the caller (a catalogue's layout): never inflated or written
            budget.add_file()
            if member.size > limits.max_file_bytes:  # passing it inflates it: counted by the stream
                found.problems.append(images.Problem("/".join(parts), too_big(limits)))
                continue
            target = raw / str(i)
            damaged = f"{shown} is damaged or cut short at {name!r}"
            copy_limited(tar.extractfile(member), target, budget, limits, "/".join(parts), damaged)
            found.entries.append(Entry(parts, target))
            if progress and i % 50 == 0:
                progress(0.25, f"extracted {i:,} files")
    return found
