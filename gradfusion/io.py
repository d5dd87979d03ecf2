"""Reading and writing images at the edge of the library.

``read_image`` returns the array as stored (uint8, uint16 or float); an alpha
channel is dropped when fully opaque and refused otherwise (composite it
first: gradfusion has no notion of a translucent scene).  ``write_image``
writes 8- or 16-bit PNG/TIFF atomically: to a temporary file in the target
folder, then ``os.replace``, so a failure never leaves a partial file.
"""

import os
import tempfile

import imageio.v3 as iio
import numpy as np
import png  # pypng: Pillow reads and writes 16-bit RGB PNG only as 8-bit

__all__ = ["read_image", "write_image", "write_text", "ImageFileError", "WRITABLE_SUFFIXES"]

WRITABLE_SUFFIXES = (".png", ".tif", ".tiff")


class ImageFileError(ValueError):
    """An image file is missing, unreadable, or cannot be written."""


def read_image(path):
    """Read an image file into an array.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    image : (H, W) or (H, W, 3) ndarray
        uint8, uint16 or float as stored; an opaque alpha channel is dropped.

    Raises
    ------
    ImageFileError
        Missing or unreadable file, unsupported layout, translucent alpha.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageFileError(f"{path}: no such file")
    try:
        if _png_bit_depth(path) == 16:
            image = _read_png16(path)
        else:
            image = iio.imread(path)
    except Exception as exc:
        raise ImageFileError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from None
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 4:
        alpha = image[..., 3]
        full = np.iinfo(image.dtype).max if image.dtype.kind == "u" else 1.0
        if np.any(alpha != full):
            raise ImageFileError(
                f"{path}: has a translucent alpha channel; composite it onto a background first")
        image = image[..., :3]
    elif image.ndim == 3 and image.shape[-1] == 2:      # gray + alpha
        if np.any(image[..., 1] != np.iinfo(image.dtype).max):
            raise ImageFileError(
                f"{path}: has a translucent alpha channel; composite it onto a background first")
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ImageFileError(f"{path}: expected a grayscale or RGB image, got shape {image.shape}")
    if image.dtype.kind not in "uf":
        raise ImageFileError(f"{path}: unsupported pixel type {image.dtype}")
    return image


def _png_bit_depth(path):
    """Bit depth from a PNG's IHDR chunk, or None for other files."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 26:
        return None
    return head[24]


def _read_png16(path):
    width, height, rows, info = png.Reader(filename=path).asDirect()
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


def write_image(path, image, *, bits=8, overwrite=False):
    """Write a [0, 1] float (or unsigned integer) image as 8- or 16-bit PNG/TIFF.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its suffix (.png, .tif, .tiff) picks the format.
    image : (H, W) or (H, W, 3) ndarray
    bits : {8, 16}, optional
    overwrite : bool, optional
        Replace an existing file; otherwise an existing file is an error.

    Notes
    -----
    The image is written to a temporary file in the same folder, which is then
    renamed over ``path`` (atomic on POSIX): readers never see a partial file,
    and a failure leaves any previous file intact and no temporary behind.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ImageFileError(
            f"{path}: output must end in one of {', '.join(WRITABLE_SUFFIXES)}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    if os.path.exists(path) and not overwrite:
        raise ImageFileError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageFileError(f"{path}: folder {folder} does not exist")
    data = _quantize(image, bits)
    fd, tmp = tempfile.mkstemp(prefix=".gradfusion-", suffix=suffix, dir=folder)
    try:
        if suffix == ".png" and bits == 16:
            with os.fdopen(fd, "wb") as fh:
                _write_png16(fh, data)
        else:
            os.close(fd)
            iio.imwrite(tmp, data, extension=suffix)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, (OSError, ValueError)) and not isinstance(exc, ImageFileError):
            raise ImageFileError(f"{path}: cannot write ({type(exc).__name__}: {exc})") from None
        raise


def _atomic_write(path, write, *, overwrite):
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over
    ``path``; on any failure remove the temporary file and leave ``path`` as it was."""
    if os.path.exists(path) and not overwrite:
        raise ImageFileError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ImageFileError(f"{path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".gradfusion-", suffix=os.path.splitext(path)[1], dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise ImageFileError(f"{path}: cannot write ({type(exc).__name__}: {exc})") from None
        raise


def write_text(path, text, *, overwrite=False):
    """Write a text file (a CSV or JSON table) atomically, as :func:`write_image` does.

    Parameters
    ----------
    path : str or os.PathLike
    text : str
    overwrite : bool, optional
        Replace an existing file; otherwise an existing file is an error.
    """
    path = os.fspath(path)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    _atomic_write(path, write, overwrite=overwrite)
