"""Small images, archives and hostile inputs generated at test time (never committed as binaries)."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"cats": (220, 40, 40), "dogs": (40, 40, 220), "birds": (40, 200, 40)}


def png(colour: tuple[int, int, int] = (200, 30, 30), size: int = 12, seed: int = 0) -> bytes:
    """A small PNG: a colour plus a little seeded noise, so no two images are identical."""
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour) + rng.integers(-20, 21, (size, size, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def jpeg(colour: tuple[int, int, int] = (30, 200, 30), size: int = 16) -> bytes:
    """A small JPEG."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, "JPEG")
    return buf.getvalue()


def truncated_png() -> bytes:
    """A real PNG of noise, cut off before its data ends."""
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "RGB").save(buf, "PNG")
    data = buf.getvalue()
    return data[: len(data) * 2 // 3]


def pixel_bomb_png(side: int = 30_000) -> bytes:
    """A valid PNG header claiming side×side pixels, with almost no data (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def class_images(
    classes: tuple[str, ...] = ("cats", "dogs"), per_class: int = 5, prefix: str = "", size: int = 12
) -> dict[str, bytes]:
    """{path: PNG bytes} laid out as prefix + class/image.png."""
    return {
        f"{prefix}{c}/{c[:-1]}{i}.png": png(COLOURS.get(c, (128, 128, 128)), size, seed=i)
        for c in classes
        for i in range(per_class)
    }


def zip_bytes(
    entries: dict[str, bytes], symlinks: dict[str, str] | None = None, encrypted: tuple[str, ...] = ()
) -> bytes:
    """A zip of entries; symlinks maps an entry name to the link target it stores.

    Entries named in encrypted get the "encrypted" flag (zipfile cannot write real encryption).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix, so external_attr carries the file type
            info.external_attr = 0o120777 << 16
            z.writestr(info, target)
    data = bytearray(buf.getvalue())
    for name in encrypted:
        central = bytes(data).index(b"PK\x01\x02", bytes(data).index(b"PK\x01\x02"))
        while data[central + 46 : central + 46 + len(name)] != name.encode():
            central = bytes(data).index(b"PK\x01\x02", central + 4)
        data[central + 8] |= 0x1
        (offset,) = struct.unpack("<I", data[central + 42 : central + 46])
        data[offset + 6] |= 0x1
    return bytes(data)


def overlapping_zip() -> bytes:
    """Two central-directory entries pointing at the same local file (a zip-bomb trick)."""
    data = zip_bytes({"cats/a.png": png(), "dogs/b.png": png((0, 0, 200))})
    second = data.rindex(b"PK\x01\x02")
    return data[: second + 42] + struct.pack("<I", 0) + data[second + 46 :]


def tar_bytes(
    entries: dict[str, bytes],
    links: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
    devices: tuple[str, ...] = (),
    mode: str = "w:gz",
) -> bytes:
    """A tar (gzip by default) of entries, optionally with links and special files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        for name, target in (hardlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.LNKTYPE, target
            tar.addfile(info)
        for name in devices:
            info = tarfile.TarInfo(name)
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            tar.addfile(info)
    return buf.getvalue()


def write_tree(root: Path, entries: dict[str, bytes]) -> Path:
    """Write entries as files under root; returns root."""
    for name, data in entries.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def tree(root: Path) -> dict[str, int]:
    """Every file and folder under root (links not followed): {relative path: size or -1}."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = -1 if p.is_dir() and not p.is_symlink() else p.lstat().st_size
    return out
