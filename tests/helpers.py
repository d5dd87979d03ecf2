"""Shared test helpers: the scene/proposal builder, seeded generators, ``assert_close`` and the
one tolerance table.

A plain module (as ``reference.py``), importable from every test file because ``conftest.py``
puts this folder on ``sys.path``: ``from helpers import make_pair, assert_close, rtol``.
The fixtures (``rng``, ``shared_data``, ...) are in ``conftest.py``.
"""

import numpy as np
import pytest

# --------------------------------------------------------------------------- images

#: The proposals ``make_pair`` can build from the scene ``I`` (uniform in [0, 1)):
#: ``P = clip(gain * I**gamma + noise * N + offset, 0, 1)`` with ``N`` uniform in [0, 1) or,
#: when ``normal``, standard normal, drawn from the same generator right after ``I``.
#: Each entry was one test file's own ``_pair`` before they were merged: the data, bit for
#: bit, is what those tests always saw.
PROPOSALS = {
    # darker than the optics allow in places (the clip at 0 binds), brighter in others
    # (the upper bound binds): the solver tests' default (test_solve, test_alpha_map,
    # test_baselines)
    "mixed": dict(gain=0.6, gamma=1, noise=0.3, offset=-0.1, normal=False),
    # mostly too dark, so the level term has something to trade (test_levels,
    # test_gradient_weight, test_tradeoff)
    "dark": dict(gain=0.4, gamma=1, noise=0.3, offset=-0.1, normal=False),
    # reached by the display in places and not in others, a little brighter than "mixed"
    # (test_results)
    "brighter": dict(gain=0.5, gamma=1, noise=0.4, offset=-0.1, normal=False),
    # never below 0: a dim copy of the scene with some noise (test_cli)
    "dim": dict(gain=0.5, gamma=1, noise=0.2, offset=0.0, normal=False),
    # exactly half the scene, no noise (test_memory, the command-line error table)
    "half": dict(gain=0.5, gamma=1, noise=0.0, offset=0.0, normal=False),
    # a night-like translation: squared (gamma 2), halved, Gaussian noise (test_evaluation)
    "night": dict(gain=0.5, gamma=2, noise=0.05, offset=0.0, normal=True),
    # the scene with Gaussian noise: a reference and a distorted copy for the metrics
    # (test_metrics: reference first, as the metrics take them)
    "noisy": dict(gain=1.0, gamma=1, noise=0.1, offset=0.0, normal=True),
}


def make_pair(shape, seed=0, dtype=np.float64, kind="mixed"):
    """A seeded scene ``I`` and proposal ``P`` of ``shape`` (see :data:`PROPOSALS` for ``kind``).

    ``seed`` is anything ``numpy.random.default_rng`` takes (an int or a list of ints).
    Both are computed in float64 and then cast to ``dtype``; an unsigned integer ``dtype``
    (uint8, uint16) scales them to its full range and rounds.
    """
    p = PROPOSALS[kind]
    rng = np.random.default_rng(seed)
    I = rng.random(shape)
    P = p["gain"] * (I if p["gamma"] == 1 else I ** p["gamma"])
    if p["noise"]:
        P = P + p["noise"] * (rng.standard_normal(shape) if p["normal"] else rng.random(shape))
    if p["offset"]:
        P = P + p["offset"]
    P = np.clip(P, 0, 1)
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        top = np.iinfo(dtype).max
        return (I * top).round().astype(dtype), (P * top).round().astype(dtype)
    return I.astype(dtype), P.astype(dtype)


def make_rng(*key, base=20240601):
    """A generator seeded by ``base`` and ``key``: reproducible, distinct per parameter set.

    ``key`` may hold ints, tuples or lists of ints (shapes) and dtypes (counted by item size),
    so that a parametrised test can seed from its own parameters: ``make_rng(3, shape, dtype,
    mode)``.  (The ``rng`` fixture of conftest.py seeds from the test's name instead.)
    """
    ints = []
    for k in key:
        if isinstance(k, (tuple, list)):
            ints.extend(int(v) for v in k)
        elif isinstance(k, type) or isinstance(k, np.dtype):
            ints.append(np.dtype(k).itemsize)
        else:
            ints.append(int(k))
    return np.random.default_rng([base, *ints])


# --------------------------------------------------------------------------- tolerances

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

#: The relative tolerances of the comparisons the tests make again and again, keyed by what is
#: compared and the dtype of the computation under test (the references compute in float64).
#: "Measured" is the worst ``|actual - expected| / (|expected| + scale)`` over all of
#: test_kernels.py on the CPU this table was made on (AMD EPYC, 2 threads, Numba 0.68.1): run
#: ``GRADFUSION_TEST_TOLERANCES=FILE pytest tests/test_kernels.py`` and take the maximum per
#: key in FILE to measure again.  The margins (100x for float32, thousands of times for
#: float64) leave room for FMA contraction, other SIMD widths and thread counts, which change
#: the rounding, not the maths; a bug in a kernel is wrong in the first digits.
TOLERANCES = {
    # A Numba stencil or pointwise kernel against its float64 NumPy reference (reference.py),
    # elementwise, ``atol = rtol * scale`` (scale: the size of the inputs): test_kernels and
    # test_operators (against its assembled sparse matrices).  float32 rounds every intermediate
    # (eps 1.2e-7; measured 8.7e-8), float64 eps is 2.2e-16 (measured 2.3e-16).
    ("kernel", F32): 1e-5,
    ("kernel", F64): 1e-12,
    # A reduction (a dot product, a norm, an objective) of a kernel against NumPy's sum,
    # relative to the sum of the absolute terms: the summation orders differ (per row, then
    # the rows in order, against NumPy's pairwise sum) over up to 4 x 65 x 47 terms, so
    # float64 gets 10x the elementwise figure (measured 4.1e-8 float32, 9.8e-16 float64).
    ("reduction", F32): 1e-5,
    ("reduction", F64): 1e-11,
    # The active-set solver's kernels and masked V-cycle against their references: the values
    # test_active_set.py has used since the active-set solver was added (its kernels are short
    # sums: a masked 5-point stencil, transfers of four cells), 17 eps float32, 450 eps
    # float64; not remeasured here.
    ("active-set kernel", F32): 2e-6,
    ("active-set kernel", F64): 1e-13,
    # Poisson editing's kernels against poisson_reference.py: the value of
    # test_poisson_kernels.py (float64 only: blend computes in float64), as for "kernel".
    ("poisson kernel", F64): 1e-12,
    # The QP's Hessian products against each other and against its dense form (symmetry,
    # ``matvec_dot``, ``Hessian.dense``; test_solvers.py): a weighted Sobel-adjoint-Sobel plus
    # the difference and level terms, each product summed in another order.  The value the
    # test had when it was written (in test_gradient_weight.py); measured: symmetry
    # ``w.Au = u.Aw`` 1.3e-6 float32 (dots of a few hundred float32 terms of both signs
    # cancel), 3.4e-14 float64; the dense form 1.7e-7 and 5.9e-16.
    ("hessian", F32): 1e-4,
    ("hessian", F64): 1e-12,
}


def rtol(what, dtype):
    """The relative tolerance of comparing ``what`` computed in ``dtype`` (see :data:`TOLERANCES`)."""
    return TOLERANCES[(what, np.dtype(dtype))]


def assert_close(actual, expected, dtype, scale=1.0, *, what="kernel", rtol=None):
    """Elementwise agreement of ``actual`` (computed in ``dtype``) with the float64 ``expected``:
    ``rtol`` from the table for ``what`` unless given, and ``atol = rtol * scale``."""
    tol = TOLERANCES[(what, np.dtype(dtype))] if rtol is None else rtol
    actual = np.asarray(actual, dtype=np.float64)
    _record(what, dtype, actual, expected, scale)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def assert_close_sum(actual, expected, dtype, magnitude, *, what="reduction"):
    """Agreement of a reduction with ``expected``, relative to the sum of absolute terms
    ``magnitude`` (``rtol`` from the table for ``what``)."""
    tol = TOLERANCES[(what, np.dtype(dtype))]
    assert np.isfinite(actual)
    _record(what, dtype, float(actual), expected, max(magnitude, 1e-300), absolute=True)
    assert abs(float(actual) - expected) <= tol * max(magnitude, 1e-300), (actual, expected)


def _record(what, dtype, actual, expected, scale, absolute=False):
    """With ``GRADFUSION_TEST_TOLERANCES=FILE`` set, append the relative error this comparison
    needed to FILE (how the "measured" figures of :data:`TOLERANCES` were found)."""
    import os

    path = os.environ.get("GRADFUSION_TEST_TOLERANCES")
    if not path:
        return
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(all="ignore"):
        if absolute:
            need = abs(actual - float(expected)) / scale
        else:
            err = np.abs(actual - expected)
            need = float(np.max(err / (np.abs(expected) + scale), initial=0.0))
    with open(path, "a") as fh:
        fh.write(f"{what}\t{np.dtype(dtype).name}\t{need!r}\n")


# --------------------------------------------------------------------------- multigrid grids


def coarse_shape(shape):
    """The ``(C, H, W)`` of the next coarser cell-centred grid (odd sides round up)."""
    C, H, W = shape
    return (C, (H + 1) // 2, (W + 1) // 2)


def free_mask(rng, shape, free=0.8):
    """A random uint8 free-variable mask of ``shape`` with about ``free`` of it free (1)."""
    return (rng.random(shape) < free).astype(np.uint8)


# --------------------------------------------------------------------------- parametrisations

#: both float dtypes (ids f32, f64)
dtype_param = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])

#: both twins of a :class:`gradfusion._jit.BySize` kernel
twin_param = pytest.mark.parametrize("twin", ["parallel", "serial"])


def shape_param(shapes):
    """Parametrise ``shape`` over ``shapes`` (ids like ``3x8x6``)."""
    return pytest.mark.parametrize("shape", shapes, ids=lambda s: "x".join(map(str, s)))
