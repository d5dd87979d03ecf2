"""Input checks (``gradfusion._validation``): the finite-range scan and the rounding tolerance
around [0, 1].

What each bad input raises, with its message, is in test_errors.py (the table of
docs/errors.md); here are the checks' own properties: where they look, what they accept, and
that an accepted image is used exactly as if the caller had clipped it.
"""

import re

import numpy as np
import pytest
from skimage import color, data

import gradfusion
from gradfusion import _validation, io, metrics, poisson

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1 << 16, (1 << 16) + 7, 200_003])
def test_the_range_check_finds_nan_and_inf_anywhere(dtype, n):
    """The finite-range check returns NumPy's min and max and finds NaN and +-inf anywhere
    (first, last, inside), in C and Fortran layouts."""
    rng = np.random.default_rng([n, np.dtype(dtype).itemsize])
    a = rng.uniform(-2.0, 3.0, n).astype(dtype)
    assert _validation._finite_range(a, "a") == (float(a.min()), float(a.max()))
    img = a[: (n // 3) * 3].reshape(-1, 3)
    assert _validation._finite_range(np.asfortranarray(img), "a") == (float(img.min()),
                                                                      float(img.max()))
    for pos in (0, n - 1, n // 64, n // 2):
        for bad in (NAN, INF, -INF):
            b = a.copy()
            b[pos] = bad
            with pytest.raises(ValueError):            # message: test_errors.py
                _validation._finite_range(b, "x")


# --------------------------------------------------------------------------- rounding around [0, 1]


def test_colour_space_round_trip_is_accepted_and_clipped(tmp_path, monkeypatch):
    """A pipeline's float image off [0, 1] by rounding (ycbcr2rgb of rgb2ycbcr) is accepted:
    every entry point sees it clipped to [0, 1], exactly as if the caller had clipped it."""
    monkeypatch.chdir(tmp_path)
    I = data.astronaut()[200:248, 180:236] / 255.0
    for dtype in (np.float64, np.float32):
        Id = I.astype(dtype)
        P = color.ycbcr2rgb(color.rgb2ycbcr(Id))
        assert P.dtype == dtype and (P.min() < 0.0 or P.max() > 1.0)     # the case at hand
        Pc = np.clip(P, 0.0, 1.0)
        a, b = gradfusion.solve(Id, P, 0.7), gradfusion.solve(Id, Pc, 0.7)
        np.testing.assert_array_equal(a.residual, b.residual)
        assert gradfusion.gradient_error(Id, P) == gradfusion.gradient_error(Id, Pc)
        assert metrics.psnr(Id, P) == metrics.psnr(Id, Pc)
        mask = np.zeros(P.shape[:2], bool)
        mask[10:30, 10:30] = True
        np.testing.assert_array_equal(poisson.blend(P, Id, mask).output,
                                      poisson.blend(Pc, Id, mask).output)
        io.write_image(f"p-{np.dtype(dtype).name}.png", P)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_range_tolerance_is_8_eps_of_the_dtype(dtype):
    """Exactly 8 eps outside [0, 1] is accepted (clipped, the input untouched), the next
    representable value out is refused and printed with every digit that tells it apart."""
    tol = _validation.range_tolerance(dtype)
    assert tol == 8 * np.finfo(dtype).eps
    for edge, out in ((1.0, 1.0 + tol), (0.0, -tol)):
        a = np.full((4, 4), 0.5, dtype)
        a[1, 2] = out
        a.flags.writeable = False
        got = _validation.check_image(a, "image")
        assert got.dtype == dtype and got[1, 2] == edge and got.min() >= 0 and got.max() <= 1
        assert a[1, 2] == dtype(out)                                    # the input is not clipped
        b = a.copy()
        b[1, 2] = np.nextafter(dtype(out), dtype(2 * out - edge))     # one step further out
        with pytest.raises(ValueError) as info:
            _validation.check_image(b, "image")
        shown = re.search(r"got values in \[(.*), (.*)\]$", str(info.value)).groups()
        assert dtype(shown[0 if edge == 0.0 else 1]) == b[1, 2]       # round-trips: not "1" or "0"
