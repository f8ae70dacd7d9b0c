"""Evidence photos: the original kept byte for byte, content-addressed, plus a display copy and a thumbnail.

Layout under ``PATROL_DATA_DIR`` (every path stored in the database is relative to it, with ``/``)::

    photos/originals/ab/<sha256>.<jpg|png|heic|heif>   the uploaded bytes, untouched (read-only file)
    photos/display/ab/<sha256>.jpg                      ≤ 1600 px on the long side, EXIF orientation applied
    photos/thumbs/ab/<sha256>.jpg                       ≤ 320 px

``ab`` is the first two hex digits of the SHA-256 of the original. Files are written atomically (temporary
file in the same directory, then ``os.replace``), so a crash never leaves half a photo under its final name;
storing the same bytes again writes nothing and returns the same paths.

The type is decided by the content (magic bytes, then the decoder), never by the file name. EXIF is read for
the time the picture was taken only; EXIF GPS is ignored (browsers often strip it and it cannot be trusted).
The display copy and the thumbnail carry no EXIF at all.

A file store only: no database, no Streamlit (which rows point at which photo, and checking the originals
against them, is :mod:`patrol_app.services.photo_verify`). HEIC/HEIF support comes from ``pillow-heif``,
registered on first use.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import os
import re
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from patrol_app.config import get_settings
from patrol_app.services.errors import ServiceError

MAX_MB = 30
MAX_BYTES = MAX_MB * 1024 * 1024
#: Pillow's own decompression-bomb limit (images above it are refused before decoding; Pillow's limit is None
#: only when an importer turned the check off).
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS is not None else 0
#: Photos are refused above this many pixels, read from the header before anything is decoded (a phone's
#: largest sensor is 200 MP in a special mode; evidence photos are 12–50 MP).
MAX_DECODE_PIXELS = 50_000_000
#: Photos decoded at the same time, across all users of this process.
DECODE_CONCURRENCY = 2
_DECODE_SLOTS = threading.BoundedSemaphore(DECODE_CONCURRENCY)
DISPLAY_MAX_PX = 1600
DISPLAY_QUALITY = 85
THUMB_MAX_PX = 320
THUMB_QUALITY = 80
HASH_CHUNK = 1024 * 1024

PHOTOS_DIR = "photos"

_HEVC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2", b"miaf"}
_AVIF_BRANDS = {b"avif", b"avis"}

# EXIF orientation → the transpose that shows the picture upright (the same table as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TAG_ORIENTATION = 0x0112
_TAG_DATETIME = 0x0132
_TAG_DATETIME_ORIGINAL = 0x9003
_IFD_EXIF = 0x8769
_EXIF_DATE = re.compile(r"\s*(\d{4})[:\-/](\d{1,2})[:\-/](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})")

# What a broken or hostile file makes Pillow and its plugins raise while opening or decoding.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    RuntimeError,
    struct.error,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
)


@dataclass(frozen=True)
class StoredPhoto:
    """A photo in the evidence store; ``path`` and ``display_path`` are relative to ``PATROL_DATA_DIR``.

    ``width``/``height`` are the picture's size as seen upright (after EXIF orientation); ``taken_at`` is
    EXIF DateTimeOriginal (else DateTime) as the camera's naive local time, or None."""

    sha256: str
    path: str
    display_path: str
    filename: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    taken_at: dt.datetime | None

    @property
    def thumb_path(self) -> str:
        return thumb_path(self.sha256)


# --- paths -----------------------------------------------------------------------------------------------


def original_path(sha: str, ext: str) -> str:
    return f"{PHOTOS_DIR}/originals/{sha[:2]}/{sha}.{ext}"


def display_path(sha: str) -> str:
    return f"{PHOTOS_DIR}/display/{sha[:2]}/{sha}.jpg"


def thumb_path(sha: str) -> str:
    return f"{PHOTOS_DIR}/thumbs/{sha[:2]}/{sha}.jpg"


def _root(data_dir: Path | str | None) -> Path:
    return Path(data_dir) if data_dir is not None else get_settings().data_dir


# --- storing ---------------------------------------------------------------------------------------------


def store_photo(data: bytes, filename: str, data_dir: Path | None = None) -> StoredPhoto:
    """Keep ``data`` as evidence and make its display copy and thumbnail; see the module docstring.

    Raises ``ServiceError`` ``photo.too_large`` (over 30 MB), ``photo.unsupported`` (not JPEG, PNG or
    HEIC/HEIF by content), ``photo.too_many_pixels`` or ``photo.unreadable`` (corrupt or truncated image).
    Nothing is written when it raises."""
    name = _clean_filename(filename)
    data = bytes(data)
    if len(data) > MAX_BYTES:
        raise ServiceError("photo.too_large", file=name, mb=MAX_MB)
    ext, content_type = _sniff(data, name)
    sha = hashlib.sha256(data).hexdigest()
    root = _root(data_dir)
    rel_orig, rel_disp, rel_thumb = original_path(sha, ext), display_path(sha), thumb_path(sha)
    orig, disp, thumb = root / rel_orig, root / rel_disp, root / rel_thumb

    img = _open(data, ext, name)
    with img:
        w, h = img.size  # from the header: nothing decoded yet
        if w * h > MAX_DECODE_PIXELS:
            raise ServiceError("photo.too_many_pixels", file=name, max_mp=MAX_DECODE_PIXELS // 1_000_000)
        exif = _exif(img)
        orientation = _orientation(exif) if ext in ("jpg", "png") else 1  # pillow-heif applies HEIF rotation
        width, height = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        taken_at = _taken_at(exif)
        # An original already stored was decoded when it came in: only a lost derived copy needs decoding
        # again. Otherwise decode fully (corrupt or truncated files fail here) before writing anything.
        if not (orig.exists() and disp.exists() and thumb.exists()):
            with _DECODE_SLOTS:  # a decoded 50 MP photo takes ~200 MB: a few at a time, whatever the uploads
                display_jpg, thumb_jpg = _derive(img, ext, orientation, name)
            if not orig.exists():
                _write_atomic(orig, data, read_only=True, sync=True)
            _write_atomic(disp, display_jpg)
            _write_atomic(thumb, thumb_jpg)
    return StoredPhoto(
        sha256=sha,
        path=rel_orig,
        display_path=rel_disp,
        filename=name,
        content_type=content_type,
        size=len(data),
        width=width,
        height=height,
        taken_at=taken_at,
    )


def _clean_filename(filename: str) -> str:
    """The name as the user knows it, without any directory part (browsers on Windows may send one)."""
    name = re.split(r"[\\/]", filename or "")[-1].strip()
    return name[:255]


def _sniff(data: bytes, name: str) -> tuple[str, str]:
    """(extension, MIME type) from the magic bytes; anything but JPEG, PNG and HEVC/HEIF is refused."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg", "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png", "image/png"
    if len(data) >= 16 and data[4:8] == b"ftyp":
        size = int.from_bytes(data[:4], "big")
        end = min(size if size >= 16 else 16, len(data), 4096)
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & _HEVC_BRANDS:
            return "heic", "image/heic"
        if brands & _HEIF_BRANDS and not brands & _AVIF_BRANDS:
            return "heif", "image/heif"
    raise ServiceError("photo.unsupported", file=name)


@functools.cache
def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _open(data: bytes, ext: str, name: str) -> Image.Image:
    if ext in ("heic", "heif"):
        _register_heif()
    fmt = {"jpg": "JPEG", "png": "PNG", "heic": "HEIF", "heif": "HEIF"}[ext]
    try:
        return Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError:
        raise ServiceError("photo.too_many_pixels", file=name, max_mp=MAX_PIXELS // 1_000_000) from None
    except _DECODE_ERRORS:
        raise ServiceError("photo.unreadable", file=name) from None


def _exif(img: Image.Image) -> Image.Exif | None:
    try:
        return img.getexif()
    except _DECODE_ERRORS:  # a broken EXIF block must not cost the photo
        return None


def _orientation(exif: Image.Exif | None) -> int:
    try:
        value = int(exif.get(_TAG_ORIENTATION, 1)) if exif is not None else 1
    except (TypeError, ValueError):
        return 1
    return value if value in _ORIENTATION else 1


def _taken_at(exif: Image.Exif | None) -> dt.datetime | None:
    """EXIF DateTimeOriginal, else DateTime, as a naive local datetime (the camera's clock); None if absent
    or not a real date (cameras write ``0000:00:00 00:00:00`` when they have no clock)."""
    if exif is None:
        return None
    try:
        sub = exif.get_ifd(_IFD_EXIF)
    except _DECODE_ERRORS:
        sub = {}
    for value in (sub.get(_TAG_DATETIME_ORIGINAL), exif.get(_TAG_DATETIME_ORIGINAL), exif.get(_TAG_DATETIME)):
        parsed = _parse_exif_date(value)
        if parsed is not None:
            return parsed
    return None


def _parse_exif_date(value: object) -> dt.datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    m = _EXIF_DATE.match(value)
    if not m:
        return None
    try:
        year, month, day, hour, minute, second = map(int, m.groups())
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    w, h = size
    if max(w, h) <= longest:
        return w, h
    k = longest / max(w, h)
    return max(1, round(w * k)), max(1, round(h * k))


def _derive(img: Image.Image, ext: str, orientation: int, name: str) -> tuple[bytes, bytes]:
    """Decode the whole image and encode the display copy and the thumbnail (JPEG, no EXIF)."""
    target = _fit(img.size, DISPLAY_MAX_PX)
    try:
        if ext == "jpg" and target != img.size:
            img.draft(None, target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale (never below target): faster
        img.load()
        view = _to_rgb(img)
        # The colour profile stays valid only when the colour space does (not after CMYK → RGB, say).
        same_space = _space(img.mode) is not None and _space(img.mode) == _space(view.mode)
        icc = img.info.get("icc_profile") if same_space else None
        if view.size != target:
            # Box-reduce by a whole factor first, then bicubic over what is left (at most 2:1 after libjpeg's
            # scaled decode): what the eye can't tell from Lanczos at this size, in two thirds of its time.
            view = view.resize(target, Image.Resampling.BICUBIC, reducing_gap=1.0)
        if orientation in _ORIENTATION:
            view = view.transpose(_ORIENTATION[orientation])
        display = _jpeg(view, DISPLAY_QUALITY, icc)
        small = (
            view.resize(_fit(view.size, THUMB_MAX_PX), Image.Resampling.LANCZOS, reducing_gap=2.0)
            if max(view.size) > THUMB_MAX_PX
            else view
        )
        return display, _jpeg(small, THUMB_QUALITY, icc)
    except ServiceError:
        raise
    except _DECODE_ERRORS:
        raise ServiceError("photo.unreadable", file=name) from None


def _space(mode: str) -> str | None:
    if mode in ("RGB", "RGBA", "RGBa", "RGBX", "P", "PA"):
        return "rgb"
    if mode in ("L", "LA", "La", "1") or mode.startswith("I") or mode == "F":
        return "grey"
    return None


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB or L, as JPEG holds them: transparency flattened onto white, 16-bit grey scaled to 8 bits."""
    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode.startswith("I") or mode == "F":
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if img.mode in ("LA", "La"):
        la = img.convert("LA")
        flat = Image.new("L", la.size, 255)
        flat.paste(la.getchannel("L"), mask=la.getchannel("A"))
        return flat
    if img.mode in ("RGBA", "RGBa"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGB")


def _jpeg(img: Image.Image, quality: int, icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    opts = {"icc_profile": icc} if icc else {}
    img.save(buf, "JPEG", quality=quality, **opts)
    return buf.getvalue()


def private_dirs(path: Path) -> None:
    from patrol_app.storage.db import private_dir

    private_dir(path)


def _write_atomic(path: Path, data: bytes, *, read_only: bool = False, sync: bool = False) -> None:
    """Write ``data`` under ``path`` all at once: a temporary file in the same directory, then
    ``os.replace``."""
    private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(
            tmp, 0o400 if read_only else 0o600
        )  # the service user's only (evidence: originals read-only)
        try:
            os.replace(tmp, path)
        except PermissionError:
            # Windows will not replace a read-only file: another writer stored the same bytes first.
            if not (read_only and path.exists()):
                raise
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if sync and hasattr(os, "O_DIRECTORY"):
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# --- reading ------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def photo_file(rel: str, data_dir: Path | str | None = None) -> Path:
    """The file of a stored photo path (as :class:`StoredPhoto` and the database hold it, relative to the data
    directory with ``/``). A path reaching outside the data directory is refused."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or ".." in parts or "\\" in rel:
        raise ValueError(f"not a stored photo path: {rel!r}")
    return _root(data_dir).joinpath(*parts)


def thumbnail_file(sha: str, display: str, data_dir: Path | str | None = None) -> Path:
    """The thumbnail of the photo ``sha``, else (a store from before thumbnails) its display copy."""
    thumb = photo_file(thumb_path(sha), data_dir)
    return thumb if thumb.exists() else photo_file(display, data_dir)


__all__ = [
    "MAX_BYTES",
    "MAX_MB",
    "StoredPhoto",
    "display_path",
    "file_sha256",
    "original_path",
    "photo_file",
    "store_photo",
    "thumb_path",
    "thumbnail_file",
]
