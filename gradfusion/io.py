"""Reading and writing images at the edge of the library.

``read_image`` returns the array as stored (uint8, uint16 or float); an alpha
channel is dropped when fully opaque and refused otherwise (composite it
first: gradfusion has no notion of a translucent scene). An EXIF orientation
is applied (the image is used as viewers display it) and an embedded ICC
profile is ignored, each with an :class:`ImageFileWarning`. ``write_image``
writes 8- or 16-bit PNG/TIFF atomically: the file is encoded in memory,
written to a temporary file in the target folder, flushed to disk, then
renamed over the target, so a failure never leaves a partial file and never
touches the previous one. See :doc:`/errors`.
"""

import contextlib
import io as _io
import logging
import os
import secrets
import stat
import struct
import warnings

import imageio.v3 as iio
import numpy as np
import png  # pypng: Pillow reads and writes 16-bit RGB PNG only as 8-bit

from . import _validation as v

__all__ = ["read_image", "write_image", "write_images", "write_text", "atomic_file",
           "ImageFileError", "ImageFileWarning", "WRITABLE_SUFFIXES"]

WRITABLE_SUFFIXES = (".png", ".tif", ".tiff")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ORIENTATION_TAG = 0x0112
#: EXIF orientation -> (what a viewer does, the same on an (H, W[, C]) array)
_ORIENTATIONS = {
    2: ("mirrored left-right", lambda a: a[:, ::-1]),
    3: ("rotated 180 degrees", lambda a: a[::-1, ::-1]),
    4: ("mirrored top-bottom", lambda a: a[::-1]),
    5: ("transposed", lambda a: np.swapaxes(a, 0, 1)),
    6: ("rotated 90 degrees clockwise", lambda a: np.rot90(a, -1)),
    7: ("transversed", lambda a: np.swapaxes(np.rot90(a, 2), 0, 1)),
    8: ("rotated 90 degrees counter-clockwise", lambda a: np.rot90(a, 1)),
}


class ImageFileError(ValueError):
    """An image file is missing, unreadable, or cannot be written."""


class ImageFileWarning(UserWarning):
    """An image file was read with a change or a loss worth knowing about.

    Issued for an applied EXIF orientation, an ignored ICC profile and
    warnings of the decoder; the message starts with the file's path.
    """


def _check_path(path, name="path"):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {v.describe(path)}")
    path = os.fspath(path)
    return os.fsdecode(path)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _decoder_messages():
    """Collect the warnings and the ``tifffile`` log records of a decoder.

    They are re-issued as :class:`ImageFileWarning` naming the file (or
    dropped when the read fails), instead of reaching stderr as stray lines.
    """
    handler = _Collect()
    logger = logging.getLogger("tifffile")
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler.messages, caught
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def read_image(path):
    """Read an image file into an array.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    image : (H, W) or (H, W, 3) ndarray
        uint8, uint16 or float as stored (1-bit images as uint8 0 and 255); an
        opaque alpha channel is dropped;
        rotated/mirrored as its EXIF orientation says.

    Raises
    ------
    ImageFileError
        Missing, unreadable, corrupt or truncated file, unsupported layout,
        translucent alpha.

    Warns
    -----
    ImageFileWarning
        When an EXIF orientation is applied, when an embedded ICC profile is
        ignored, and for the decoder's own warnings.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from gradfusion.io import read_image, write_image
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "a.png")
    ...     write_image(path, np.ones((4, 6, 3)))
    ...     image = read_image(path)
    >>> image.shape, image.dtype
    ((4, 6, 3), dtype('uint8'))
    """
    path = _check_path(path)
    if os.path.isdir(path):
        raise ImageFileError(f"{path}: is a folder, not an image file")
    if not os.path.isfile(path):
        raise ImageFileError(f"{path}: no such file")
    with _decoder_messages() as (logged, caught):
        try:
            with open(path, "rb") as fh:
                head = fh.read(26)
            if not head:
                raise ImageFileError(f"{path}: is empty (0 bytes)")
            if head[:8] == _PNG_SIGNATURE and len(head) == 26 and head[24] == 16:
                image = np.asarray(_read_png16(path))
            else:
                image = np.asarray(iio.imread(path))
            if image.size == 0:
                raise ImageFileError(f"{path}: contains no pixels (a corrupt or truncated file)")
            orientation, icc = _metadata(path, head)
        except ImageFileError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if "Could not find a backend" in str(exc):
                reason = "not a supported image format"
            raise ImageFileError(f"{path}: cannot read image ({reason})") from None
    if image.dtype == np.bool_:               # 1-bit images: black 0, white 255
        image = image.astype(np.uint8) * np.uint8(255)
    if image.dtype.kind not in "uf":
        raise ImageFileError(f"{path}: unsupported pixel type {image.dtype}")
    if image.ndim == 3 and image.shape[-1] in (2, 4):
        alpha = image[..., -1]
        full = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
        if np.any(alpha != full):
            raise ImageFileError(
                f"{path}: has a translucent alpha channel; composite it onto a background first")
        image = image[..., 0] if image.shape[-1] == 2 else image[..., :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ImageFileError(f"{path}: expected a grayscale or RGB image, got shape {image.shape}")
    if orientation in _ORIENTATIONS:
        what, transform = _ORIENTATIONS[orientation]
        image = np.ascontiguousarray(transform(image))
        warnings.warn(
            f"{path}: EXIF orientation {orientation} applied (the pixels are {what}, "
            f"now {image.shape[0]}x{image.shape[1]}, as viewers show them); outputs are "
            "written in this orientation without the tag", ImageFileWarning, stacklevel=2)
    elif orientation not in (None, 1):
        warnings.warn(f"{path}: invalid EXIF orientation {orientation!r} ignored",
                      ImageFileWarning, stacklevel=2)
    if icc:
        warnings.warn(
            f"{path}: embedded ICC colour profile ignored: pixel values are used as stored "
            "and outputs carry no profile (viewers assume sRGB)", ImageFileWarning,
            stacklevel=2)
    for message in logged + [str(w.message) for w in caught if not issubclass(
            w.category, (ResourceWarning, DeprecationWarning, PendingDeprecationWarning))]:
        warnings.warn(f"{path}: decoder: {message}", ImageFileWarning, stacklevel=2)
    return image


def _metadata(path, head):
    """``(EXIF orientation or None, has an ICC profile)`` of an image file."""
    if head[:8] == _PNG_SIGNATURE:
        return _png_metadata(path)
    if head[:4] in _TIFF_SIGNATURES:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            orientation = tags.get(274)
            return (None if orientation is None else int(orientation.value),
                    tags.get(34675) is not None)
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.getexif().get(_ORIENTATION_TAG), bool(im.info.get("icc_profile"))
    except Exception:       # a format Pillow does not know: imageio read it, no metadata
        return None, False


def _png_metadata(path):
    """Walk the chunks of a PNG for ``eXIf`` (orientation) and ``iCCP``."""
    orientation, icc = None, False
    with open(path, "rb") as fh:
        fh.seek(8)
        while True:
            header = fh.read(8)
            if len(header) < 8:
                break
            length, kind = struct.unpack(">I4s", header)
            if kind == b"IEND":
                break
            if kind == b"iCCP":
                icc = True
            if kind == b"eXIf":
                orientation = _exif_orientation(fh.read(length))
                fh.seek(4, os.SEEK_CUR)
            else:
                fh.seek(length + 4, os.SEEK_CUR)
    return orientation, icc


def _exif_orientation(data):
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception:
        return None
    return exif.get(_ORIENTATION_TAG)


def _read_png16(path):
    with open(path, "rb") as fh:
        width, height, rows, info = png.Reader(file=fh).asDirect()
        planes = info["planes"]
        data = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    data = data.reshape(height, width, planes)
    return data[..., 0] if planes == 1 else data


def _write_png16(fh, data):
    height, width = data.shape[:2]
    planes = 1 if data.ndim == 2 else data.shape[2]
    writer = png.Writer(width, height, bitdepth=16, greyscale=planes == 1,
                        alpha=False)
    writer.write(fh, data.reshape(height, width * planes))


def _quantize(image, bits):
    image = np.asarray(image)
    if image.dtype.kind == "u":
        src = np.iinfo(image.dtype).max
        image = image.astype(np.float64) / src
    maxval = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.round(np.clip(image, 0.0, 1.0) * maxval).astype(dtype)


def _check_write(path, image, bits, overwrite):
    """Validate one ``write_image`` call before anything is encoded or written."""
    path = _check_path(path)
    overwrite = v.flag(overwrite, "overwrite")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ImageFileError(
            f"{path}: output must end in one of {', '.join(WRITABLE_SUFFIXES)}")
    if isinstance(bits, (bool, np.bool_)) or bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    image = v.check_image(image, "image")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {image.shape}")
    _check_target(path, overwrite)
    return path, image, suffix, overwrite


def _check_target(path, overwrite):
    """The target may be written: not a folder, not an existing file without
    ``overwrite``, in a folder that exists."""
    if os.path.isdir(path):
        raise ImageFileError(f"{path}: is a folder")
    if os.path.lexists(path) and not overwrite:
        raise ImageFileError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageFileError(f"{path}: folder {folder} does not exist")


def _encode(image, bits, suffix):
    """The file's bytes, encoded in memory (nothing touches the disk yet)."""
    data = _quantize(image, bits)
    if suffix == ".png" and bits == 16:
        buf = _io.BytesIO()
        _write_png16(buf, data)
        return buf.getvalue()
    return iio.imwrite("<bytes>", data, extension=suffix)


def _write_payload(fd, payload):
    """Write all of ``payload`` to ``fd`` (a hook the tests replace to simulate a full disk)."""
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]


def _stage(path, payload, suffix):
    """Write ``payload`` to a new temporary file beside ``path``, flushed to disk; return its name.

    The file is created with mode 0o666 minus the umask (as a plain ``open``
    would), or with the mode of the file it will replace.
    """
    folder = os.path.dirname(os.path.abspath(path))
    mode = 0o666
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(os.stat(path).st_mode)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".gradfusion-{secrets.token_hex(6)}{suffix}")
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot create a temporary file in {folder}")
    try:
        try:
            _write_payload(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        if os.path.exists(path):
            os.chmod(tmp, mode)          # the umask may have cut the existing file's mode
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _commit(tmp, path, overwrite):
    """Rename ``tmp`` to ``path``; without ``overwrite``, never replace a file that appeared."""
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)           # atomic, and fails if path exists
        except FileExistsError:
            raise ImageFileError(
                f"{path}: exists; pass overwrite=True (--overwrite) to replace it") from None
        except OSError:                  # no hard links here: check, then rename
            if os.path.lexists(path):
                raise ImageFileError(
                    f"{path}: exists; pass overwrite=True (--overwrite) to replace it") from None
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)                 # make the rename itself durable
        finally:
            os.close(fd)


def write_images(items, *, bits=8, overwrite=False):
    """Write several images together: all of them or, on a failure before the renames, none.

    Parameters
    ----------
    items : sequence of (path, image)
        Each as for :func:`write_image`.
    bits : {8, 16}, optional
    overwrite : bool, optional
        As for :func:`write_image`.

    Notes
    -----
    All images are validated and encoded first, then all written to temporary
    files beside their targets, then all renamed over their targets: an error
    while checking, encoding or staging leaves none of them (e.g. a displayed
    residual is never left without its output image).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from gradfusion.io import write_images
    >>> folder = tempfile.mkdtemp()
    >>> write_images([(os.path.join(folder, "a.png"), np.zeros((4, 4))),
    ...               (os.path.join(folder, "b.png"), np.ones((4, 4)))])
    >>> sorted(os.listdir(folder))
    ['a.png', 'b.png']
    """
    checked = [_check_write(path, image, bits, overwrite) for path, image in items]
    staged = []
    current = checked[0][0]
    try:
        payloads = []
        for current, image, suffix, _ in checked:
            payloads.append(_encode(image, bits, suffix))
        for (current, _, suffix, _), payload in zip(checked, payloads):
            staged.append((_stage(current, payload, suffix), current))
        while staged:
            tmp, current = staged[0]
            _commit(tmp, current, overwrite)
            staged.pop(0)
    except BaseException as exc:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, (OSError, ValueError)) and not isinstance(exc, ImageFileError):
            raise ImageFileError(
                f"{current}: cannot write ({type(exc).__name__}: {exc})") from None
        raise


def write_image(path, image, *, bits=8, overwrite=False):
    """Write a [0, 1] float (or unsigned integer) image as 8- or 16-bit PNG/TIFF.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its suffix (.png, .tif, .tiff) picks the format.
    image : (H, W) or (H, W, 3) ndarray
        uint8, uint16, or float in [0, 1] (NaN and values outside [0, 1] are
        refused, as everywhere in gradfusion; values off by rounding, within
        8 machine epsilons of the dtype, are clipped).
    bits : {8, 16}, optional
    overwrite : bool, optional
        Replace an existing file; otherwise an existing file is an error.

    Raises
    ------
    ImageFileError
        Unsupported suffix, an existing file without ``overwrite``, a missing
        folder, or a failed write (full disk, permissions).
    TypeError, ValueError
        A bad ``image`` or ``bits``.

    Notes
    -----
    The image is encoded in memory, written to a temporary file in the same
    folder, flushed to disk (``fsync``), then renamed over ``path`` (atomic
    on POSIX): readers never see a partial file, and a failure leaves any
    previous file intact and no temporary behind. Without ``overwrite`` the
    final step is a hard link that fails if ``path`` appeared meanwhile.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from gradfusion.io import write_image
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "gray16.png")
    ...     write_image(path, np.linspace(0, 1, 12).reshape(3, 4), bits=16)
    ...     sorted(os.listdir(folder))                   # no temporary file left
    ['gray16.png']
    """
    write_images([(path, image)], bits=bits, overwrite=overwrite)


def write_text(path, text, *, overwrite=False):
    """Write a text file (a CSV or JSON table) atomically, as :func:`write_image` does.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    text : str
        Its contents, written as UTF-8.
    overwrite : bool, optional
        Replace an existing file; otherwise an existing file is an error.

    Raises
    ------
    ImageFileError
        An existing file without ``overwrite``, a missing folder, or a failed
        write; the previous file, if any, is left intact.
    """
    path = _check_path(path)
    overwrite = v.flag(overwrite, "overwrite")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    _check_target(path, overwrite)
    try:
        tmp = _stage(path, text.encode("utf-8"), os.path.splitext(path)[1])
        _commit(tmp, path, overwrite)
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot write ({type(exc).__name__}: {exc})") from None


@contextlib.contextmanager
def atomic_file(path, *, overwrite=False):
    """A temporary path beside ``path`` for another writer; renamed over ``path`` on success.

    For files that a library writes itself (a video encoder): the block writes the file at the
    yielded path (same folder, same suffix, hidden name); when the block ends normally the file
    is flushed to disk and renamed to ``path`` as :func:`write_image` does, and when it raises
    the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    overwrite : bool, optional
        Replace an existing file; otherwise an existing file is an error (checked before the
        block and again at the rename).

    Yields
    ------
    tmp : str
        The path to write.

    Raises
    ------
    ImageFileError
        An existing file without ``overwrite``, a missing folder, or a failed rename.

    Examples
    --------
    >>> import os, tempfile
    >>> from gradfusion.io import atomic_file
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_file(os.path.join(folder, "notes.txt")) as tmp:
    ...         with open(tmp, "w") as fh:
    ...             _ = fh.write("written elsewhere")
    ...     sorted(os.listdir(folder))
    ['notes.txt']
    """
    path = _check_path(path)
    overwrite = v.flag(overwrite, "overwrite")
    _check_target(path, overwrite)
    tmp = _stage(path, b"", os.path.splitext(path)[1])
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _commit(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
