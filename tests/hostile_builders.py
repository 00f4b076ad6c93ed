"""Byte surgery for the archive and image corpus (tests/hostile_archives.py): zips whose headers
lie, tars with odd members, compression bombs built sparsely, images that are broken on purpose.

Everything is built at test time and fast (well under 0.5 s): big payloads are deflate streams of
zeros assembled from one compressed block repeated, never compressed whole.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass

from PIL import Image

from tests.inputs import class_images, png

GOOD = class_images()  # cats/cat0.png … dogs/dog4.png
MB = 2**20


@dataclass
class Member:
    """One zip member as written, every header field free to lie."""

    name: bytes | str
    raw: bytes  # the bytes stored (already compressed when method is 8)
    method: int = 0
    crc: int | None = None  # default: crc32 of raw (right for stored members)
    csize: int | None = None  # default: len(raw)
    usize: int | None = None  # default: len(raw)
    flags: int = 0
    version: int = 20
    extra: bytes = b""
    offset: int | None = None  # the central directory's idea of where the local header is
    external_attr: int = 0
    local_name: bytes | None = None  # a local header name that differs from the central one


def deflated(data: bytes) -> bytes:
    """Raw deflate of data (what a zip stores for method 8)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def deflated_zeros(n_mb: int) -> bytes:
    """A raw deflate stream that inflates to n_mb MiB of zeros, built from one block repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(b"\0" * MB) + c.flush(zlib.Z_FULL_FLUSH)
    return block * n_mb + b"\x03\x00"  # a final empty fixed block ends the stream


def stored(name: str, data: bytes) -> Member:
    """A correct stored (uncompressed) member."""
    return Member(name, data, crc=zlib.crc32(data))


def deflate_member(name: str, data: bytes) -> Member:
    """A correct deflated member."""
    return Member(name, deflated(data), method=8, crc=zlib.crc32(data), usize=len(data))


def good_members(entries: dict[str, bytes] | None = None) -> list[Member]:
    """The good class images (plus entries) as correct stored members."""
    return [stored(n, d) for n, d in {**GOOD, **(entries or {})}.items()]


def raw_zip(
    members: list[Member],
    *,
    cd_offset_delta: int = 0,
    count: int | None = None,
    prefix: bytes = b"",
    zip64_locator: int | None = None,
    disk: int = 0,
    comment: bytes = b"",
) -> bytes:
    """A zip assembled by hand: local headers and data, the central directory, the end record."""
    out = bytearray(prefix)
    central = bytearray()
    for m in members:
        name = m.name.encode() if isinstance(m.name, str) else m.name
        crc = zlib.crc32(m.raw) if m.crc is None else m.crc
        csize = len(m.raw) if m.csize is None else m.csize
        usize = len(m.raw) if m.usize is None else m.usize
        where = len(out) - len(prefix) if m.offset is None else m.offset
        local = m.local_name if m.local_name is not None else name
        out += struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            m.version,
            m.flags,
            m.method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(local),
            len(m.extra),
        )
        out += local + m.extra + m.raw
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            0x031E,
            m.version,
            m.flags,
            m.method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(name),
            len(m.extra),
            0,
            0,
            0,
            m.external_attr,
            where,
        )
        central += name + m.extra
    start = len(out) - len(prefix)
    n = len(members) if count is None else count
    out += central
    if zip64_locator is not None:
        out += struct.pack("<4sIQI", b"PK\x06\x07", 0, zip64_locator, 1)
    out += struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        disk,
        disk,
        n & 0xFFFF,
        n & 0xFFFF,
        len(central),
        (start + cd_offset_delta) & 0xFFFFFFFF,
        len(comment),
    )
    return bytes(out + comment)


def many_members_zip(n: int, name_len: int = 0) -> bytes:
    """A zip whose central directory lists n tiny members (all pointing at one local header),
    their names padded to name_len characters."""
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, 0, 0, 0, 5, 0) + b"a/b.x"
    entries = []
    for i in range(n):
        name = f"d/{i:06d}.png".rjust(name_len, "x").encode()
        entries.append(
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                0,
                0,
                0,
                len(name),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + name
        )
    central = b"".join(entries)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n & 0xFFFF, n & 0xFFFF, len(central), len(local), 0)
    return local + central + end


def zip64_extra(usize: int, csize: int) -> bytes:
    """A zip64 extended-information field giving 64-bit sizes."""
    return struct.pack("<HHQQ", 0x0001, 16, usize, csize)


# --- tars --------------------------------------------------------------------------------------


def tar_header(
    name: str, size: int, kind: bytes = b"0", size_field: bytes | None = None, link: str = ""
) -> bytes:
    """One 512-byte ustar header; size_field overrides the 12-byte size (lies, base-256)."""
    field = size_field if size_field is not None else f"{size:011o}\0".encode()
    head = bytearray(512)
    head[0:100] = name.encode()[:100].ljust(100, b"\0")
    head[100:108] = b"0000644\0"
    head[108:116] = b"0000000\0"
    head[116:124] = b"0000000\0"
    head[124:136] = field
    head[136:148] = b"00000000000\0"
    head[148:156] = b" " * 8
    head[156:157] = kind
    head[157:257] = link.encode()[:100].ljust(100, b"\0")
    head[257:265] = b"ustar\x0000"
    checksum = sum(head)
    head[148:156] = f"{checksum:06o}\0 ".encode()
    return bytes(head)


def many_dirs_tar(n: int) -> bytes:
    """n directory headers d000000/ … (one template, the name and checksum patched)."""
    base = bytearray(tar_header("d000000/", 0, kind=b"5"))
    base_sum = sum(base[:148]) + sum(base[156:]) + 8 * 32 - sum(b"d000000/")
    out = []
    for i in range(n):
        name = f"d{i:06d}/".encode()
        base[0:8] = name
        base[148:156] = f"{base_sum + sum(name):06o}\0 ".encode()
        out.append(bytes(base))
    return b"".join(out)


def padded(data: bytes) -> bytes:
    """data padded to a 512-byte boundary."""
    return data + b"\0" * (-len(data) % 512)


def plain_tar(entries: dict[str, bytes]) -> bytes:
    """An uncompressed tar of entries, without its end marker."""
    return b"".join(tar_header(n, len(d)) + padded(d) for n, d in entries.items())


def good_tar() -> bytes:
    """The good images as a plain tar, without its end marker."""
    return plain_tar(GOOD)


def end_of_tar() -> bytes:
    """Two zero blocks: a tar's end."""
    return b"\0" * 1024


def gzip_zeros_after(head: bytes, n_mb: int) -> bytes:
    """A gzip stream of head followed by n_mb MiB of zeros, built from a repeated block."""
    return gzip_parts(head, n_mb)


def gzip_parts(*parts: bytes | int) -> bytes:
    """A gzip stream of parts in order: bytes as given, an int as that many MiB of zeros (a block
    compressed once and repeated, so hundreds of MiB cost a few hundred KB to build)."""
    c2 = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c2.compress(b"\0" * MB) + c2.flush(zlib.Z_FULL_FLUSH)
    body, n = b"", 0
    for part in parts:
        if isinstance(part, int):
            body, n = body + block * part, n + part * MB
        else:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            body, n = body + c.compress(part) + c.flush(zlib.Z_FULL_FLUSH), n + len(part)
    crc = 0  # a lie: the stream is cut off long before its end is checked
    return b"\x1f\x8b\x08\x00\0\0\0\0\x00\xff" + body + b"\x03\x00" + struct.pack("<II", crc, n & 0xFFFFFFFF)


def bz2_zeros_after(head: bytes, n_mb: int) -> bytes:
    """bzip2 of head, then n_mb MiB of zeros as concatenated 8 MiB streams (bzip2 readers join them)."""
    block = bz2.compress(b"\0" * 8 * MB, 9)
    return bz2.compress(head, 9) + block * (n_mb // 8)


def xz_zeros_after(head: bytes, n_mb: int) -> bytes:
    """xz of head, then n_mb MiB of zeros as concatenated 8 MiB streams."""
    block = lzma.compress(b"\0" * 8 * MB, preset=1)
    return lzma.compress(head, preset=1) + block * (n_mb // 8)


def tar_with(entries: dict[str, bytes], kinds: dict[str, bytes]) -> bytes:
    """A gzip tar of the good images, plus entries of other kinds ({name: type flag})."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, kind in kinds.items():
            info = tarfile.TarInfo(name)
            info.type = kind
            tar.addfile(info)
    return buf.getvalue()


# --- images ------------------------------------------------------------------------------------


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    """A PNG chunk (its CRC right unless given)."""
    value = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", value)


def png_of(
    width: int, height: int, colour_type: int, depth: int, rows: bytes, ihdr_crc: int | None = None
) -> bytes:
    """A PNG from raw filtered rows (compressed here)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr, ihdr_crc)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def png_zero_bomb(side: int, colour_type: int = 6) -> bytes:
    """A real, decodable PNG of side×side black pixels (RGBA by default): tiny file, huge image."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    row_mb = side * channels + 1
    c = zlib.compressobj(9)
    # rows of zeros (filter 0, then pixels): compress one band of rows and repeat it
    band = b"\0" * row_mb * 64
    first = c.compress(band) + c.flush(zlib.Z_FULL_FLUSH)
    c2 = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c2.compress(band) + c2.flush(zlib.Z_FULL_FLUSH)
    bands = side // 64
    n = row_mb * 64 * bands
    body = (
        first + block * (bands - 1) + b"\x03\x00" + struct.pack(">I", (n % 65521) << 16 | 1)
    )  # adler32 of zeros
    ihdr = struct.pack(">IIBBBBB", side, bands * 64, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def image_bytes(fmt: str, mode: str = "RGB", size: tuple[int, int] = (16, 16), **save) -> bytes:
    """A small image of the given format and mode."""
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, fmt, **save)
    return buf.getvalue()


def many_frame_gif(frames: int) -> bytes:
    """A GIF with many tiny frames: Pillow writes two, and the second frame's block is repeated."""
    buf = io.BytesIO()
    a, b_ = Image.new("P", (4, 4), 0), Image.new("P", (4, 4), 1)
    a.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    b_.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    a.save(buf, "GIF", save_all=True, append_images=[b_], duration=10, loop=0)
    data = buf.getvalue()
    second = data.rindex(b"\x21\xf9\x04")
    return data[:second] + data[second:-1] * frames + b"\x3b"


def apng() -> bytes:
    """An animated PNG of three frames."""
    buf = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def text_chunk_bomb() -> bytes:
    """A small PNG carrying a zTXt chunk that inflates to 8 MB of text."""
    good = png()
    payload = zlib.compress(b"a" * (8 * MB), 9)
    ztxt = chunk(b"zTXt", b"Comment\0\0" + payload)
    return good[:33] + ztxt + good[33:]


__all__ = ["GOOD", "png", "zipfile"]
