"""The padded grid every Poisson kernel works on (private): cell kinds, row spans, row bands,
and the Numba flavours of the kernels of this package.

Every level of the multigrid hierarchy is a padded grid of ``(Hp, Wp)`` cells (the
region plus a one-cell frame) with a cell ``kind``:

``OUTSIDE`` (0)
    outside the target image: not a neighbour at all (Neumann end);
``FIXED`` (1)
    inside the image but not an unknown: a Dirichlet value (moved to the
    right-hand side, so the kernels see it as 0);
``UNKNOWN`` (2)
    a cell of the masked region.

Field arrays are channels first, ``(C, Hp, Wp)``, and hold 0 on every cell
that is not ``UNKNOWN``.

Every kernel works on each row's span of unknowns only (:func:`row_spans`),
with its loops over row views that start at the span: a loop from a runtime
column keeps Numba's negative-index test on every access (2-3x slower).

Parallel work: the fused passes and ``count_residual``
(:mod:`~gradfusion._poisson.fused_kernels`) run (channel, row band) units
(:func:`band_edges`: three channels on two threads are six equal units, where
three channel units took two rounds); the set-up kernels
(:mod:`~gradfusion._poisson.system_kernels`) run (channel, row) pairs and
``galerkin`` its coarse rows; the coarse-level kernels
(:mod:`~gradfusion._poisson.level_kernels`) run (channel, row band) units of
:func:`smoother_bands`, their Gauss-Seidel sweeps hybrid (lexicographic inside
a band, Jacobi across its seams: see ``gauss_seidel9``). ``parent_table`` and
``child_table`` are serial. Restriction gathers each coarse entry from its
three fine children (``child_table``) rather than scattering through the
parent table: the gather vectorises.
"""

import math

import numpy as np

from .._jit import jit

OUTSIDE = 0
FIXED = 1
UNKNOWN = 2

# the flags are gradfusion._jit's; these kernels take NumPy's error model (no exceptions)
serial = jit(numpy_errors=True)
# the per-channel kernels: channels are independent, so they run in parallel (same results)
parallel = jit(parallel=True, numpy_errors=True)
# the fine-level passes: reductions and stencil sums may be reassociated, so that LLVM vectorises
# the row loops (a dot product accumulated in order keeps a whole loop scalar)
serial_fast = jit(fast=True, numpy_errors=True)
parallel_fast = jit(parallel=True, fast=True, numpy_errors=True)


def band_edges(rows, channels, threads, min_rows=16):
    """Row bands of the fused passes: ``edges`` (int64) splitting the interior rows
    ``1 .. rows - 2`` of a padded grid into ``n`` bands, ``n = threads / gcd(channels,
    threads)`` so that the ``channels * n`` (channel, band) units share the threads
    evenly (3 channels on 2 threads: 2 bands, 6 units, where 3 channel units took
    two rounds), fewer if a band would have under ``min_rows`` rows."""
    n = max(1, threads // math.gcd(max(channels, 1), max(threads, 1)))
    n = max(1, min(n, (rows - 2) // min_rows))
    return np.linspace(1, rows - 1, n + 1).round().astype(np.int64)


def row_spans(count):
    """``spans[i] = (first, last + 1)`` of the unknown columns of fine row ``i`` (``count >
    0``), ``(1, 1)`` for a row without unknowns: the fused passes and residuals work on
    these spans only (a disk leaves about a fifth of its bounding box outside). int64."""
    on = np.asarray(count) > 0
    spans = np.ones((on.shape[0], 2), dtype=np.int64)
    rows = np.flatnonzero(on.any(axis=1))
    spans[rows, 0] = on[rows].argmax(axis=1)
    spans[rows, 1] = on.shape[1] - on[rows, ::-1].argmax(axis=1)
    return spans


def smoother_bands(rows, channels):
    """Row bands of the coarse levels' kernels: :func:`band_edges` for two threads (three
    channels: two bands each, six units). Fixed rather than taken from the thread count,
    so that the hybrid Gauss-Seidel smoother of :func:`~.level_kernels.gauss_seidel9`, and with it
    the solver's iterates, are the same on every machine (they depend on the number of
    channels: one or three channels get two bands, two or four one)."""
    return band_edges(rows, channels, 2)
