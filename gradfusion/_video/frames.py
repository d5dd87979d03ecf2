"""Frame sources and sinks: folders of image files, and video files through imageio.

Folders need nothing beyond gradfusion's own dependencies (:mod:`gradfusion.io` reads and
writes each frame). Video files go through imageio's FFmpeg plugin, whose ``imageio-ffmpeg``
package (the ``video`` extra) ships an FFmpeg binary; it is imported only when a video file
is read or written.
"""

import os
import re

import numpy as np

from .. import io

__all__ = ["VIDEO_SUFFIXES", "FRAME_SUFFIXES", "VideoUnavailableError", "is_video_path",
           "frame_files", "iter_frames", "video_fps", "FrameSink"]

#: file suffixes read and written as video files (anything else is a folder of frames)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm")
#: files of a frame folder that are read as frames
FRAME_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
#: file name of frame ``k`` in a written folder
FRAME_NAME = "{:06d}.png"


class VideoUnavailableError(ImportError):
    """A video file was given but imageio's FFmpeg backend (``imageio-ffmpeg``) is missing."""

    __module__ = "gradfusion.video"


def require_ffmpeg(path):
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        raise VideoUnavailableError(
            f"{path}: reading and writing video files needs imageio-ffmpeg (pip install "
            "'gradfusion[video]'); folders of frames work without it") from None


def is_video_path(path):
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_SUFFIXES


def _natural_key(name):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_files(folder):
    """The frame files of ``folder`` in natural order (``2.png`` before ``10.png``)."""
    names = [n for n in os.listdir(folder)
             if os.path.splitext(n)[1].lower() in FRAME_SUFFIXES and not n.startswith(".")]
    if not names:
        raise io.ImageFileError(f"{folder}: holds no frames (image files ending in "
                                f"{', '.join(FRAME_SUFFIXES)})")
    return [os.path.join(folder, n) for n in sorted(names, key=_natural_key)]


def iter_frames(path):
    """Frames of a video file or a folder, one array at a time (uint8/uint16 as stored)."""
    if os.path.isdir(path):
        for name in frame_files(path):
            yield io.read_image(name)
        return
    require_ffmpeg(path)
    import imageio.v3 as iio

    try:
        for frame in iio.imiter(path, plugin="FFMPEG"):
            yield frame
    except (OSError, RuntimeError, ValueError) as exc:
        raise io.ImageFileError(f"{path}: cannot read video ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:200]})") from None


def video_fps(path):
    """Frames per second of a video file (None for a folder or an unknown rate)."""
    if os.path.isdir(path) or not is_video_path(path):
        return None
    require_ffmpeg(path)
    import imageio.v3 as iio

    try:
        fps = iio.immeta(path, plugin="FFMPEG").get("fps")
    except Exception:
        return None
    return float(fps) if fps else None


class FrameSink:
    """Writes frames one at a time to a folder (one PNG/TIFF each, each atomic) or to a video
    file (encoded into a temporary file beside it, renamed over it by :meth:`close`; a run
    cut short by :meth:`abort` or an exception leaves no file)."""

    def __init__(self, path, *, fps=30.0, bits=8, overwrite=False, quality=8):
        self.path = os.fspath(path)
        self.video = is_video_path(self.path)
        self.bits, self.overwrite, self.count = bits, overwrite, 0
        self._writer = self._atomic = None
        if self.video:
            require_ffmpeg(self.path)
            import imageio.v2 as iio2

            self._atomic = io.atomic_file(self.path, overwrite=overwrite)
            tmp = self._atomic.__enter__()
            try:
                self._writer = iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps,
                                               quality=quality, macro_block_size=2)
            except BaseException as exc:
                self._atomic.__exit__(type(exc), exc, exc.__traceback__)
                raise
        else:
            os.makedirs(self.path, exist_ok=True)

    def write(self, frame):
        if self.video:
            self._writer.append_data(_as_uint8(frame))
        else:
            io.write_image(os.path.join(self.path, FRAME_NAME.format(self.count)), frame,
                           bits=self.bits, overwrite=self.overwrite)
        self.count += 1

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            atomic, self._atomic = self._atomic, None
            atomic.__exit__(None, None, None)

    def abort(self):
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None
                atomic, self._atomic = self._atomic, None
                atomic.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.close()
        else:
            self.abort()
        return False


def _as_uint8(frame):
    frame = np.asarray(frame)
    if frame.dtype == np.uint8:
        return frame
    if frame.dtype.kind == "u":
        return (frame >> (8 * frame.dtype.itemsize - 8)).astype(np.uint8)
    return np.round(np.clip(frame, 0.0, 1.0) * 255).astype(np.uint8)
