"""Every bad input: its exception (or warning) and exact message, one case per row of docs/errors.md.

The table in docs/errors.md is generated from the cases below and
``test_table_is_in_step`` checks that the file holds exactly it: after adding
or changing a case, regenerate the table with ``python tests/test_errors.py``
and paste it between the markers. In a message, ``…`` stands for text that
varies (a folder, a decoder's own words); everything else is matched exactly,
from the first character to the last.
"""

import os
import re
import sys
from unittest import mock

import numpy as np
import pytest

import gradfusion
from gradfusion import MemoryLimitError, _lpips, _memory, baselines, io, metrics, poisson
from gradfusion.cli import main
from helpers import make_pair

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(HERE), "docs", "errors.md")
BEGIN, END = "<!-- table:begin -->", "<!-- table:end -->"
CLI_BEGIN, CLI_END = "<!-- cli-table:begin -->", "<!-- cli-table:end -->"


class Case:
    """One row: what is called, with which bad input, and what must happen."""

    def __init__(self, id, function, argument, bad, exc, message, call):
        self.id, self.function, self.argument, self.bad = id, function, argument, bad
        self.exc, self.message, self.call = exc, message, call

    @property
    def outcome(self):
        if self.exc is None:
            return "accepted"
        if isinstance(self.exc, str):
            return self.exc
        name = self.exc.__name__
        return f"{name} (warning)" if issubclass(self.exc, Warning) else name


def _pattern(message):
    """The message as an anchored regex; ``…`` matches anything."""
    return "^" + ".*".join(re.escape(part) for part in message.split("…")) + "$"


def _img(shape=(8, 8, 3), fill=0.5, dtype=np.float64, at=None, value=None):
    a = np.full(shape, fill, dtype=dtype)
    if at is not None:
        a[at] = value
    return a


def _env(**values):
    return mock.patch.dict(os.environ, values)


def _file(name, content):
    """Create ``name`` in the working folder (tests run in a temporary one); return the name."""
    if isinstance(content, bytes):
        with open(name, "wb") as fh:
            fh.write(content)
    elif isinstance(content, str) and content == "folder":
        os.makedirs(name, exist_ok=True)
    else:
        import imageio.v3 as iio
        iio.imwrite(name, content)
    return name


I3, P3 = _img(), _img(fill=0.25)
NAN, INF = float("nan"), float("inf")
RGBA = np.dstack([np.full((4, 4, 3), 255, np.uint8), np.full((4, 4), 10, np.uint8)])


# --------------------------------------------------------------------------- (image, proposal, alpha)


def _residual_for(image, proposal):
    """A residual of the pair's shape (the colour one's, for a gray image and RGB proposal)."""
    try:
        shapes = [np.shape(image), np.shape(proposal)]
        return np.zeros(max(shapes, key=len) if len(shapes[0]) != len(shapes[1]) else shapes[0])
    except Exception:
        return np.zeros((8, 8, 3))


#: every function that takes an (image, proposal, alpha) triple runs every PAIR case
PAIR_FUNCTIONS = {
    "solve": lambda I, P, a, **k: gradfusion.solve(I, P, a, **k),
    "heuristic": lambda I, P, a, **k: baselines.heuristic(I, P, a, **k),
    "stay_positive": lambda I, P, a, **k: baselines.stay_positive(I, P, a, **k),
    "stay_positive_pixels": lambda I, P, a, **k: baselines.stay_positive_pixels(I, P, a, **k),
    "stay_positive_loss":
        lambda I, P, a, **k: baselines.stay_positive_loss(I, P, _residual_for(I, P), a, **k),
    "paper_loss": lambda I, P, a, **k: gradfusion.paper_loss(I, P, _residual_for(I, P), a, **k),
}
PAIR = "solve, baselines.*, paper_loss"


def _pair_case(id, argument, bad, exc, message, image=I3, proposal=P3, alpha=0.7, **kwargs):
    """A case of every function that takes (image, proposal, alpha): PAIR_FUNCTIONS."""
    return Case(id, PAIR, argument, bad, exc, message,
                lambda fn: fn(image, proposal, alpha, **kwargs))


_DTYPE = "must have an unsigned integer or floating dtype (uint8, uint16, float32, float64), got"
_ALPHA_RANGE = "alpha must lie in the open interval (0, 1), got"
_ALPHA_MAPS = ("give a scalar, one alpha per channel (3) or a map of shape (8, 8) or (8, 8, 1) "
               "(one per pixel) or the image's shape (8, 8, 3) (one per pixel and channel)")


def _alpha_map(shape, dtype=np.float64, at=None, value=None):
    """A valid, non-constant alpha map (0.5 and 0.6 alternating), one entry set to ``value``."""
    a = (0.5 + 0.1 * (np.indices(shape).sum(axis=0) % 2)).astype(dtype)
    if at is not None:
        a[at] = value
    return a
_ALPHA_TYPE = "alpha must be a number or a sequence of numbers, got"
_RANGE = "image is a float image, so its values must lie in [0, 1]"
_RANGE64 = _RANGE + " (to within 1.8e-15 for float64)"      # 8 eps: rounding is accepted, clipped
_RANGE32 = _RANGE + " (to within 9.5e-07 for float32)"

PAIR_CASES = [
    _pair_case("pair-shape-mismatch", "image, proposal", "shapes (8, 8, 3) and (8, 9, 3)", ValueError,
          "image and proposal must have the same shape, got (8, 8, 3) and (8, 9, 3)",
          proposal=_img((8, 9, 3))),
    _pair_case("pair-gray-vs-rgb", "image, proposal", "a gray image and an RGB proposal", None,
          "accepted: the gray image is repeated over the channels", image=_img((8, 8))),
    _pair_case("pair-gray-vs-other-size", "image, proposal", "a gray 8x9 image, an 8x8 RGB proposal",
          ValueError, "image and proposal must have the same shape, got (8, 9) and (8, 8, 3)",
          image=_img((8, 9))),
    _pair_case("pair-ndim-1", "image", "1-D array", ValueError,
          "image must be 2-D (grayscale) or 3-D (with channels), got 1-D shape (8,)",
          image=_img((8,)), proposal=_img((8,))),
    _pair_case("pair-ndim-4", "image", "4-D array", ValueError,
          "image must be 2-D (grayscale) or 3-D (with channels), got 4-D shape (8, 8, 3, 1)",
          image=_img((8, 8, 3, 1)), proposal=_img((8, 8, 3, 1))),
    _pair_case("pair-scalar", "image", "a number", ValueError,
          "image must be 2-D (grayscale) or 3-D (with channels), got 0-D shape ()",
          image=0.5, proposal=0.5),
    _pair_case("pair-channel-axis-none", "channel_axis", "None with 3-D images", ValueError,
          "image is 3-D with shape (8, 8, 3) but channel_axis is None; pass channel_axis (e.g. -1) "
          "or a 2-D grayscale image", channel_axis=None),
    _pair_case("pair-channel-axis-range", "channel_axis", "3", ValueError,
          "channel_axis must be an integer in [-3, 2] or None, got 3", channel_axis=3),
    _pair_case("pair-channel-axis-float", "channel_axis", "1.0", TypeError,
          "channel_axis must be an integer or None, got float 1.0", channel_axis=1.0),
    _pair_case("pair-channel-axis-bool", "channel_axis", "True", TypeError,
          "channel_axis must be an integer or None, got bool True", channel_axis=True),
    _pair_case("pair-channel-count", "channel_axis, alpha",
          "(3, 8, 8) images with channel_axis=-1 (8 channels) and 3 alphas", ValueError,
          "alpha has 3 values but the images have 8 channel(s); give one alpha per channel or a "
          "scalar", image=_img((3, 8, 8)), proposal=_img((3, 8, 8)), alpha=[0.6, 0.7, 0.8]),
    _pair_case("pair-empty", "image", "shape (0, 8)", ValueError, "image is empty (shape (0, 8))",
          image=_img((0, 8)), proposal=_img((0, 8))),
    _pair_case("pair-empty-channels", "image", "shape (8, 8, 0)", ValueError,
          "image is empty (shape (8, 8, 0))", image=_img((8, 8, 0)), proposal=_img((8, 8, 0))),
    _pair_case("pair-one-pixel", "image", "1x1 pixel", ValueError,
          "image must be at least 2x2 pixels, got 1x1", image=_img((1, 1)), proposal=_img((1, 1))),
    _pair_case("pair-one-row", "image", "1x8 pixels, RGB", ValueError,
          "image must be at least 2x2 pixels, got 1x8", image=_img((1, 8, 3)),
          proposal=_img((1, 8, 3))),
    _pair_case("pair-nan", "image", "one NaN", ValueError,
          "image contains NaN or infinite values (1 of 192)", image=_img(at=(2, 3, 1), value=NAN)),
    _pair_case("pair-inf", "proposal", "one +inf", ValueError,
          "proposal contains NaN or infinite values (1 of 192)", proposal=_img(at=(0, 0, 0), value=INF)),
    _pair_case("pair-minus-inf", "image", "one -inf", ValueError,
          "image contains NaN or infinite values (1 of 192)", image=_img(at=(7, 7, 2), value=-INF)),
    _pair_case("pair-above-1", "image", "a float value 1.5", ValueError,
          f"{_RANGE64}; got values in [0.5, 1.5]", image=_img(at=(1, 1, 1), value=1.5)),
    _pair_case("pair-below-0", "proposal", "a float value -0.1", ValueError,
          f"proposal{_RANGE64[5:]}; got values in [-0.1, 0.25]",
          proposal=_img(fill=0.25, at=(1, 1, 1), value=-0.1)),
    _pair_case("pair-float32-above-1", "image", "float32 value 1.25", ValueError,
          f"{_RANGE32}; got values in [0.5, 1.25]",
          image=_img(dtype=np.float32, at=(0, 1, 2), value=1.25)),
    _pair_case("pair-above-1-by-1e-12", "image", "a float value 1 + 1e-12", ValueError,
          f"{_RANGE64}; got values in [0.5, 1.000000000001]",
          image=_img(at=(1, 1, 1), value=1 + 1e-12)),
    _pair_case("pair-float32-below-0", "proposal", "float32 value -1e-6", ValueError,
          f"proposal{_RANGE32[5:]}; got values in [-1e-06, 0.25]",
          proposal=_img(fill=0.25, dtype=np.float32, at=(1, 1, 1), value=-1e-6)),
    _pair_case("pair-rounding-above-1", "image", "a float value 1 ulp above 1", None,
          "accepted: clipped to 1 (within 8 eps of the dtype: rounding)",
          image=_img(at=(1, 1, 1), value=np.nextafter(1.0, 2.0))),
    _pair_case("pair-rounding-below-0", "proposal", "a float value -8.7e-17 (ycbcr2rgb of rgb2ycbcr)",
          None, "accepted: clipped to 0 (within 8 eps of the dtype: rounding)",
          proposal=_img(fill=0.25, at=(1, 1, 1), value=-8.7e-17)),
    _pair_case("pair-float32-rounding", "image", "float32 values 1 + 4 eps and -4 eps", None,
          "accepted: clipped to [0, 1] (within 8 eps of the dtype: rounding)",
          image=_img(dtype=np.float32, at=(slice(0, 2), 1, 2),
                     value=[1 + 4 * 2.0 ** -23, -4 * 2.0 ** -23])),
    _pair_case("pair-complex", "image", "complex128 array", TypeError, f"image {_DTYPE} dtype complex128",
          image=I3.astype(complex)),
    _pair_case("pair-bool", "image", "bool array", TypeError, f"image {_DTYPE} dtype bool",
          image=I3 > 0.3),
    _pair_case("pair-object", "proposal", "object array", TypeError, f"proposal {_DTYPE} dtype object",
          proposal=P3.astype(object)),
    _pair_case("pair-signed-int", "image", "int16 array", TypeError, f"image {_DTYPE} dtype int16",
          image=np.zeros((8, 8, 3), np.int16)),
    _pair_case("pair-strings", "image", "array of strings", TypeError, f"image {_DTYPE} dtype <U1",
          image=np.full((8, 8, 3), "a")),
    _pair_case("pair-str", "image", "a file name", TypeError,
          "image must be an array, got str 'scene.png'", image="scene.png"),
    _pair_case("pair-none", "proposal", "None", TypeError, "proposal must be an array, got None",
          proposal=None),
    _pair_case("pair-masked-image", "image", "masked array", TypeError,
          "image must be a plain ndarray, got a masked array; fill it first (np.ma.filled)",
          image=np.ma.masked_array(I3)),
    _pair_case("pair-masked-proposal", "proposal", "masked array", TypeError,
          "proposal must be a plain ndarray, got a masked array; fill it first (np.ma.filled)",
          proposal=np.ma.masked_array(P3, mask=P3 > 1)),
    _pair_case("pair-ragged", "image", "ragged nested list", TypeError,
          "image must be array-like, got list [[0.5, 0.5], [0.5]]", image=[[0.5, 0.5], [0.5]]),
    _pair_case("pair-alpha-above", "alpha", "1.5", ValueError, f"{_ALPHA_RANGE} 1.5", alpha=1.5),
    _pair_case("pair-alpha-one", "alpha", "1.0", ValueError, f"{_ALPHA_RANGE} 1.0", alpha=1.0),
    _pair_case("pair-alpha-zero", "alpha", "0", ValueError, f"{_ALPHA_RANGE} 0", alpha=0),
    _pair_case("pair-alpha-negative", "alpha", "-0.2", ValueError, f"{_ALPHA_RANGE} -0.2", alpha=-0.2),
    _pair_case("pair-alpha-nan", "alpha", "NaN", ValueError, f"{_ALPHA_RANGE} nan", alpha=NAN),
    _pair_case("pair-alpha-inf", "alpha", "inf", ValueError, f"{_ALPHA_RANGE} inf", alpha=INF),
    _pair_case("pair-alpha-one-channel-out", "alpha", "[0.5, 1.2, 0.5]", ValueError,
          f"{_ALPHA_RANGE} [0.5, 1.2, 0.5]", alpha=[0.5, 1.2, 0.5]),
    _pair_case("pair-alpha-length", "alpha", "2 values for 3 channels", ValueError,
          "alpha has 2 values but the images have 3 channel(s); give one alpha per channel or a "
          "scalar", alpha=[0.6, 0.7]),
    _pair_case("pair-alpha-empty", "alpha", "[]", ValueError,
          "alpha has 0 values but the images have 3 channel(s); give one alpha per channel or a "
          "scalar", alpha=[]),
    _pair_case("pair-alpha-2d", "alpha", "shape (1, 3)", ValueError,
          f"alpha map has shape (1, 3) but the image has shape (8, 8, 3); {_ALPHA_MAPS}",
          alpha=np.full((1, 3), 0.5)),
    _pair_case("pair-alpha-map-shape", "alpha", "map of shape (8, 7) for 8x8 images", ValueError,
          f"alpha map has shape (8, 7) but the image has shape (8, 8, 3); {_ALPHA_MAPS}",
          alpha=_alpha_map((8, 7))),
    _pair_case("pair-alpha-map-channels", "alpha", "map of shape (8, 8, 2) for RGB", ValueError,
          f"alpha map has shape (8, 8, 2) but the image has shape (8, 8, 3); {_ALPHA_MAPS}",
          alpha=_alpha_map((8, 8, 2))),
    _pair_case("pair-alpha-map-channels-first", "alpha", "map (3, 8, 8), channel_axis=-1", ValueError,
          f"alpha map has shape (3, 8, 8) but the image has shape (8, 8, 3); {_ALPHA_MAPS}",
          alpha=_alpha_map((3, 8, 8))),
    _pair_case("pair-alpha-map-gray", "alpha", "RGB map for gray images", ValueError,
          "alpha map has shape (8, 8, 3) but the image has shape (8, 8); give a scalar, one "
          "alpha per channel (1) or a map of shape (8, 8) (one per pixel)",
          image=_img((8, 8)), proposal=_img((8, 8), 0.25), alpha=_alpha_map((8, 8, 3))),
    _pair_case("pair-alpha-map-above", "alpha", "map with 1 + 2^-52 at (3, 4, 1)", ValueError,
          "alpha must lie in the open interval (0, 1), got 1.0000000000000002 at index "
          "(3, 4, 1) of the alpha map (shape (8, 8, 3))",
          alpha=_alpha_map((8, 8, 3), at=(3, 4, 1), value=1 + 2.0 ** -52)),
    _pair_case("pair-alpha-map-zero", "alpha", "map with 0 at (0, 5)", ValueError,
          "alpha must lie in the open interval (0, 1), got 0.0 at index (0, 5) of the alpha map "
          "(shape (8, 8))", alpha=_alpha_map((8, 8), at=(0, 5), value=0.0)),
    _pair_case("pair-alpha-map-nan", "alpha", "float32 map with NaN at (7, 2)", ValueError,
          "alpha must lie in the open interval (0, 1), got nan at index (7, 2) of the alpha map "
          "(shape (8, 8))", alpha=_alpha_map((8, 8), np.float32, at=(7, 2), value=NAN)),
    _pair_case("pair-alpha-map-float32-above", "alpha", "float32 map with 1 + 2^-23", ValueError,
          "alpha must lie in the open interval (0, 1), got 1.0000001 at index (2, 2) of the "
          "alpha map (shape (8, 8))",
          alpha=_alpha_map((8, 8), np.float32, at=(2, 2), value=1 + 2.0 ** -23)),
    _pair_case("pair-alpha-map-uint8", "alpha", "uint8 map (0-255)", ValueError,
          "alpha must lie in the open interval (0, 1), got 128 at index (0, 0) of the alpha map "
          "(shape (8, 8)) (an integer map: scale it to (0, 1), e.g. divide by 255)",
          alpha=np.full((8, 8), 128, np.uint8)),
    _pair_case("pair-alpha-map-bool", "alpha", "bool map", TypeError,
          "alpha must be a number, a sequence of numbers or a real array, got array of shape "
          "(8, 8) and dtype bool", alpha=np.ones((8, 8), bool)),
    _pair_case("pair-alpha-str", "alpha", "'0.7'", TypeError, f"{_ALPHA_TYPE} str '0.7'", alpha="0.7"),
    _pair_case("pair-alpha-none", "alpha", "None", TypeError, f"{_ALPHA_TYPE} None", alpha=None),
    _pair_case("pair-alpha-bool", "alpha", "True", TypeError, f"{_ALPHA_TYPE} bool True", alpha=True),
    _pair_case("pair-alpha-complex", "alpha", "0.7j", TypeError, f"{_ALPHA_TYPE} complex 0.7j",
          alpha=0.7j),
    _pair_case("pair-alpha-strings", "alpha", "['0.5', 'a', '0.5']", TypeError,
          f"{_ALPHA_TYPE} list ['0.5', 'a', '0.5']", alpha=["0.5", "a", "0.5"]),
    _pair_case("pair-alpha-masked", "alpha", "masked array", TypeError,
          f"{_ALPHA_TYPE} masked array of shape (3,) and dtype float64",
          alpha=np.ma.masked_array([0.5, 0.6, 0.7])),
]


# --------------------------------------------------------------------------- one function each

sp = baselines.stay_positive
spp = baselines.stay_positive_pixels
spl = baselines.stay_positive_loss
S10, T20, M10 = _img((10, 10), 0.3), _img((20, 20), 0.6), np.ones((10, 10), bool)
G = np.zeros((2, 4, 5))
_RW = "reg_weight must be a finite number >= 0, got"
_LW = "level_weight must be a finite number >= 0, one of ['paper', 'perceptual'] or an array, got"
_MM = "max_memory must be a positive number of bytes or a size such as '8GiB', got"
_PEN = "penalty must be a finite number >= 0, got"
_MASK01 = "mask must be a boolean or numeric array (nonzero = inside), got dtype"
_PAIRS = ("pairs must be an iterable of (image, proposal) or (input_path, proposal_path, "
          "output_path) items, got")


def solve(**kwargs):
    return gradfusion.solve(I3, P3, 0.7, **kwargs)


def blend(*args, **kwargs):
    return poisson.blend(*args, **kwargs)


CASES = [
    # solve
    Case("solve-boundary", "solve", "boundary", "'wrap'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'wrap'", lambda: solve(boundary="wrap")),
    Case("solve-method", "solve", "method", "'adam'", ValueError,
         "method must be one of ['auto', 'active-set', 'mprgp'], got 'adam'",
         lambda: solve(method="adam")),
    Case("solve-regularizer", "solve", "regularizer", "'tv'", ValueError,
         "regularizer must be one of ['gradient', 'nyquist'] or None, got 'tv'",
         lambda: solve(regularizer="tv")),
    Case("solve-reg-weight-negative", "solve", "reg_weight", "-1.0", ValueError, f"{_RW} -1.0",
         lambda: solve(reg_weight=-1.0)),
    Case("solve-reg-weight-nan", "solve", "reg_weight", "NaN", ValueError, f"{_RW} nan",
         lambda: solve(reg_weight=NAN)),
    Case("solve-reg-weight-inf", "solve", "reg_weight", "inf", ValueError, f"{_RW} inf",
         lambda: solve(reg_weight=INF)),
    Case("solve-reg-weight-array", "solve", "reg_weight", "one weight per channel (shape (3,))",
         TypeError, f"{_RW} array of shape (3,) and dtype float64",
         lambda: solve(reg_weight=np.full(3, 0.4))),
    Case("solve-reg-weight-str", "solve", "reg_weight", "'0.4'", TypeError, f"{_RW} str '0.4'",
         lambda: solve(reg_weight="0.4")),
    Case("solve-level-weight-negative", "solve", "level_weight", "-1.0", ValueError,
         f"{_LW} -1.0", lambda: solve(level_weight=-1.0)),
    Case("solve-level-weight-nan", "solve", "level_weight", "NaN", ValueError, f"{_LW} nan",
         lambda: solve(level_weight=NAN)),
    Case("solve-level-weight-none", "solve", "level_weight", "None", TypeError, f"{_LW} None",
         lambda: solve(level_weight=None)),
    Case("solve-level-weight-name", "solve", "level_weight", "'bright'", ValueError,
         "level_weight must be one of ['paper', 'perceptual'], a finite number >= 0 or an array, "
         "got 'bright'", lambda: solve(level_weight="bright")),
    Case("solve-level-weight-shape", "solve", "level_weight", "one weight per channel (shape (3,))",
         ValueError, "level_weight must be a scalar or an array of the image's shape (8, 8, 3) or "
         "(8, 8), got shape (3,)", lambda: solve(level_weight=np.full(3, 0.4))),
    Case("solve-level-weight-map-negative", "solve", "level_weight", "a map with -0.4", ValueError,
         "level_weight must be >= 0 everywhere, got minimum -0.4",
         lambda: solve(level_weight=_img((8, 8), 0.3, at=(1, 1), value=-0.4))),
    Case("solve-level-weight-map-nan", "solve", "level_weight", "a map with one NaN", ValueError,
         "level_weight contains NaN or infinite values (1 of 64)",
         lambda: solve(level_weight=_img((8, 8), 0.3, at=(1, 1), value=NAN))),
    Case("solve-gradient-weight-scalar", "solve", "gradient_weight", "2.0", TypeError,
         "gradient_weight must be None or an array of the image's shape (or its shape without "
         "the channel axis), got float 2.0", lambda: solve(gradient_weight=2.0)),
    Case("solve-gradient-weight-shape", "solve", "gradient_weight", "shape (5, 5)", ValueError,
         "gradient_weight must be an array of the image's shape (8, 8, 3) or (8, 8), got shape "
         "(5, 5)", lambda: solve(gradient_weight=np.ones((5, 5)))),
    Case("solve-gradient-weight-negative", "solve", "gradient_weight", "a map with -1",
         ValueError, "gradient_weight must be >= 0 everywhere, got minimum -1",
         lambda: solve(gradient_weight=_img((8, 8), 1.0, at=(2, 3), value=-1.0))),
    Case("solve-gradient-weight-nan", "solve", "gradient_weight", "a map with one NaN",
         ValueError, "gradient_weight contains NaN or infinite values (1 of 64)",
         lambda: solve(gradient_weight=_img((8, 8), 1.0, at=(2, 3), value=NAN))),
    Case("solve-tol-zero", "solve", "tol", "0.0", ValueError,
         "tol must be a positive number or None, got 0.0", lambda: solve(tol=0.0)),
    Case("solve-tol-nan", "solve", "tol", "NaN", ValueError,
         "tol must be a positive number or None, got nan", lambda: solve(tol=NAN)),
    Case("solve-tol-str", "solve", "tol", "'1e-6'", TypeError,
         "tol must be a positive number or None, got str '1e-6'", lambda: solve(tol="1e-6")),
    Case("solve-maxiter-negative", "solve", "maxiter", "-1", ValueError,
         "maxiter must be a non-negative integer, got -1", lambda: solve(maxiter=-1)),
    Case("solve-maxiter-float", "solve", "maxiter", "100.0", TypeError,
         "maxiter must be a non-negative integer, got float 100.0", lambda: solve(maxiter=100.0)),
    Case("solve-min-size", "solve", "min_size", "1", ValueError,
         "min_size must be an integer >= 2, got 1", lambda: solve(min_size=1)),
    Case("solve-multiscale", "solve", "multiscale", "'no'", TypeError,
         "multiscale must be True or False, got str 'no'", lambda: solve(multiscale="no")),
    Case("solve-progress", "solve", "progress", "1", TypeError,
         "progress must be True or False, got int 1", lambda: solve(progress=1)),
    Case("solve-callback", "solve", "callback", "3", TypeError,
         "callback must be callable or None, got int 3", lambda: solve(callback=3)),
    Case("solve-x0-shape", "solve", "x0", "shape (8, 8) for (8, 8, 3) images", ValueError,
         "x0 must have the shape of image (8, 8, 3), got (8, 8)", lambda: solve(x0=_img((8, 8)))),
    Case("solve-x0-nan", "solve", "x0", "one NaN", ValueError,
         "x0 contains NaN or infinite values (1 of 192)",
         lambda: solve(x0=_img(fill=0.1, at=(0, 0, 0), value=NAN))),
    Case("solve-x0-complex", "solve", "x0", "complex array", TypeError,
         f"x0 {_DTYPE} dtype complex128", lambda: solve(x0=np.zeros((8, 8, 3), complex))),
    Case("solve-x0-signed", "solve", "x0", "int64 array", TypeError,
         f"x0 {_DTYPE} dtype int64", lambda: solve(x0=np.zeros((8, 8, 3), np.int64))),
    Case("solve-x0-masked", "solve", "x0", "masked array", TypeError,
         "x0 must be a plain ndarray, got a masked array; fill it first (np.ma.filled)",
         lambda: solve(x0=np.ma.zeros((8, 8, 3)))),
    Case("solve-changed-no-x0", "solve", "changed", "a mask without x0", ValueError,
         "changed needs x0: it says where this problem differs from the one x0 solved",
         lambda: solve(changed=np.zeros((8, 8), bool))),
    Case("solve-changed-dtype", "solve", "changed", "a float array", TypeError,
         "changed must be a boolean array, got dtype float64",
         lambda: solve(x0=_img(fill=0.1), changed=np.zeros((8, 8)))),
    Case("solve-changed-shape", "solve", "changed", "shape (8, 8, 3) for 8x8 images", ValueError,
         "changed must have the image's height and width (8, 8), got shape (8, 8, 3)",
         lambda: solve(x0=_img(fill=0.1), changed=np.zeros((8, 8, 3), bool))),
    Case("solve-max-memory-negative", "solve", "max_memory", "-1", ValueError, f"{_MM} -1",
         lambda: solve(max_memory=-1)),
    Case("solve-max-memory-text", "solve", "max_memory", "'lots'", ValueError, f"{_MM} 'lots'",
         lambda: solve(max_memory="lots")),
    Case("solve-max-memory-type", "solve", "max_memory", "[1]", TypeError, f"{_MM} list [1]",
         lambda: solve(max_memory=[1])),
    Case("solve-too-large", "solve", "max_memory", "'1K' (below the estimate)", MemoryLimitError,
         "gradfusion.solve needs an estimated 16.0 MiB for a 3x8x8 float64 problem; the limit is "
         "1.0 KiB (max_memory); pass max_memory=... or set GRADFUSION_MAX_MEMORY to raise it",
         lambda: solve(max_memory="1K")),
    Case("solve-env-too-small", "solve", "GRADFUSION_MAX_MEMORY", "'1K'", MemoryLimitError,
         "gradfusion.solve needs an estimated 16.0 MiB for a 3x8x8 float64 problem; the limit is "
         "1.0 KiB (GRADFUSION_MAX_MEMORY); pass max_memory=... or set GRADFUSION_MAX_MEMORY to "
         "raise it", lambda: _with_env(solve, GRADFUSION_MAX_MEMORY="1K")),
    Case("solve-env-invalid", "solve", "GRADFUSION_MAX_MEMORY", "'lots'", ValueError,
         "GRADFUSION_MAX_MEMORY must be a positive number of bytes or a size such as '8GiB', "
         "got 'lots'", lambda: _with_env(solve, GRADFUSION_MAX_MEMORY="lots")),
    Case("solve-available-memory", "solve", "max_memory", "None, with 1 MiB available",
         MemoryLimitError,
         "gradfusion.solve needs an estimated 16.0 MiB for a 3x8x8 float64 problem; the limit is "
         "1.0 MiB (available memory); pass max_memory=... or set GRADFUSION_MAX_MEMORY to raise "
         "it", lambda: _with_available_memory(2**20, solve)),
    Case("solve-reflect-no-level", "solve", "boundary, level_weight",
         "'reflect' with 0 (or 'paper')", UserWarning,
         "boundary='reflect' with level_weight=0: the objective does not see a constant added to "
         "a channel, so only the bounds fix the output's light level (it may come out lighter "
         "than the proposal) and the solve is slow; give a level weight (the default "
         "'perceptual') or boundary='zero' (the paper's objective)",
         lambda: solve(boundary="reflect", level_weight=0.0)),
    # baselines
    Case("heuristic-boundary", "baselines.heuristic", "boundary", "'wrap'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'wrap'",
         lambda: baselines.heuristic(I3, P3, 0.7, boundary="wrap")),
    Case("heuristic-reg-weight", "baselines.heuristic", "reg_weight", "-1.0 (an objective option)",
         ValueError, f"{_RW} -1.0", lambda: baselines.heuristic(I3, P3, 0.7, reg_weight=-1.0)),
    Case("heuristic-level-weight", "baselines.heuristic", "level_weight", "'night'", ValueError,
         "level_weight must be one of ['paper', 'perceptual'], a finite number >= 0 or an array, "
         "got 'night'", lambda: baselines.heuristic(I3, P3, 0.7, level_weight="night")),
    Case("sp-gradient-weight-shape", "baselines.stay_positive", "gradient_weight", "shape (5, 5)",
         ValueError, "gradient_weight must be an array of the image's shape (8, 8, 3) or (8, 8), "
         "got shape (5, 5)", lambda: sp(I3, P3, 0.7, gradient_weight=np.ones((5, 5)))),
    Case("sp-alpha-map", "baselines.stay_positive", "alpha", "a map (8, 8)", ValueError,
         "baselines.stay_positive takes a scalar alpha or one per channel, not an alpha map "
         "(got alpha of shape (8, 8)); use gradfusion.solve or baselines.heuristic for a "
         "transmission that varies across the view", lambda: sp(I3, P3, _alpha_map((8, 8)))),
    Case("spp-alpha-map", "baselines.stay_positive_pixels", "alpha", "a map (8, 8, 3)",
         ValueError,
         "baselines.stay_positive_pixels takes a scalar alpha or one per channel, not an alpha "
         "map (got alpha of shape (8, 8, 3)); use gradfusion.solve or baselines.heuristic for a "
         "transmission that varies across the view", lambda: spp(I3, P3, _alpha_map((8, 8, 3)))),
    Case("spl-alpha-map", "baselines.stay_positive_loss", "alpha", "a map (8, 8)", ValueError,
         "baselines.stay_positive_loss takes a scalar alpha or one per channel, not an alpha "
         "map (got alpha of shape (8, 8)); use gradfusion.solve or baselines.heuristic for a "
         "transmission that varies across the view",
         lambda: spl(I3, P3, np.zeros((8, 8, 3)), _alpha_map((8, 8)))),
    Case("sp-per-channel", "baselines.stay_positive", "per_channel", "'yes'", TypeError,
         "per_channel must be True or False, got str 'yes'",
         lambda: sp(I3, P3, 0.7, per_channel="yes")),
    Case("sp-penalty-negative", "baselines.stay_positive", "penalty", "-1", ValueError,
         f"{_PEN} -1", lambda: sp(I3, P3, 0.7, penalty=-1)),
    Case("sp-penalty-zero", "baselines.stay_positive", "penalty", "0.0", ValueError,
         "penalty must be > 0 for the 2-parameter search (it bounds the domain), got 0.0",
         lambda: sp(I3, P3, 0.7, penalty=0.0)),
    Case("sp-penalty-str", "baselines.stay_positive", "penalty", "'10'", TypeError,
         f"{_PEN} str '10'", lambda: sp(I3, P3, 0.7, penalty="10")),
    Case("sp-grid-small", "baselines.stay_positive", "grid", "2", ValueError,
         "grid must be an integer >= 3, got 2", lambda: sp(I3, P3, 0.7, grid=2)),
    Case("sp-grid-float", "baselines.stay_positive", "grid", "64.0", TypeError,
         "grid must be an integer >= 3, got float 64.0", lambda: sp(I3, P3, 0.7, grid=64.0)),
    Case("sp-boundary", "baselines.stay_positive", "boundary", "'wrap'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'wrap'",
         lambda: sp(I3, P3, 0.7, boundary="wrap")),
    Case("spp-xtol-zero", "baselines.stay_positive_pixels", "xtol", "0", ValueError,
         "xtol must be a number in (0, 1), got 0", lambda: spp(I3, P3, 0.7, xtol=0)),
    Case("spp-xtol-str", "baselines.stay_positive_pixels", "xtol", "'1e-9'", TypeError,
         "xtol must be a number in (0, 1), got str '1e-9'", lambda: spp(I3, P3, 0.7, xtol="1e-9")),
    Case("spp-boundary", "baselines.stay_positive_pixels", "boundary", "None", ValueError,
         "boundary must be one of ['reflect', 'zero'], got None",
         lambda: spp(I3, P3, 0.7, boundary=None)),
    Case("spl-residual-shape", "baselines.stay_positive_loss", "residual", "shape (8, 8)",
         ValueError, "residual must have the shape of image (8, 8, 3), got (8, 8)",
         lambda: spl(I3, P3, _img((8, 8)), 0.7)),
    Case("spl-residual-nan", "baselines.stay_positive_loss", "residual", "one NaN", ValueError,
         "residual contains NaN or infinite values (1 of 192)",
         lambda: spl(I3, P3, _img(at=(0, 0, 0), value=NAN), 0.7)),
    Case("spl-residual-complex", "baselines.stay_positive_loss", "residual", "complex array",
         TypeError, f"residual {_DTYPE} dtype complex128",
         lambda: spl(I3, P3, np.zeros((8, 8, 3), complex), 0.7)),
    Case("spl-penalty-nan", "baselines.stay_positive_loss", "penalty", "NaN", ValueError,
         f"{_PEN} nan", lambda: spl(I3, P3, np.zeros((8, 8, 3)), 0.7, penalty=NAN)),
    Case("sp-result-fun", "baselines.StayPositiveResult", "fun", "read as an attribute",
         FutureWarning, "StayPositive results' fun is now gradfusion.solve's objective at the "
         "output, as in every result; the StayPositive loss it used to hold is loss (this warning "
         "will be removed in gradfusion 0.2; result['fun'] does not warn)",
         lambda: sp(I3, P3, 0.7, grid=8).fun),
    Case("spp-result-gap", "baselines.StayPositiveResult", "gap", "read (stay_positive_pixels)",
         FutureWarning, "stay_positive_pixels' gap is renamed loss_gap (gap is solve's relative "
         "objective gap; gap will be removed in gradfusion 0.2)", lambda: spp(I3, P3, 0.7).gap),
    Case("baseline-result-gap", "baselines.BaselineResult", "gap", "read (heuristic)",
         FutureWarning, "baseline results no longer carry gap (a field of gradfusion.solve's "
         "solver, meaningless for a baseline: it was NaN); it will be removed in gradfusion 0.2",
         lambda: baselines.heuristic(I3, P3, 0.7).gap),
    Case("baseline-result-optimality", "baselines.BaselineResult", "optimality",
         "read (heuristic)", FutureWarning, "baseline results no longer carry optimality (a "
         "field of gradfusion.solve's solver, meaningless for a baseline: it was NaN); it will be "
         "removed in gradfusion 0.2", lambda: baselines.heuristic(I3, P3, 0.7).optimality),
    Case("baseline-result-nmatvec", "baselines.BaselineResult", "nmatvec", "read (heuristic)",
         FutureWarning, "baseline results no longer carry nmatvec (a field of gradfusion.solve's "
         "solver, meaningless for a baseline: it was 0); it will be removed in gradfusion 0.2",
         lambda: baselines.heuristic(I3, P3, 0.7).nmatvec),
    # objective
    Case("pl-residual-shape", "paper_loss", "residual", "shape (8, 8, 1)", ValueError,
         "residual must have the shape of image (8, 8, 3), got (8, 8, 1)",
         lambda: gradfusion.paper_loss(I3, P3, _img((8, 8, 1)), 0.7)),
    Case("pl-residual-masked", "paper_loss", "residual", "masked array", TypeError,
         "residual must be a plain ndarray, got a masked array; fill it first (np.ma.filled)",
         lambda: gradfusion.paper_loss(I3, P3, np.ma.zeros((8, 8, 3)), 0.7)),
    Case("pl-penalty-negative", "paper_loss", "penalty", "-10", ValueError, f"{_PEN} -10",
         lambda: gradfusion.paper_loss(I3, P3, np.zeros((8, 8, 3)), 0.7, penalty=-10)),
    Case("pl-boundary", "paper_loss", "boundary", "'same'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'same'",
         lambda: gradfusion.paper_loss(I3, P3, np.zeros((8, 8, 3)), 0.7, boundary="same")),
    Case("ge-shape", "gradient_error", "reference, image", "shapes (8, 8, 3) and (8, 8)",
         ValueError, "reference and image must have the same shape, got (8, 8, 3) and (8, 8)",
         lambda: gradfusion.gradient_error(P3, _img((8, 8)))),
    Case("ge-one-pixel", "gradient_error", "reference", "1x1 pixel", ValueError,
         "reference must be at least 2x2 pixels, got 1x1",
         lambda: gradfusion.gradient_error(_img((1, 1)), _img((1, 1)))),
    Case("ge-nan", "gradient_error", "image", "one NaN", ValueError,
         "image contains NaN or infinite values (1 of 192)",
         lambda: gradfusion.gradient_error(P3, _img(at=(3, 3, 0), value=NAN))),
    Case("ge-complex", "gradient_error", "reference", "complex array", TypeError,
         f"reference {_DTYPE} dtype complex64",
         lambda: gradfusion.gradient_error(P3.astype(np.complex64), I3)),
    Case("ge-channel-axis-none", "gradient_error", "channel_axis", "None with 3-D images",
         ValueError, "reference is 3-D with shape (8, 8, 3) but channel_axis is None; pass "
         "channel_axis (e.g. -1) or a 2-D grayscale image",
         lambda: gradfusion.gradient_error(P3, I3, channel_axis=None)),
    Case("ge-boundary", "gradient_error", "boundary", "'periodic'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'periodic'",
         lambda: gradfusion.gradient_error(P3, I3, boundary="periodic")),
    Case("ge-old-keywords", "gradient_error", "output, proposal", "the former keywords",
         FutureWarning, "gradient_error's arguments output, proposal are renamed image, "
         "reference (the old names will be removed in gradfusion 0.2)",
         lambda: gradfusion.gradient_error(output=I3, proposal=P3)),
    Case("ge-both-keywords", "gradient_error", "proposal", "beside reference", TypeError,
         "gradient_error got both reference and its deprecated name proposal; pass reference "
         "only", lambda: gradfusion.gradient_error(image=I3, reference=P3, proposal=P3)),
    # operators
    Case("op-shape-1d", "SobelGradient & co.", "image_shape", "(5,)", ValueError,
         "image_shape must be (H, W) or 3-D with positive sizes, got (5,)",
         lambda: gradfusion.SobelGradient((5,))),
    Case("op-shape-zero", "SobelGradient & co.", "image_shape", "(0, 4)", ValueError,
         "image_shape must be (H, W) or 3-D with positive sizes, got (0, 4)",
         lambda: gradfusion.ForwardDifference((0, 4))),
    Case("op-shape-str", "SobelGradient & co.", "image_shape", "'4x5'", TypeError,
         "image_shape must be a tuple of integers, got '4x5'",
         lambda: gradfusion.SobelGradient("4x5")),
    Case("op-shape-float", "SobelGradient & co.", "image_shape", "(4.0, 5)", TypeError,
         "image_shape must be a tuple of integers, got (4.0, 5)",
         lambda: gradfusion.DifferenceFilter((4.0, 5))),
    Case("op-channel-axis-range", "SobelGradient & co.", "channel_axis", "3 for a 3-D shape",
         ValueError, "channel_axis must be in [-3, 2] for a 3-D image_shape, got 3",
         lambda: gradfusion.SobelGradient((4, 5, 3), channel_axis=3)),
    Case("op-channel-axis-float", "SobelGradient & co.", "channel_axis", "1.5", TypeError,
         "channel_axis must be an integer or None, got float 1.5",
         lambda: gradfusion.SobelGradient((4, 5, 3), channel_axis=1.5)),
    Case("op-dtype-int", "SobelGradient & co.", "dtype", "int32", TypeError,
         "dtype must be float32 or float64, got int32",
         lambda: gradfusion.SobelGradient((4, 5), dtype=np.int32)),
    Case("op-dtype-unknown", "SobelGradient & co.", "dtype", "'double precision'", TypeError,
         "dtype must be float32 or float64, got 'double precision'",
         lambda: gradfusion.ForwardDifference((4, 5), dtype="double precision")),
    Case("op-boundary", "SobelGradient", "boundary", "'wrap'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'wrap'",
         lambda: gradfusion.SobelGradient((4, 5), boundary="wrap")),
    Case("op-taps-empty", "DifferenceFilter", "taps", "()", ValueError,
         "taps must be a non-empty 1-D sequence of finite numbers, got array([], dtype=float64)",
         lambda: gradfusion.DifferenceFilter((4, 5), taps=())),
    Case("op-taps-nan", "DifferenceFilter", "taps", "(1.0, NaN)", ValueError,
         "taps must be a non-empty 1-D sequence of finite numbers, got array(…)",
         lambda: gradfusion.DifferenceFilter((4, 5), taps=(1.0, NAN))),
    Case("op-taps-str", "DifferenceFilter", "taps", "'1,-2,1'", TypeError,
         "taps must be a sequence of real numbers, got str '1,-2,1'",
         lambda: gradfusion.DifferenceFilter((4, 5), taps="1,-2,1")),
    # poisson.gradient / reconstruct
    Case("pg-masked", "poisson.gradient", "image", "masked array", TypeError,
         "image must be a plain ndarray, got a masked array; fill it first (np.ma.filled)",
         lambda: poisson.gradient(np.ma.zeros((4, 4)))),
    Case("pg-complex", "poisson.gradient", "image", "complex array", TypeError,
         f"image {_DTYPE} dtype complex128", lambda: poisson.gradient(np.zeros((4, 4), complex))),
    Case("pg-nan", "poisson.gradient", "image", "one NaN", ValueError,
         "image contains NaN or infinite values (1 of 16)",
         lambda: poisson.gradient(_img((4, 4), at=(1, 1), value=NAN))),
    Case("pg-empty", "poisson.gradient", "image", "shape (4, 0)", ValueError,
         "image is empty (shape (4, 0))", lambda: poisson.gradient(_img((4, 0)))),
    Case("pg-ndim", "poisson.gradient", "image", "4-D array", ValueError,
         "image must be 2-D (grayscale) or 3-D (with channels), got 4-D shape (2, 2, 2, 2)",
         lambda: poisson.gradient(_img((2, 2, 2, 2)))),
    Case("pg-one-pixel", "poisson.gradient", "image", "1x1 pixel", None,
         "accepted: zero gradients (exact)", lambda: poisson.gradient(_img((1, 1)))),
    Case("pr-shape", "poisson.reconstruct", "gradients", "shape (3, 4, 4)", ValueError,
         "gradients must have shape (2, H, W) or (2, H, W, C) (the x and y maps stacked first), "
         "got shape (3, 4, 4)", lambda: poisson.reconstruct(np.zeros((3, 4, 4)))),
    Case("pr-signed", "poisson.reconstruct", "gradients", "int64 array", TypeError,
         f"gradients {_DTYPE} dtype int64", lambda: poisson.reconstruct(G.astype(np.int64))),
    Case("pr-nan", "poisson.reconstruct", "gradients", "all NaN", ValueError,
         "gradients contains NaN or infinite values (40 of 40)",
         lambda: poisson.reconstruct(np.full((2, 4, 5), NAN))),
    Case("pr-anchor-outside", "poisson.reconstruct", "anchor", "(4, 0) in a 4x5 image", ValueError,
         "anchor must be a (row, col) pair inside the 4x5 image, got (4, 0)",
         lambda: poisson.reconstruct(G, anchor=(4, 0))),
    Case("pr-anchor-float", "poisson.reconstruct", "anchor", "(1.0, 1)", TypeError,
         "anchor must be a pair of integers (row, col), got (1.0, 1)",
         lambda: poisson.reconstruct(G, anchor=(1.0, 1))),
    Case("pr-value-length", "poisson.reconstruct", "value", "2 values for 3 channels", ValueError,
         "value must be a finite scalar or one value per channel (3), got [1.0, 2.0]",
         lambda: poisson.reconstruct(np.zeros((2, 4, 5, 3)), value=[1.0, 2.0])),
    Case("pr-value-nan", "poisson.reconstruct", "value", "NaN", ValueError,
         "value must be a finite scalar or one value per channel (1), got nan",
         lambda: poisson.reconstruct(G, value=NAN)),
    Case("pr-value-str", "poisson.reconstruct", "value", "'0.5'", TypeError,
         "value must be a number or one number per channel (1), got str '0.5'",
         lambda: poisson.reconstruct(G, value="0.5")),
    Case("pr-one-pixel", "poisson.reconstruct", "gradients", "a 1x1 image's (2, 1, 1)", None,
         "accepted: the image is the anchor value", lambda: poisson.reconstruct(np.zeros((2, 1, 1)))),
    # poisson.blend
    Case("pb-mask-empty", "poisson.blend", "mask", "all False", UserWarning,
         "blend: the mask is empty; the target is returned unchanged",
         lambda: blend(S10, T20, np.zeros((10, 10), bool))),
    Case("pb-offset-outside", "poisson.blend", "offset", "(25, 0): the mask lands below the target",
         ValueError, "offset (25, 0) places all 100 mask pixels outside the 20x20 target (the mask "
         "spans rows 0..9 and columns 0..9 of the source)", lambda: blend(S10, T20, M10, (25, 0))),
    Case("pb-offset-partly", "poisson.blend", "offset", "(15, 0): half the mask outside",
         UserWarning, "blend: offset (15, 0) places 50 of 100 mask pixels outside the 20x20 "
         "target; they are dropped", lambda: blend(S10, T20, M10, (15, 0))),
    Case("pb-offset-float", "poisson.blend", "offset", "(1.5, 2)", TypeError,
         "offset must be a pair of integers (row, col), got (1.5, 2)",
         lambda: blend(S10, T20, M10, (1.5, 2))),
    Case("pb-offset-int", "poisson.blend", "offset", "3", TypeError,
         "offset must be a pair of integers (row, col), got 3", lambda: blend(S10, T20, M10, 3)),
    Case("pb-offset-triple", "poisson.blend", "offset", "(1, 2, 3)", ValueError,
         "offset must be a pair of integers (row, col), got (1, 2, 3)",
         lambda: blend(S10, T20, M10, (1, 2, 3))),
    Case("pb-mask-shape", "poisson.blend", "mask", "shape (10, 9) for a 10x10 source", ValueError,
         "mask must have the spatial shape of source (10, 10), got (10, 9)",
         lambda: blend(S10, T20, M10[:, :9])),
    Case("pb-mask-3d", "poisson.blend", "mask", "3-D array", ValueError,
         "mask must be 2-D, got 3-D shape (10, 10, 3)", lambda: blend(S10, T20, np.ones((10, 10, 3)))),
    Case("pb-mask-values", "poisson.blend", "mask", "values 0 and 2", None,
         "accepted: any nonzero value is inside", lambda: blend(S10, T20, M10 * 2)),
    Case("pb-mask-nan", "poisson.blend", "mask", "float NaN", ValueError,
         "mask contains NaN (1 of 100 values); use 0 outside the region and a nonzero value inside",
         lambda: blend(S10, T20, _img((10, 10), 1.0, at=(0, 0), value=NAN))),
    Case("pb-mask-strings", "poisson.blend", "mask", "array of strings", TypeError,
         f"{_MASK01} <U1", lambda: blend(S10, T20, np.full((10, 10), "a"))),
    Case("pb-mask-object", "poisson.blend", "mask", "object array", TypeError,
         f"{_MASK01} object", lambda: blend(S10, T20, M10.astype(object))),
    Case("pb-mask-complex", "poisson.blend", "mask", "complex array", TypeError,
         f"{_MASK01} complex128", lambda: blend(S10, T20, M10.astype(complex))),
    Case("pb-mask-masked", "poisson.blend", "mask", "masked array", TypeError,
         "mask must be a plain ndarray, got a masked array",
         lambda: blend(S10, T20, np.ma.masked_array(M10))),
    Case("pb-mask-none", "poisson.blend", "mask", "None", TypeError,
         "mask must be a boolean or numeric array (nonzero = inside), got None",
         lambda: blend(S10, T20, None)),
    Case("pb-mask-whole-target", "poisson.blend", "mask", "covers the whole target", ValueError,
         "mask covers the whole target: there are no target pixels around it to give boundary "
         "(Dirichlet) values, so the blend has no unique solution; leave at least one target pixel "
         "outside the mask", lambda: blend(T20, T20, np.ones((20, 20), bool))),
    Case("pb-guidance", "poisson.blend", "guidance", "'seamless'", ValueError,
         "guidance must be one of ('normal', 'mixed'), got 'seamless'",
         lambda: blend(S10, T20, M10, guidance="seamless")),
    Case("pb-guidance-twice", "poisson.blend", "method", "beside guidance", TypeError,
         "blend got both guidance and its deprecated name method; pass guidance only",
         lambda: blend(S10, T20, M10, guidance="mixed", method="mixed")),
    Case("pb-method", "poisson.blend", "method", "the former name of guidance", FutureWarning,
         "blend's method argument is renamed guidance (method will be removed in gradfusion 0.2)",
         lambda: blend(S10, T20, M10, method="mixed")),
    Case("pb-rtol", "poisson.blend", "rtol", "0", ValueError,
         "rtol must be a number in (0, 1), got 0", lambda: blend(S10, T20, M10, rtol=0)),
    Case("pb-tol", "poisson.blend", "tol", "the former name of rtol", FutureWarning,
         "blend's tol argument is renamed rtol (tol will be removed in gradfusion 0.2: it is a "
         "relative residual, scipy.sparse.linalg.cg's rtol; solve's tol is an objective gap)",
         lambda: blend(S10, T20, M10, tol=1e-8)),
    Case("pb-rtol-twice", "poisson.blend", "tol", "beside rtol", TypeError,
         "blend got both rtol and its deprecated name tol; pass rtol only",
         lambda: blend(S10, T20, M10, rtol=1e-8, tol=1e-8)),
    Case("pb-maxiter", "poisson.blend", "maxiter", "0", ValueError,
         "maxiter must be a positive integer, got 0", lambda: blend(S10, T20, M10, maxiter=0)),
    Case("pb-maxiter-float", "poisson.blend", "maxiter", "2.5", TypeError,
         "maxiter must be a positive integer, got float 2.5",
         lambda: blend(S10, T20, M10, maxiter=2.5)),
    Case("pb-clip", "poisson.blend", "clip", "'no'", TypeError,
         "clip must be True or False, got str 'no'", lambda: blend(S10, T20, M10, clip="no")),
    Case("pb-channel-axis", "poisson.blend", "channel_axis", "'last'", TypeError,
         "channel_axis must be an integer or None, got str 'last'",
         lambda: blend(S10, T20, M10, channel_axis="last")),
    Case("pb-channel-axis-none", "poisson.blend", "channel_axis", "None with 3-D images",
         ValueError, "source is 3-D with shape (10, 12, 3) but channel_axis is None; pass "
         "channel_axis (e.g. -1) or a 2-D grayscale image",
         lambda: blend(_img((10, 12, 3)), _img((20, 20, 3)), np.ones((10, 12), bool),
                       channel_axis=None)),
    Case("pb-channels", "poisson.blend", "source, target", "3 and 4 channels", ValueError,
         "source and target must have the same number of channels, got 3 and 4",
         lambda: blend(_img((10, 10, 3)), _img((20, 20, 4)), M10)),
    Case("pb-gray-vs-rgb", "poisson.blend", "source, target", "gray source, RGB target",
         ValueError, "source and target must both be grayscale (2-D) or both have channels (3-D), "
         "got shapes (10, 10) and (20, 20, 3)", lambda: blend(S10, _img((20, 20, 3)), M10)),
    Case("pb-target-range", "poisson.blend", "target", "values up to 2.6", ValueError,
         f"target{_RANGE64[5:]}; got values in [2.6, 2.6]",
         lambda: blend(S10, T20 + 2, M10)),
    Case("pb-source-nan", "poisson.blend", "source", "one NaN", ValueError,
         "source contains NaN or infinite values (1 of 100)",
         lambda: blend(_img((10, 10), at=(5, 5), value=NAN), T20, M10)),
    Case("pb-source-empty", "poisson.blend", "source", "shape (0, 10)", ValueError,
         "source is empty (shape (0, 10))", lambda: blend(_img((0, 10)), T20, M10)),
    Case("pb-result-levels", "poisson.BlendResult", "levels", "read", FutureWarning,
         "BlendResult.levels is renamed n_levels (levels will be removed in gradfusion 0.2: "
         "SolveResult.levels is a list of per-scale records)",
         lambda: blend(S10, T20, M10, (5, 5)).levels),
    Case("pb-result-residual-norm", "poisson.BlendResult", "residual_norm", "read",
         FutureWarning, "BlendResult.residual_norm is renamed system_residual (residual_norm "
         "will be removed in gradfusion 0.2: residual is the displayed image R in the synthesis "
         "results)", lambda: blend(S10, T20, M10, (5, 5)).residual_norm),
    Case("pb-result-residual-norms", "poisson.BlendResult", "residual_norms", "read",
         FutureWarning, "BlendResult.residual_norms is renamed system_residuals (residual_norms "
         "will be removed in gradfusion 0.2)", lambda: blend(S10, T20, M10, (5, 5)).residual_norms),
    Case("gf-blend-result", "gradfusion.BlendResult", "name", "the top-level alias", FutureWarning,
         "gradfusion.BlendResult is deprecated: use gradfusion.poisson.BlendResult (the top-level "
         "name will be removed in gradfusion 0.2)", lambda: gradfusion.BlendResult),
    # color2gray
    Case("cg-gray", "poisson.color2gray", "image", "a 2-D image", None,
         "accepted: returned as float", lambda: poisson.color2gray(_img((4, 4)))),
    Case("cg-translucent", "poisson.color2gray", "image", "RGBA with alpha 0.5", ValueError,
         "image has a translucent alpha channel (below 1 at 16 of 16 pixels, minimum 0.5); "
         "composite it onto a background first", lambda: poisson.color2gray(_img((4, 4, 4)))),
    Case("cg-channels", "poisson.color2gray", "image", "5 channels", ValueError,
         "image must have 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA) channels, got 5",
         lambda: poisson.color2gray(_img((4, 4, 5)))),
    Case("cg-nan", "poisson.color2gray", "image", "one NaN", ValueError,
         "image contains NaN or infinite values (1 of 48)",
         lambda: poisson.color2gray(_img((4, 4, 3), at=(0, 0, 0), value=NAN))),
    Case("cg-anchor-weight-negative", "poisson.color2gray", "anchor_weight", "-1", ValueError,
         "anchor_weight must be a finite number >= 0, got -1",
         lambda: poisson.color2gray(_img((4, 4, 3)), anchor_weight=-1)),
    Case("cg-anchor-weight-str", "poisson.color2gray", "anchor_weight", "'1e-4'", TypeError,
         "anchor_weight must be a finite number >= 0, got str '1e-4'",
         lambda: poisson.color2gray(_img((4, 4, 3)), anchor_weight="1e-4")),
    Case("cg-translucent-uint8", "poisson.color2gray", "image", "uint8 RGBA, one alpha 128",
         ValueError, "image has a translucent alpha channel (below 1 at 1 of 16 pixels, minimum "
         "0.501961); composite it onto a background first",
         lambda: poisson.color2gray(_rgba_uint8(at=(1, 2), alpha=128))),
    Case("cg-translucent-gray", "poisson.color2gray", "image", "gray and alpha 0.5", ValueError,
         "image has a translucent alpha channel (below 1 at 16 of 16 pixels, minimum 0.5); "
         "composite it onto a background first", lambda: poisson.color2gray(_img((4, 4, 2)))),
    Case("cg-channel-axis-none", "poisson.color2gray", "channel_axis", "None with 3-D images",
         ValueError, "image is 3-D with shape (4, 5, 3) but channel_axis is None; pass "
         "channel_axis (e.g. -1) or a 2-D grayscale image",
         lambda: poisson.color2gray(_img((4, 5, 3)), channel_axis=None)),
    Case("cg-chroma-weight-negative", "poisson.color2gray", "chroma_weight", "-0.5", ValueError,
         "chroma_weight must be a finite number >= 0, got -0.5",
         lambda: poisson.color2gray(_img((4, 4, 3)), chroma_weight=-0.5)),
    Case("cg-chroma-angle-nan", "poisson.color2gray", "chroma_angle", "NaN", ValueError,
         "chroma_angle must be a finite number (degrees), got nan",
         lambda: poisson.color2gray(_img((4, 4, 3)), chroma_angle=NAN)),
    Case("cg-chroma-angle-str", "poisson.color2gray", "chroma_angle", "'45'", TypeError,
         "chroma_angle must be a finite number (degrees), got str '45'",
         lambda: poisson.color2gray(_img((4, 4, 3)), chroma_angle="45")),
    # io
    Case("io-read-path-type", "io.read_image", "path", "None", TypeError,
         "path must be a str or os.PathLike, got None", lambda: io.read_image(None)),
    Case("io-read-missing", "io.read_image", "path", "a missing file", io.ImageFileError,
         "missing.png: no such file", lambda: io.read_image("missing.png")),
    Case("io-read-folder", "io.read_image", "path", "a folder", io.ImageFileError,
         "sub: is a folder, not an image file", lambda: io.read_image(_file("sub", "folder"))),
    Case("io-read-empty", "io.read_image", "path", "a 0-byte file", io.ImageFileError,
         "empty.png: is empty (0 bytes)", lambda: io.read_image(_file("empty.png", b""))),
    Case("io-read-not-image", "io.read_image", "path", "a text file", io.ImageFileError,
         "notes.txt: cannot read image (not a supported image format)",
         lambda: io.read_image(_file("notes.txt", b"hello\n" * 20))),
    Case("io-read-corrupt", "io.read_image", "path", "PNG signature, then garbage",
         io.ImageFileError, "corrupt.png: cannot read image (…)",
         lambda: io.read_image(_file("corrupt.png", b"\x89PNG\r\n\x1a\n not really"))),
    Case("io-read-no-pixels", "io.read_image", "path", "a TIFF header, no image data",
         io.ImageFileError, "bad.tif: contains no pixels (a corrupt or truncated file)",
         lambda: io.read_image(_file("bad.tif", b"II*\x00\x08\x00\x00\x00"))),
    Case("io-read-truncated", "io.read_image", "path", "first half of a PNG", io.ImageFileError,
         "cut.png: cannot read image (…truncated…)",
         lambda: io.read_image(_truncated("cut.png"))),
    Case("io-read-translucent", "io.read_image", "path", "RGBA with alpha < 255",
         io.ImageFileError,
         "rgba.png: has a translucent alpha channel; composite it onto a background first",
         lambda: io.read_image(_file("rgba.png", RGBA))),
    Case("io-read-orientation", "io.read_image", "path", "EXIF orientation 6", io.ImageFileWarning,
         "rot.png: EXIF orientation 6 applied (the pixels are rotated 90 degrees clockwise, now "
         "6x4, as viewers show them); outputs are written in this orientation without the tag",
         lambda: io.read_image(_oriented("rot.png", 6))),
    Case("io-read-icc", "io.read_image", "path", "an embedded ICC profile", io.ImageFileWarning,
         "icc.png: embedded ICC colour profile ignored: pixel values are used as stored and "
         "outputs carry no profile (viewers assume sRGB)", lambda: io.read_image(_with_icc("icc.png"))),
    Case("io-write-path-type", "io.write_image", "path", "3", TypeError,
         "path must be a str or os.PathLike, got int 3", lambda: io.write_image(3, I3)),
    Case("io-write-suffix", "io.write_image", "path", "'out.jpg'", io.ImageFileError,
         "out.jpg: output must end in one of .png, .tif, .tiff", lambda: io.write_image("out.jpg", I3)),
    Case("io-write-exists", "io.write_image", "path", "an existing file", io.ImageFileError,
         "old.png: exists; pass overwrite=True (--overwrite) to replace it",
         lambda: io.write_image(_file("old.png", b"previous"), I3)),
    Case("io-write-folder-missing", "io.write_image", "path", "in a missing folder",
         io.ImageFileError, "nofolder/out.png: folder …nofolder does not exist",
         lambda: io.write_image("nofolder/out.png", I3)),
    Case("io-write-disk-full", "io.write_image", "(environment)", "the disk fills up mid-write",
         io.ImageFileError, "x.png: cannot write (OSError: [Errno 28] No space left on device)",
         lambda: _disk_full(lambda: io.write_image("x.png", I3))),
    Case("io-write-bits", "io.write_image", "bits", "12", ValueError, "bits must be 8 or 16, got 12",
         lambda: io.write_image("out.png", I3, bits=12)),
    Case("io-write-overwrite", "io.write_image", "overwrite", "'yes'", TypeError,
         "overwrite must be True or False, got str 'yes'",
         lambda: io.write_image("out.png", I3, overwrite="yes")),
    Case("io-write-nan", "io.write_image", "image", "all NaN", ValueError,
         "image contains NaN or infinite values (16 of 16)",
         lambda: io.write_image("out.png", np.full((4, 4), NAN))),
    Case("io-write-range", "io.write_image", "image", "a float value 2.0", ValueError,
         f"{_RANGE64}; got values in [0.5, 2.0]",
         lambda: io.write_image("out.png", _img((4, 4), at=(0, 0), value=2.0))),
    Case("io-write-layout", "io.write_image", "image", "4 channels", ValueError,
         "image must be (H, W) or (H, W, 3), got shape (4, 4, 4)",
         lambda: io.write_image("out.png", _img((4, 4, 4)))),
    Case("io-write-complex", "io.write_image", "image", "complex array", TypeError,
         f"image {_DTYPE} dtype complex128",
         lambda: io.write_image("out.png", np.zeros((4, 4), complex))),
    Case("io-text-exists", "io.write_text", "path", "an existing file", io.ImageFileError,
         "old.csv: exists; pass overwrite=True (--overwrite) to replace it",
         lambda: io.write_text(_file("old.csv", b"previous"), "new")),
    Case("io-text-folder-missing", "io.write_text", "path", "in a missing folder",
         io.ImageFileError, "nofolder/t.csv: folder …nofolder does not exist",
         lambda: io.write_text("nofolder/t.csv", "x")),
    Case("io-text-type", "io.write_text", "text", "bytes", TypeError,
         "text must be a str, got bytes", lambda: io.write_text("t.csv", b"x")),
    # metrics: (reference, image) pairs, patches, normalisation
    Case("metrics-shape", "metrics.*", "reference, image", "shapes (8, 8, 3) and (8, 7, 3)",
         ValueError, "reference and image must have the same shape, got (8, 8, 3) and (8, 7, 3)",
         lambda: metrics.psnr(I3, I3[:, :7])),
    Case("metrics-nan", "metrics.*", "image", "a NaN", ValueError,
         "image contains NaN or infinite values (1 of 192)",
         lambda: metrics.ssim(I3, _img(at=(0, 0, 0), value=NAN))),
    Case("metrics-range", "metrics.*", "reference", "a float value 1.5", ValueError,
         f"reference{_RANGE64[5:]}; got values in [0.5, 1.5]",
         lambda: metrics.gmsd(_img(at=(0, 0, 0), value=1.5), I3)),
    Case("metrics-patch-large", "metrics.*", "patch_size", "9 for an 8x8 image", ValueError,
         "patch_size 9 is larger than the image (8x8)", lambda: metrics.psnr(I3, P3, patch_size=9)),
    Case("metrics-patch-zero", "metrics.*", "patch_size", "0", ValueError,
         "patch_size must be a positive integer or None, got 0",
         lambda: metrics.psnr(I3, P3, patch_size=0)),
    Case("metrics-patch-float", "metrics.*", "patch_size", "2.5", TypeError,
         "patch_size must be a positive integer or None, got 2.5",
         lambda: metrics.psnr(I3, P3, patch_size=2.5)),
    Case("metrics-ssim-patch", "metrics.ssim", "patch_size", "5 (below the 7x7 window)",
         ValueError, "patch_size must be at least 7 for this metric, got 5",
         lambda: metrics.ssim(I3, P3, patch_size=5)),
    Case("metrics-partial", "metrics.*", "partial", "'keep'", ValueError,
         "partial must be one of ('drop', 'shift'), got 'keep'",
         lambda: metrics.psnr(I3, P3, partial="keep")),
    Case("metrics-normalize", "metrics.*", "normalize", "'local'", ValueError,
         "normalize must be one of (None, 'global', 'patch'), got 'local'",
         lambda: metrics.gmsd(I3, P3, normalize="local")),
    Case("metrics-ssim-data-range", "metrics.ssim", "data_range", "255", TypeError,
         "ssim: data_range is always 1 and channel_axis is a keyword of its own",
         lambda: metrics.ssim(I3, P3, data_range=255)),
    Case("metrics-stripe-cutoff", "metrics.stripe_share", "cutoff", "0.6", ValueError,
         "cutoff must be a number in (0, 0.5), got 0.6", lambda: metrics.stripe_share(I3, cutoff=0.6)),
    Case("metrics-lpips-net", "metrics.lpips", "net", "'resnet'", ValueError,
         "net must be one of ['alex', 'squeeze', 'vgg'], got 'resnet'",
         lambda: metrics.lpips(I3, P3, net="resnet")),
    Case("metrics-lpips-batch", "metrics.lpips", "batch_size", "0", ValueError,
         "batch_size must be a positive integer, got 0", lambda: metrics.lpips(I3, P3, batch_size=0)),
    Case("metrics-lpips-model", "metrics.lpips", "model", "'alex'", TypeError,
         "model must be callable, got str", lambda: metrics.lpips(I3, P3, model="alex")),
    Case("metrics-lpips-channels", "metrics.lpips", "reference, image", "4 channels", ValueError,
         "LPIPS compares grayscale or RGB images, got 4 channels",
         lambda: metrics.lpips(_img((8, 8, 4)), _img((8, 8, 4)), model=lambda a, b: a)),
    Case("metrics-lpips-missing", "metrics.lpips", "(environment)", "no lpips package",
         metrics.LPIPSUnavailableError,
         "LPIPS needs the optional packages torch and lpips (pip install 'gradfusion[lpips]'); "
         "importing them failed: …", lambda: _without_lpips(lambda: metrics.lpips(I3, P3))),
    Case("metrics-lpips-weights", "metrics.lpips", "(environment)",
         "no backbone weights, no network", metrics.LPIPSUnavailableError,
         "LPIPS net='alex' needs the ImageNet backbone weights alexnet-owt-7be5be79.pth, which is "
         "missing; without network access, place the file (from "
         "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth) in the folder "
         "…hub/checkpoints (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it). Cause: "
         "URLError: <urlopen error no network>",
         lambda: _lpips_offline(lambda: metrics.lpips(I3, P3))),
    Case("metrics-lpips-weights-vgg", "metrics.lpips", "(environment)",
         "net='vgg', no backbone weights, no network", metrics.LPIPSUnavailableError,
         "LPIPS net='vgg' needs the ImageNet backbone weights vgg16-397923af.pth, which is "
         "missing; without network access, place the file (from "
         "https://download.pytorch.org/models/vgg16-397923af.pth) in the folder "
         "…hub/checkpoints (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it). Cause: "
         "URLError: <urlopen error no network>",
         lambda: _lpips_offline(lambda: metrics.lpips(I3, P3, net="vgg"))),
    Case("metrics-lpips-count", "metrics.lpips", "model", "one distance for 4 patches",
         ValueError, "model returned 1 distances for 4 patch pairs",
         lambda: _needs("torch", lambda: metrics.lpips(
             _img((16, 16, 3)), _img((16, 16, 3), 0.25), patch_size=8,
             model=lambda a, b: a.mean().reshape(1)))),
    # the evaluation harness and its figure
    Case("evaluate-methods", "evaluate", "methods", "['adam']", ValueError,
         "methods must be a non-empty subset of ['heuristic', 'stay_positive', "
         "'stay_positive_pixels', 'gradfusion'], got ['adam']",
         lambda: gradfusion.evaluate(I3, P3, 0.7, methods=["adam"])),
    Case("evaluate-options", "evaluate", "options", "for a method not run", ValueError,
         "options names methods that are not run: ['gradfusion']",
         lambda: gradfusion.evaluate(I3, P3, 0.7, methods=["heuristic"], options={"gradfusion": {}})),
    Case("evaluate-level-weight-array", "evaluate", "level_weight", "a list", TypeError,
         "level_weight must be a finite number >= 0 or one of ['paper', 'perceptual'] (evaluate "
         "takes no array), got list [0.1, 0.2]",
         lambda: gradfusion.evaluate(I3, P3, 0.7, lpips=False, level_weight=[0.1, 0.2])),
    Case("evaluate-level-weight-name", "evaluate", "level_weight", "'bright'", ValueError,
         "level_weight must be one of ['paper', 'perceptual'], a finite number >= 0 or an array, "
         "got 'bright'", lambda: gradfusion.evaluate(I3, P3, 0.7, lpips=False,
                                                     level_weight="bright")),
    Case("evaluate-level-weight-twice", "evaluate", "level_weight", "and in options", ValueError,
         "level_weight is given twice: as an argument and in options['gradfusion']",
         lambda: gradfusion.evaluate(I3, P3, 0.7, lpips=False, level_weight=0.3,
                                     options={"gradfusion": {"level_weight": 1.0}})),
    # the level-weight sweep
    Case("evaluate-boundary", "evaluate", "boundary", "'wrap'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'wrap'",
         lambda: gradfusion.evaluate(I3, P3, 0.7, lpips=False, boundary="wrap")),
    Case("evaluate-boundary-twice", "evaluate", "boundary", "and in options", ValueError,
         "boundary is given twice: as an argument and in options['gradfusion']",
         lambda: gradfusion.evaluate(I3, P3, 0.7, lpips=False, boundary="zero",
                                     options={"gradfusion": {"boundary": "zero"}})),
    Case("tradeoff-boundary", "tradeoff", "boundary", "'wrap'", ValueError,
         "boundary must be one of ['reflect', 'zero'], got 'wrap'",
         lambda: gradfusion.tradeoff(I3, P3, 0.7, boundary="wrap")),
    Case("border-width", "metrics.border_artifacts", "width", "0", ValueError,
         "width must be an integer >= 1, got 0",
         lambda: metrics.border_artifacts(P3, I3, width=0)),
    Case("border-shape", "metrics.border_artifacts", "image", "another shape", ValueError,
         "reference and image must have one shape, got (8, 8, 3) and (8, 9, 3)",
         lambda: metrics.border_artifacts(P3, np.zeros((8, 9, 3)))),
    Case("border-small", "metrics.border_artifacts", "image", "8x8 with width 6", ValueError,
         "image sides must be at least 4 * width + 2 = 26 pixels, got 8x8",
         lambda: metrics.border_artifacts(P3, I3)),
    Case("tradeoff-weights-negative", "tradeoff", "level_weights", "[0.1, -1]", ValueError,
         "level_weights must be a non-empty sequence of finite numbers >= 0, got [0.1, -1]",
         lambda: gradfusion.tradeoff(I3, P3, 0.7, level_weights=[0.1, -1])),
    Case("tradeoff-weights-empty", "tradeoff", "level_weights", "[]", ValueError,
         "level_weights must be a non-empty sequence of finite numbers >= 0, got []",
         lambda: gradfusion.tradeoff(I3, P3, 0.7, level_weights=[])),
    Case("tradeoff-weights-text", "tradeoff", "level_weights", "'abc'", TypeError,
         "level_weights must be a sequence of finite numbers >= 0, got str 'abc'",
         lambda: gradfusion.tradeoff(I3, P3, 0.7, level_weights="abc")),
    Case("tradeoff-x0", "tradeoff", "x0", "any", TypeError,
         "tradeoff sets x0 itself; do not pass it", lambda: gradfusion.tradeoff(I3, P3, 0.7, x0=I3)),
    Case("tradeoff-level-weight", "tradeoff", "level_weight", "any", TypeError,
         "tradeoff sets level_weight itself; do not pass it",
         lambda: gradfusion.tradeoff(I3, P3, 0.7, level_weight=1.0)),
    Case("tradeoff-plot-metric", "Tradeoff.plot", "metric", "'psnr'", ValueError,
         "metric must be 'ssim' or 'gmsd', got 'psnr'",
         lambda: gradfusion.tradeoff(I3, P3, 0.7, [1.0]).plot("psnr")),
    Case("tradeoff-plot-matplotlib", "Tradeoff.plot", "(environment)", "no matplotlib",
         ImportError, "Tradeoff.plot needs matplotlib: pip install 'gradfusion[plot]'",
         lambda: _without("matplotlib", gradfusion.tradeoff(I3, P3, 0.7, [1.0]).plot)),
    Case("evaluate-lpips", "evaluate", "lpips", "'yes'", ValueError,
         "lpips must be 'auto', True or False, got 'yes'",
         lambda: gradfusion.evaluate(I3, P3, 0.7, lpips="yes")),
    Case("evaluate-lpips-net", "evaluate", "lpips_net", "'resnet'", ValueError,
         "lpips_net must be one of ['alex', 'squeeze', 'vgg'], got 'resnet'",
         lambda: gradfusion.evaluate(I3, P3, 0.7, lpips_net="resnet")),
    Case("evaluate-too-small", "evaluate", "image", "5x6 pixels (below SSIM's 7x7 window)",
         ValueError, "image must be at least 7x7 pixels, got 5x6",
         lambda: gradfusion.evaluate(_img((5, 6, 3)), _img((5, 6, 3), 0.25), 0.7,
                                     methods=["heuristic"], lpips=False)),
    Case("evaluate-alpha", "evaluate", "alpha", "1.5", ValueError, f"{_ALPHA_RANGE} 1.5",
         lambda: gradfusion.evaluate(I3, P3, 1.5)),
    Case("evaluate-alpha-map-methods", "evaluate", "alpha, methods",
         "a map with methods=['stay_positive']", ValueError,
         "alpha is a map (shape (8, 8)) but methods ['stay_positive'] take a scalar alpha or one "
         "per channel; add 'heuristic' or 'gradfusion'",
         lambda: gradfusion.evaluate(I3, P3, _alpha_map((8, 8)), methods=["stay_positive"])),
    Case("figure-empty", "comparison_figure", "panels", "{}", ValueError,
         "panels must be a non-empty dict of name -> image",
         lambda: gradfusion.comparison_figure({})),
    Case("figure-shapes", "comparison_figure", "panels", "images of different shapes", ValueError,
         "panels['b'] has shape (8, 7), the first (8, 8)",
         lambda: gradfusion.comparison_figure({"a": I3, "b": I3[:, :7]})),
    Case("figure-crop", "comparison_figure", "crop", "(6, 0) with crop_size 4", ValueError,
         "crop (6, 0) with crop_size 4 leaves the 8x8 image",
         lambda: gradfusion.comparison_figure({"a": I3}, crop=(6, 0), crop_size=4)),
    Case("figure-crop-size", "comparison_figure", "crop_size", "9 for an 8x8 image", ValueError,
         "crop_size must be in [1, 8], got 9",
         lambda: gradfusion.comparison_figure({"a": I3}, crop_size=9)),
    Case("figure-channels", "comparison_figure", "panels", "an image of 4 channels", ValueError,
         "panels['a'] must be grayscale or RGB, got 4 channels",
         lambda: gradfusion.comparison_figure({"a": _img((8, 8, 4))})),
    # video sequences
    Case("sequence-images", "solve_sequence", "images", "3", TypeError,
         "images must be an iterable of frames (a list, a generator, an array with frames on "
         "the first axis), got int 3", lambda: gradfusion.solve_sequence(3, [P3], 0.7)),
    Case("sequence-images-array", "solve_sequence", "images", "one (8, 8) frame", ValueError,
         "images must hold frames on its first axis (3-D or 4-D), got shape (8, 8)",
         lambda: gradfusion.solve_sequence(I3[..., 0], [P3], 0.7)),
    Case("sequence-motion", "solve_sequence", "motion", "'affine'", ValueError,
         "motion must be one of ['translation'], None, a callable or a sequence of per-frame "
         "transforms, got 'affine'", lambda: gradfusion.solve_sequence([I3], [P3], 0.7,
                                                                       motion="affine")),
    Case("sequence-motion-number", "solve_sequence", "motion", "2.0", TypeError,
         "motion must be None, 'translation', a callable or a sequence of per-frame transforms, "
         "got float 2.0", lambda: gradfusion.solve_sequence([I3], [P3], 0.7, motion=2.0)),
    Case("sequence-motion-shape", "solve_sequence", "motion", "a (4,) array for frame 1",
         ValueError, "motion of frame 1 must be a 3x3 or 2x3 matrix or a (2, 8, 8) flow field, "
         "got shape (4,)", lambda: list(gradfusion.solve_sequence(
             [I3, I3], [P3, P3 * 0.5], 0.7, motion=[None, np.zeros(4)]))),
    Case("sequence-motion-short", "solve_sequence", "motion", "one entry for two frames",
         ValueError, "motion ended before frame 1: give one motion per frame (entry 0 is not "
         "used)", lambda: list(gradfusion.solve_sequence([I3, I3], [P3, P3 * 0.5], 0.7,
                                                         motion=[None]))),
    Case("sequence-budget", "solve_sequence", "budget", "0", ValueError,
         "budget must be a positive number of seconds or None, got 0",
         lambda: gradfusion.solve_sequence([I3], [P3], 0.7, budget=0)),
    Case("sequence-budget-str", "solve_sequence", "budget", "'33ms'", TypeError,
         "budget must be a positive number of seconds or None, got str '33ms'",
         lambda: gradfusion.solve_sequence([I3], [P3], 0.7, budget="33ms")),
    Case("sequence-budget-iterations", "solve_sequence", "budget_iterations", "0.5", TypeError,
         "budget_iterations must be a positive integer or None, got float 0.5",
         lambda: gradfusion.solve_sequence([I3], [P3], 0.7, budget_iterations=0.5)),
    Case("sequence-changed-option", "solve_sequence", "changed", "any", TypeError,
         "solve_sequence does not take changed: solve_sequence finds what changed from one "
         "frame to the next",
         lambda: gradfusion.solve_sequence([I3], [P3], 0.7, changed=np.ones((8, 8), bool))),
    Case("sequence-x0-option", "solve_sequence", "callback", "any", TypeError,
         "solve_sequence does not take callback: solve_sequence uses the callback for the "
         "budget", lambda: gradfusion.solve_sequence([I3], [P3], 0.7, callback=print)),
    Case("sequence-unknown-option", "solve_sequence", "tolerance", "1e-6", TypeError,
         "solve_sequence got an unexpected keyword argument 'tolerance'",
         lambda: gradfusion.solve_sequence([I3], [P3], 0.7, tolerance=1e-6)),
    Case("sequence-lengths", "solve_sequence", "images, proposals", "2 and 1 frames",
         ValueError, "images and proposals must have the same number of frames: proposals "
         "ended after 1 frames, images go on",
         lambda: list(gradfusion.solve_sequence([I3, I3], [P3], 0.7))),
    Case("sequence-frame-shape", "solve_sequence", "images", "frame 1 of another shape",
         ValueError, "frame 1: image has shape (8, 7, 3), the previous frame (8, 8, 3); every "
         "frame must have one shape",
         lambda: list(gradfusion.solve_sequence([I3, I3[:, :7]], [P3, P3[:, :7]], 0.7))),
    Case("sequence-frame-range", "solve_sequence", "proposals", "frame 1 with a 2.0",
         ValueError, f"frame 1: proposal{_RANGE64[5:]}; got values in [0.25, 2.0]",
         lambda: list(gradfusion.solve_sequence([I3, I3], [P3, _img(fill=0.25, at=(1, 1, 0),
                                                                    value=2.0)], 0.7))),
    Case("video-read-missing", "video.read_frames", "path", "a missing folder",
         io.ImageFileError, "nowhere: no such file or folder",
         lambda: gradfusion.video.read_frames("nowhere")),
    Case("video-read-empty", "video.read_frames", "path", "a folder without images",
         io.ImageFileError, "empty: holds no frames (image files ending in .png, .tif, .tiff, "
         ".jpg, .jpeg, .bmp)", lambda: gradfusion.video.read_frames(_file("empty", "folder"))),
    Case("video-read-suffix", "video.read_frames", "path", "'notes.txt'", io.ImageFileError,
         "notes.txt: not a video file (suffixes .mp4, .mkv, .mov, .avi, .webm) or a folder of "
         "frames", lambda: gradfusion.video.read_frames(_file("notes.txt", b"x"))),
    Case("video-no-ffmpeg", "video.read_frames", "(environment)", "no imageio-ffmpeg",
         gradfusion.video.VideoUnavailableError,
         "clip.mp4: reading and writing video files needs imageio-ffmpeg (pip install "
         "'gradfusion[video]'); folders of frames work without it",
         lambda: _without("imageio_ffmpeg", lambda: gradfusion.video.read_frames(
             _file("clip.mp4", b"x")))),
    Case("video-warp-motion", "video.warp", "motion", "'left'", TypeError,
         "motion must be a 3x3 or 2x3 matrix, a scikit-image transform or a (2, 8, 8) flow "
         "field, "
         "got str 'left'", lambda: gradfusion.video.warp(I3, "left")),
    Case("flicker-lengths", "metrics.flicker", "outputs, proposals", "3 and 2 frames",
         ValueError, "outputs and proposals must have the same number of frames, got 2 of "
         "proposals and more of the other",
         lambda: metrics.flicker(proposals=[P3] * 2, outputs=[I3] * 3)),
    Case("flicker-motion", "metrics.flicker", "motion", "'translation'", TypeError,
         "motion must be None or a sequence of per-frame motions, got str 'translation'",
         lambda: metrics.flicker(proposals=[P3] * 2, outputs=[I3] * 2, motion="translation")),
    Case("flicker-positional", "metrics.flicker", "outputs, proposals", "positional",
         FutureWarning, "flicker's positional arguments are read as (outputs, proposals), their "
         "former order, which gradfusion 0.2 changes to (proposals, outputs), reference first "
         "like every metric: pass proposals= and outputs= by keyword",
         lambda: metrics.flicker([I3] * 2, [P3] * 2)),
    Case("flicker-twice", "metrics.flicker", "outputs", "positionally and by keyword", TypeError,
         "flicker got the same sequence positionally and by keyword; pass proposals= and outputs= "
         "by keyword", lambda: metrics.flicker([I3] * 2, outputs=[I3] * 2, proposals=[P3] * 2)),
    Case("flicker-missing", "metrics.flicker", "proposals", "not given", TypeError,
         "flicker needs proposals= and outputs= (iterables of frames)",
         lambda: metrics.flicker(outputs=[I3] * 2)),
    # many pairs: solve_many
    Case("many-x0", "solve_many", "x0", "an array", TypeError,
         "solve_many does not take x0: a warm start is per pair",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, x0=I3)),
    Case("many-changed", "solve_many", "changed", "a mask", TypeError,
         "solve_many does not take changed: it goes with a warm start, per pair",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, changed=np.ones((8, 8), bool))),
    Case("many-progress", "solve_many", "progress", "True", TypeError,
         "solve_many does not take progress: iterate over the results for progress",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, progress=True)),
    Case("many-callback", "solve_many", "callback", "a function", TypeError,
         "solve_many does not take callback: solve_many uses the callback itself",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, callback=print)),
    Case("many-keyword", "solve_many", "tolerance", "1e-3 (not a keyword of solve)", TypeError,
         "solve_many got an unexpected keyword argument 'tolerance'",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, tolerance=1e-3)),
    Case("many-backend", "solve_many", "backend", "'gpu'", ValueError,
         "backend must be one of auto, processes, threads, got 'gpu'",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, backend="gpu")),
    Case("many-workers", "solve_many", "workers", "0", ValueError,
         "workers must be a positive integer, got 0",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, workers=0)),
    Case("many-pair", "solve_many", "pairs", "a 1-tuple", TypeError,
         "pairs[0] must be (image, proposal) or (input_path, proposal_path, output_path), got 1 "
         "items", lambda: gradfusion.solve_many([(I3,)], 0.7)),
    Case("many-pairs-int", "solve_many", "pairs", "5 (not an iterable)", TypeError,
         f"{_PAIRS} int 5", lambda: gradfusion.solve_many(5, 0.7)),
    Case("many-pairs-none", "solve_many", "pairs", "None", TypeError, f"{_PAIRS} None",
         lambda: gradfusion.solve_many(None, 0.7)),
    Case("many-pairs-str", "solve_many", "pairs", "a file name", TypeError,
         f"{_PAIRS} str 'pairs.txt'", lambda: gradfusion.solve_many("pairs.txt", 0.7)),
    Case("many-workers-float", "solve_many", "workers", "2.0", TypeError,
         "workers must be a positive integer, got float 2.0",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, workers=2.0)),
    Case("many-overwrite", "solve_many", "overwrite", "'no'", TypeError,
         "overwrite must be True or False, got str 'no'",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, overwrite="no")),
    Case("many-as-completed", "solve_many", "as_completed", "1", TypeError,
         "as_completed must be True or False, got int 1",
         lambda: gradfusion.solve_many([(I3, P3)], 0.7, as_completed=1)),
    Case("many-client", "solve_many", "client", "a scheduler address", TypeError,
         "client must be a dask.distributed.Client or None (for a scheduler address, pass "
         "distributed.Client(address)), got str 'tcp://127.0.0.1:8786'",
         lambda: _needs("distributed", lambda: gradfusion.solve_many(
             [(I3, P3)], 0.7, client="tcp://127.0.0.1:8786"))),
    Case("many-no-dask", "solve_many", "client", "a client, dask not installed",
         gradfusion.DaskUnavailableError,
         "running on a Dask cluster needs dask and distributed: pip install 'gradfusion[dask]'",
         lambda: _without("distributed",
                          lambda: gradfusion.solve_many([(I3, P3)], 0.7, client=object()))),
    Case("many-pair-status", "solve_many", "PairResult.status", "read", FutureWarning,
         "PairResult.status is renamed outcome (status will be removed in gradfusion 0.2: status "
         "is an int code in every result, as result.status)",
         lambda: gradfusion.PairResult(0, error="ValueError: bad").status),
    Case("backend-workers", "batch.default_backend", "workers", "'2'", TypeError,
         "workers must be a positive integer, got str '2'",
         lambda: gradfusion.batch.default_backend("2")),
    Case("backend-workers-zero", "batch.default_backend", "workers", "0", ValueError,
         "workers must be a positive integer, got 0", lambda: gradfusion.batch.default_backend(0)),
]


def _swapped_module(module, value, call):
    """``sys.modules[module]`` is ``value`` during ``call``. Only that one entry is swapped and
    restored: restoring a copy of the whole dict would drop modules imported meanwhile (torch),
    and importing those a second time crashes the interpreter."""
    missing = object()
    saved = sys.modules.get(module, missing)
    sys.modules[module] = value
    try:
        return call()
    finally:
        if saved is missing:
            del sys.modules[module]
        else:
            sys.modules[module] = saved


def _without(module, call):
    """``import module`` fails during ``call``."""
    return _swapped_module(module, None, call)


def _without_lpips(call):
    """``import lpips`` fails (the LPIPS model is built afresh before and after)."""
    _lpips.model.cache_clear()
    try:
        return _without("lpips", call)
    finally:
        _lpips.model.cache_clear()


def _needs(module, call):
    """``call``, or the case is skipped where ``module`` (an optional package) is missing."""
    pytest.importorskip(module, reason=f"{module} not installed")
    return call()


def _lpips_offline(call):
    """torch installed, an lpips whose model cannot fetch the backbone weights (no network),
    and ``torch.hub.get_dir()`` an empty folder ``hub``."""
    import types
    import urllib.error

    torch = pytest.importorskip("torch", reason="torch not installed")

    def LPIPS(net, verbose=True):
        raise urllib.error.URLError("no network")

    fake = types.ModuleType("lpips")
    fake.LPIPS = LPIPS
    _lpips.model.cache_clear()
    try:
        with mock.patch.object(torch.hub, "get_dir", lambda: os.path.abspath("hub")):
            return _swapped_module("lpips", fake, call)
    finally:
        _lpips.model.cache_clear()


def _with_env(fn, **values):
    with _env(**values):
        return fn()


def _with_available_memory(nbytes, fn):
    """``fn()`` on a machine with ``nbytes`` of available memory (and no GRADFUSION_MAX_MEMORY)."""
    with mock.patch.object(_memory, "available_memory", lambda: (nbytes, "available memory")):
        return fn()


def _disk_full(fn):
    """``fn()`` with the disk filling up halfway through each file written."""
    import errno

    def half_then_full(fd, payload):
        os.write(fd, bytes(payload[:len(payload) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with mock.patch.object(io, "_write_payload", half_then_full):
        return fn()


def _rgba_uint8(at, alpha):
    """A 4x4 opaque white uint8 RGBA image, the alpha of pixel ``at`` set to ``alpha``."""
    a = np.full((4, 4, 4), 255, np.uint8)
    a[at + (3,)] = alpha
    return a


def _truncated(name):
    io.write_image("whole.png", np.random.default_rng(0).random((32, 32, 3)), overwrite=True)
    with open("whole.png", "rb") as fh:
        data = fh.read()
    return _file(name, data[:len(data) // 2])


def _oriented(name, orientation):
    from PIL import Image
    im = Image.fromarray(np.zeros((4, 6, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(name, exif=exif.tobytes())
    return name


def _with_icc(name):
    from PIL import Image, ImageCms
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(name, icc_profile=profile)
    return name


# --------------------------------------------------------------------------- the command line

def _argv(*extra, inputs=("in.png", "prop.png"), output="o.png", alpha="0.7"):
    """``gradfusion solve`` arguments: the valid pair, one output, and ``extra``."""
    return ["solve", *inputs, "--alpha", alpha, "-o", output, *extra]


def _memory_argv():
    os.environ["GRADFUSION_MAX_MEMORY"] = "1K"        # restored by the test's monkeypatch
    return _argv()


#: (id, arguments, what is wrong, message) for ``gradfusion``; the folder holds in.png, prop.png
CLI_CASES = [
    ("cli-missing", "INPUT", "a missing file", "missing.png: no such file",
     lambda: _argv(inputs=("missing.png", "prop.png"))),
    ("cli-folder", "PROPOSAL", "a folder", "sub: is a folder, not an image file",
     lambda: _argv(inputs=("in.png", _file("sub", "folder")))),
    ("cli-empty-file", "INPUT", "a 0-byte file", "empty.png: is empty (0 bytes)",
     lambda: _argv(inputs=(_file("empty.png", b""), "prop.png"))),
    ("cli-corrupt", "PROPOSAL", "PNG signature, then garbage", "corrupt.png: cannot read image (…)",
     lambda: _argv(inputs=("in.png", _file("corrupt.png", b"\x89PNG\r\n\x1a\n not really")))),
    ("cli-not-image", "INPUT", "a text file",
     "notes.txt: cannot read image (not a supported image format)",
     lambda: _argv(inputs=(_file("notes.txt", b"hello\n" * 20), "prop.png"))),
    ("cli-truncated-png", "INPUT", "first half of a PNG", "cut.png: cannot read image (…)",
     lambda: _argv(inputs=(_truncated("cut.png"), "prop.png"))),
    ("cli-truncated-tiff", "--x0", "first half of a TIFF", "cut.tif: cannot read image (…)",
     lambda: _argv("--x0", _truncated_tiff("cut.tif"))),
    ("cli-unreadable", "INPUT", "no read permission (skipped as root)",
     "locked.png: cannot read image (PermissionError: …)",
     lambda: _argv(inputs=(_locked("locked.png"), "prop.png"))),
    ("cli-translucent", "INPUT", "RGBA with alpha < 255",
     "rgba.png: has a translucent alpha channel; composite it onto a background first",
     lambda: _argv(inputs=(_file("rgba.png", RGBA), "prop.png"))),
    ("cli-float-range", "INPUT", "float TIFF with values 2.0",
     f"hdr.tif{_RANGE32[5:]}; got values in [2.0, 2.0]",
     lambda: _argv(inputs=(_float_tiff("hdr.tif"), "prop.png"))),
    ("cli-size-mismatch", "PROPOSAL", "5x5 against 24x20",
     "small.png: size (5, 5, 3) differs from in.png: (24, 20, 3)",
     lambda: _argv(inputs=("in.png", _small("small.png")))),
    ("cli-x0-size", "--x0", "5x5 against 24x20",
     "small.png: size (5, 5, 3) differs from in.png: (24, 20, 3)",
     lambda: _argv("--x0", _small("small.png"))),
    ("cli-output-is-input", "-o", "the input file", "in.png: refusing to overwrite an input file",
     lambda: _argv("--overwrite", output="in.png")),
    ("cli-output-exists", "-o", "an existing file, no --overwrite",
     "old.png: exists; pass --overwrite to replace it",
     lambda: _argv(output=_file("old.png", b"x"))),
    ("cli-outputs-same", "-o, --residual", "the same file",
     "--output and --residual name the same file", lambda: _argv("--residual", "o.png")),
    ("cli-output-suffix", "-o", "'o.jpg'", "o.jpg: output must end in one of .png, .tif, .tiff",
     lambda: _argv(output="o.jpg")),
    ("cli-output-folder", "--residual", "under a file, not a folder",
     "afile/r.png: …afile is a file, not a folder",
     lambda: _argv("--residual", os.path.join(_file("afile", b"x"), "r.png"))),
    ("cli-alpha-range", "--alpha", "1.5", "--alpha must lie in the open interval (0, 1), got 1.5",
     lambda: _argv(alpha="1.5")),
    ("cli-alpha-map-range", "--alpha", "a gray PNG with a 0 pixel",
     "--alpha must lie in the open interval (0, 1), got 0.0 at index (0, 0) of the alpha map "
     "(shape (24, 20))", lambda: _argv(alpha=_alpha_png("amap.png", (24, 20), zero=True))),
    ("cli-alpha-map-size", "--alpha", "a 5x5 PNG for 24x20 images",
     "--alpha map has shape (5, 5) but the image has shape (24, 20, 3); give a scalar, one "
     "alpha per channel (3) or a map of shape (24, 20) or (24, 20, 1) (one per pixel) or the "
     "image's shape (24, 20, 3) (one per pixel and channel)",
     lambda: _argv(alpha=_alpha_png("small_map.png", (5, 5)))),
    ("cli-alpha-channels", "--alpha", "0.5,0.6 for RGB",
     "--alpha has 2 values but the images have 3 channel(s); give one alpha per channel or a "
     "scalar", lambda: _argv(alpha="0.5,0.6")),
    ("cli-tol", "--tol", "-1", "--tol must be a positive number or None, got -1.0",
     lambda: _argv("--tol", "-1")),
    ("cli-reg-weight", "--reg-weight", "nan", "--reg-weight must be a finite number >= 0, got nan",
     lambda: _argv("--reg-weight", "nan")),
    ("cli-maxiter", "--maxiter", "-3", "--maxiter must be a non-negative integer, got -3",
     lambda: _argv("--maxiter", "-3")),
    ("cli-max-memory", "--max-memory", "'lots'",
     "--max-memory must be a positive number of bytes or a size such as '8GiB', got 'lots'",
     lambda: _argv("--max-memory", "lots")),
    ("cli-memory", "GRADFUSION_MAX_MEMORY", "'1K'",
     "gradfusion.solve needs an estimated 16.1 MiB for a 3x24x20 float64 problem; the limit is "
     "1.0 KiB (GRADFUSION_MAX_MEMORY); pass max_memory=... or set GRADFUSION_MAX_MEMORY to raise "
     "it", _memory_argv),
    ("cli-demo-alpha", "demo --alpha", "1.5", "--alpha must lie in (0, 1), got 1.5",
     lambda: ["demo", "--alpha", "1.5", "--out", "demo"]),
    ("cli-demo-out", "demo --out", "an existing file", "[Errno 17] File exists: 'afile'",
     lambda: ["demo", "--out", _file("afile", b"x")]),
    ("cli-demo-exists", "demo --out", "a folder holding table.csv",
     "demo/table.csv: exists; pass --overwrite to replace it",
     lambda: ["demo", "--out", os.path.dirname(_file(os.path.join(_file("demo", "folder"),
                                                                  "table.csv"), b"mine"))]),
    ("cli-evaluate-missing", "evaluate INPUT", "a missing file", "missing.png: no such file",
     lambda: ["evaluate", "missing.png", "prop.png", "--alpha", "0.7"]),
    ("cli-evaluate-methods", "evaluate --methods", "'adam'",
     "--methods must be a non-empty subset of ['heuristic', 'stay_positive', "
     "'stay_positive_pixels', 'gradfusion'], got ['adam']",
     lambda: ["evaluate", "in.png", "prop.png", "--alpha", "0.7", "--methods", "adam"]),
    ("cli-evaluate-patch", "evaluate --patch", "50 for a 24x20 image",
     "--patch 50 is larger than the image (24x20)",
     lambda: ["evaluate", "in.png", "prop.png", "--alpha", "0.7", "--patch", "50", "--lpips", "off"]),
    ("cli-tradeoff-missing", "tradeoff INPUT", "a missing file", "missing.png: no such file",
     lambda: ["tradeoff", "missing.png", "prop.png", "--alpha", "0.7", "--out", "sweep"]),
    ("cli-video-missing", "video INPUT", "a missing folder", "frames: INPUT: no such file or folder",
     lambda: ["video", "frames", "prop.png", "--alpha", "0.7", "-o", "out"]),
    ("cli-video-budget", "video --budget", "-1", "--budget must be a positive number of "
     "seconds or None, got -1.0",
     lambda: ["video", _frames("I"), _frames("P"), "--alpha", "0.7", "-o", "out", "--budget",
              "-1"]),
    ("cli-video-output-exists", "video -o", "an existing folder, no --overwrite",
     "out: exists; pass --overwrite to replace it",
     lambda: ["video", _frames("I"), _frames("P"), "--alpha", "0.7", "-o",
              _file("out", "folder")]),
    ("cli-evaluate-out-exists", "evaluate --out", "a folder holding table.csv",
     "ev/table.csv: exists; pass --overwrite to replace it",
     lambda: ["evaluate", "in.png", "prop.png", "--alpha", "0.7", "--out",
              os.path.dirname(_file(os.path.join(_file("ev", "folder"), "table.csv"), b"x"))]),
    ("cli-batch-no-pairs", "batch INPUT_DIR, PROPOSAL_DIR", "two empty folders",
     "no pairs: no file of A has a proposal in B named by --pattern '{stem}'",
     lambda: _batch("out", folders=(_file("A", "folder"), _file("B", "folder")))),
    ("cli-batch-out-is-input", "batch OUT_DIR", "INPUT_DIR",
     "A: OUT_DIR must differ from INPUT_DIR and PROPOSAL_DIR", lambda: _batch("A")),
    ("cli-batch-out-taken", "batch OUT_DIR", "a folder holding an output, no manifest",
     "taken/p00.png: exists and taken has no manifest; pass --force to replace it",
     lambda: _batch(os.path.dirname(_file(os.path.join(_file("taken", "folder"), "p00.png"),
                                          b"x")))),
    ("cli-batch-pattern", "batch --pattern", "'night'", "--pattern must contain {stem}, got 'night'",
     lambda: _batch("out", "--pattern", "night")),
    ("cli-batch-workers", "batch --workers", "0", "--workers must be a positive integer, got 0",
     lambda: _batch("out", "--workers", "0")),
    ("cli-batch-scheduler-workers", "batch --workers", "2 with --scheduler",
     "--workers and --backend are for local runs; with --scheduler the cluster's workers are "
     "used", lambda: _batch("out", "--scheduler", "local:2", "--workers", "2")),
    ("cli-batch-no-dask", "batch --scheduler", "tcp://HOST:PORT, dask not installed",
     "--scheduler: running on a Dask cluster needs dask and distributed: pip install "
     "'gradfusion[dask]'",
     lambda: _Without("distributed", _batch("out", "--scheduler", "tcp://127.0.0.1:1"))),
    ("cli-disk-full", "-o", "the disk fills up mid-write",
     "o.png: cannot write (OSError: [Errno 28] No space left on device)",
     lambda: _Around(_disk_full, _argv("--residual", "r.png"))),
    ("cli-write-eio", "--residual", "an I/O error (EIO) writing it",
     "r.png: cannot write (OSError: [Errno 5] Input/output error)",
     lambda: _Around(_io_error_staging("r.png"), _argv("--residual", "r.png"))),
]


class _Around(list):
    """The arguments of a CLI row run as ``around(call)``: in an environment the row sets up."""

    def __init__(self, around, argv):
        super().__init__(argv)
        self.around = around


class _Without(_Around):
    """The arguments of a CLI row run with ``import module`` failing (see :func:`_without`)."""

    def __init__(self, module, argv):
        super().__init__(lambda call: _without(module, call), argv)
        self.module = module


def _io_error_staging(name):
    """An ``around`` of :class:`_Around`: staging the output file ``name`` fails with EIO (the
    other outputs are staged as usual)."""
    import errno

    def around(call):
        stage = io._stage

        def fail_on_name(path, payload, suffix):
            if os.path.basename(path) == name:
                raise OSError(errno.EIO, "Input/output error")
            return stage(path, payload, suffix)

        with mock.patch.object(io, "_stage", fail_on_name):
            return call()

    return around


def _frames(name):
    """A folder ``name`` of two 24x20 frames."""
    os.makedirs(name)
    for k in range(2):
        io.write_image(os.path.join(name, f"{k}.png"), np.full((24, 20, 3), 0.2 + 0.1 * k))
    return name


def _batch(out, *extra, folders=None):
    """``gradfusion batch A B out``, A and B holding the pair p00.png, p00_night.png (in.png and
    prop.png), ``--pattern {stem}_night`` unless ``extra`` gives one."""
    if folders is None:
        folders = _file("A", "folder"), _file("B", "folder")
        io.write_image(os.path.join(folders[0], "p00.png"), io.read_image("in.png"))
        io.write_image(os.path.join(folders[1], "p00_night.png"), io.read_image("prop.png"))
        if "--pattern" not in extra:
            extra = ("--pattern", "{stem}_night", *extra)
    return ["batch", *folders, out, "--alpha", "0.7", *extra]


def _truncated_tiff(name):
    io.write_image("whole.tif", np.random.default_rng(0).random((24, 20, 3)), overwrite=True)
    with open("whole.tif", "rb") as fh:
        data = fh.read()
    return _file(name, data[:len(data) // 2])


def _locked(name):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not deny reads")
    io.write_image(name, np.zeros((24, 20, 3)))
    os.chmod(name, 0)
    return name


def _float_tiff(name):
    import tifffile
    tifffile.imwrite(name, np.full((24, 20, 3), 2.0, np.float32), photometric="rgb")
    return name


def _alpha_png(name, shape, zero=False):
    """An 8-bit gray alpha map (values 100-160 of 255), its first pixel 0 when ``zero``."""
    a = (100 + 60 * (np.indices(shape).sum(axis=0) % 2)).astype(np.uint8)
    if zero:
        a[0, 0] = 0
    io.write_image(name, a)
    return name


def _small(name):
    io.write_image(name, np.zeros((5, 5, 3)))
    return name


# --------------------------------------------------------------------------- the tests


@pytest.fixture(autouse=True)
def _in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRADFUSION_MAX_MEMORY", raising=False)


def _check(exc, message, call):
    if exc is None:
        call()
    elif issubclass(exc, Warning):
        with pytest.warns(exc, match=_pattern(message)):
            call()
    else:
        with pytest.raises(exc, match=_pattern(message)):
            call()


@pytest.mark.parametrize("function", sorted(PAIR_FUNCTIONS))
@pytest.mark.parametrize("case", PAIR_CASES, ids=[c.id for c in PAIR_CASES])
def test_pair_functions_refuse(case, function):
    _check(case.exc, case.message, lambda: case.call(PAIR_FUNCTIONS[function]))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case):
    _check(case.exc, case.message, case.call)


@pytest.mark.parametrize("row", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_and_exit_2(row, tmp_path, capsys, monkeypatch):
    I, P = make_pair((24, 20, 3), kind="half")
    io.write_image("in.png", I)
    io.write_image("prop.png", P)
    monkeypatch.setitem(os.environ, "GRADFUSION_MAX_MEMORY", "")
    # a row that solves (cli-disk-full) would print the first compilation's notice on a cold
    # kernel cache: a line of its own, not the row's
    monkeypatch.setitem(os.environ, "GRADFUSION_COMPILE_NOTICE", "0")
    argv = row[4]()
    before = sorted(os.listdir(tmp_path))
    try:
        if isinstance(argv, _Around):
            rc = argv.around(lambda: main(list(argv)))
        else:
            rc = main(argv)
    finally:
        for name in os.listdir(tmp_path):
            os.chmod(tmp_path / name, 0o755)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and re.match(_pattern("gradfusion: error: " + row[3]),
                                             err.rstrip("\n")), err
    assert sorted(os.listdir(tmp_path)) == before           # nothing written, no temporary


def test_one_ulp_is_shown_not_rounded_away():
    """The message's range round-trips to the array's values (it once printed [0, 1])."""
    a = np.full((4, 4), 0.5)
    a[0, 0] = 1.0 + 1e-14
    with pytest.raises(ValueError, match=re.escape("got values in [0.5, 1.00000000000001]")):
        gradfusion.solve(a, a, 0.7)


# --------------------------------------------------------------------------- inputs stay untouched


def _read_only(*arrays):
    out = []
    for a in arrays:
        a = np.array(a)
        a.flags.writeable = False
        out.append(a)
    return out


LAYOUTS = {
    "float64": lambda a: a,
    "float32": lambda a: a.astype(np.float32),
    "uint8": lambda a: np.round(a * 255).astype(np.uint8),
    "channels-first": lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 0)),
    "gray": lambda a: np.ascontiguousarray(a[..., 0]),
    "non-contiguous": lambda a: np.asfortranarray(a),
}


def _calls(layout):
    rng = np.random.default_rng(42)
    I0 = rng.random((12, 10, 3))
    I = LAYOUTS[layout](I0)
    P = LAYOUTS[layout](np.clip(0.5 * I0 + 0.2 * rng.random(I0.shape), 0, 1))
    R = LAYOUTS[layout](0.2 * rng.random(I0.shape))
    axis = 0 if layout == "channels-first" else -1
    alpha = np.array([0.6, 0.7, 0.8]) if I.ndim == 3 else 0.7
    I, P, R, alpha = _read_only(I, P, R, alpha)
    kw = dict(channel_axis=axis)
    calls = {
        "solve": lambda: gradfusion.solve(I, P, alpha, x0=R, **kw),
        "solve-multiscale": lambda: gradfusion.solve(I, P, alpha, min_size=4, **kw),
        "heuristic": lambda: baselines.heuristic(I, P, alpha, **kw),
        "stay_positive": lambda: baselines.stay_positive(I, P, alpha, grid=8, per_channel=True,
                                                         **kw),
        "stay_positive_pixels": lambda: baselines.stay_positive_pixels(I, P, alpha, **kw),
        "stay_positive_loss": lambda: baselines.stay_positive_loss(I, P, R, alpha, **kw),
        "paper_loss": lambda: gradfusion.paper_loss(I, P, R, alpha, **kw),
        "gradient_error": lambda: gradfusion.gradient_error(P, I, **kw),
        "poisson.gradient": lambda: poisson.gradient(I, **kw),
        "poisson.reconstruct": lambda: poisson.reconstruct(
            _read_only(poisson.gradient(I, **kw))[0], **kw),
        "poisson.blend": lambda: poisson.blend(P, I, _read_only(np.pad(
            np.ones((6, 4), bool), ((3, 3), (3, 3))))[0], **kw),
        "io.write_image": lambda: io.write_image("x.png", I if I.ndim == 2 or axis == -1
                                                 else np.moveaxis(I, 0, -1), overwrite=True),
    }
    if I.ndim == 3:
        calls["poisson.color2gray"] = lambda: poisson.color2gray(I, **kw)
        x = _read_only(np.ravel(I).astype(np.float64))[0]
        op = gradfusion.SobelGradient(I.shape, channel_axis=axis)
        calls["SobelGradient"] = lambda: (op @ x, op.H @ _read_only(op @ x)[0])
    return calls, (I, P, R, alpha)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_no_function_modifies_its_inputs(layout):
    """Read-only inputs (a write would raise) of every layout, compared with copies after."""
    calls, inputs = _calls(layout)
    copies = [np.copy(a) for a in inputs]
    for name, call in calls.items():
        call()
        for a, b in zip(inputs, copies):
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_solve_result_does_not_alias_the_inputs():
    I, P, x0 = _read_only(*(np.full((3, 8, 8), v) for v in (0.5, 0.25, 0.1)))
    r = gradfusion.solve(I, P, 0.7, x0=x0, channel_axis=0)
    for out in (r.output, r.residual):
        assert out.flags.writeable and not any(np.shares_memory(out, a) for a in (I, P, x0))


# --------------------------------------------------------------------------- the table


def _cell(text):
    return text.replace("|", "\\|")


def _heading(function):
    return function.replace("*", "\\*")


def table():
    """The Markdown tables of docs/errors.md: one per function (library), then the command line.

    Three columns each, so that a table fits the page's text column: the case id, the argument
    with the bad input, and the outcome with the message.
    """
    groups = {}
    for c in PAIR_CASES + CASES:
        groups.setdefault(c.function, []).append(c)
    lines = []
    for function, cases in groups.items():
        lines += ["", f"### {_heading(function)}", "",
                  "| id | argument: bad input | outcome: message |", "|---|---|---|"]
        for c in cases:
            message = _cell(c.message) if c.exc is None else f"`{_cell(c.message)}`"
            outcome = "" if c.exc is None else f"{c.outcome}: "
            lines.append(f"| `{c.id}` | `{c.argument}`: {_cell(c.bad)} | {outcome}{message} |")
    cli = ["| id | argument: bad input | message after `gradfusion: error: ` |", "|---|---|---|"]
    for id, argument, bad, message, _ in CLI_CASES:
        cli.append(f"| `{id}` | `{argument}`: {_cell(bad)} | `{_cell(message)}` |")
    return "\n".join(lines).strip(), "\n".join(cli)


def _between(text, begin, end):
    return text[text.index(begin) + len(begin):text.index(end)].strip()


def test_table_is_in_step():
    """docs/errors.md holds exactly the rows of these cases (regenerate: python tests/test_errors.py)."""
    with open(DOC, encoding="utf-8") as fh:
        doc = fh.read()
    library, cli = table()
    assert _between(doc, BEGIN, END) == library
    assert _between(doc, CLI_BEGIN, CLI_END) == cli


def test_case_ids_are_unique():
    ids = [c.id for c in PAIR_CASES + CASES] + [c[0] for c in CLI_CASES]
    assert len(ids) == len(set(ids))


if __name__ == "__main__":
    library, cli = table()
    print(BEGIN, library, END, "", CLI_BEGIN, cli, CLI_END, sep="\n")
    print(f"\n{len(PAIR_CASES)} pair cases x {len(PAIR_FUNCTIONS)} functions, {len(CASES)} "
          f"single-function cases, {len(CLI_CASES)} command-line cases", file=sys.stderr)
