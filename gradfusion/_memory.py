"""Peak-memory estimate of a solve, and the limit it is checked against.

:func:`gradfusion.solve` calls :func:`check_solve_memory` after validating
its arguments and before allocating anything, and refuses a problem whose
estimated peak does not fit with :class:`MemoryLimitError`. The estimate
and its calibration against measured peak resident memory are documented
in ``docs/errors.md`` (``bench/bench_memory.py`` measures it).
"""

import math
import numbers
import os
import re

import numpy as np

from ._validation import describe

__all__ = ["MemoryLimitError"]

#: environment variable that sets the default limit (bytes, or with a K/M/G/T suffix)
ENV_VAR = "GRADFUSION_MAX_MEMORY"

#: working arrays of the problem's size alive at the peak of a solve (see docs/errors.md)
SOLVE_ARRAYS = 13
#: and one more when the objective has a level-weight map or a gradient weight: the V-cycle's
#: ``A e`` (an operator without maps applies ``A`` inside its smoothing passes)
MAP_OPERATOR_ARRAYS = 1
#: copies of a level-weight map alive at the peak: the map, the operator's diagonal
#: (twice the map) and their coarse scales and multigrid levels (under 1)
MAP_ARRAYS = 3
#: fixed part: the operator-norm bound's 257x257 tables (about 9 MB, briefly) and scratch
SOLVE_OVERHEAD = 16 * 2**20

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemoryLimitError(MemoryError):
    """A computation was refused because its estimated peak memory exceeds the limit.

    Raised before any work is done; the message names the estimate, the
    limit and where the limit came from. Raise the limit with the
    ``max_memory`` keyword or the ``GRADFUSION_MAX_MEMORY`` environment
    variable (see ``docs/errors.md``).
    """

    __module__ = "gradfusion"


def estimate_solve_bytes(shape, dtype, map_size=0, maps=False):
    """Estimated peak bytes that :func:`gradfusion.solve` allocates for a ``(C, H, W)`` problem.

    ``SOLVE_ARRAYS * C * H * W * itemsize + SOLVE_OVERHEAD``: the image and
    proposal copies (2), the problem's target and linear term (2), the iterate
    and the active-set solver's six work vectors (7: gradient, residual,
    preconditioned residual, direction, product), its
    mask (1 byte a variable) and multigrid levels (4 arrays at a quarter
    size and less: under 1.5), and the coarse scales of the pyramid (under 1).
    MPRGP needs about 10 of the 13. With ``maps`` (a level-weight map or a gradient
    weight) the V-cycle's ``A e`` adds ``MAP_OPERATOR_ARRAYS``, and the maps'
    ``map_size`` values add ``MAP_ARRAYS * map_size * itemsize``.
    """
    C, H, W = (int(s) for s in shape)
    arrays = SOLVE_ARRAYS + (MAP_OPERATOR_ARRAYS if maps else 0)
    values = arrays * C * H * W + MAP_ARRAYS * int(map_size)
    return values * np.dtype(dtype).itemsize + SOLVE_OVERHEAD


def format_bytes(n):
    """``n`` bytes in binary units, e.g. ``'3.1 GiB'``."""
    if not math.isfinite(n):
        return "unlimited"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def parse_bytes(value, name):
    """A memory size: a positive number of bytes (``math.inf`` for no limit), or a string
    such as ``"512M"``, ``"2 GiB"``, ``"inf"`` (suffixes K, M, G, T are powers of 1024,
    optionally followed by ``B`` or ``iB``)."""
    requirement = "a positive number of bytes or a size such as '8GiB'"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "none", "unlimited"):
            return math.inf
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)(?:i?b)?", text)
        if m is None:
            raise ValueError(f"{name} must be {requirement}, got {value!r}")
        n = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        n = float(value)
    else:
        raise TypeError(f"{name} must be {requirement}, got {describe(value)}")
    if not n > 0:
        raise ValueError(f"{name} must be {requirement}, got {value!r}")
    return n


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_memory():
    """``(bytes, source)``: memory this process can still use, or ``(None, reason)``.

    The smallest of ``MemAvailable`` in ``/proc/meminfo`` and the room left
    under a cgroup memory limit (v2 ``memory.max - memory.current``, or v1),
    falling back to ``os.sysconf`` free pages where ``/proc`` is absent.
    """
    found = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append((int(line.split()[1]) * 1024, "available memory"))
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:
            found.append((max(limit - usage, 0), "room under the cgroup memory limit"))
            break
    if not found:
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES")
            size = os.sysconf("SC_PAGE_SIZE")
            if pages > 0 and size > 0:
                found.append((pages * size, "free physical memory"))
        except (ValueError, OSError, AttributeError):
            pass
    if not found:
        return None, "available memory unknown"
    return min(found)


def memory_limit(max_memory):
    """``(limit_bytes, source)`` from ``max_memory``, else the environment, else what is available."""
    if max_memory is not None:
        return parse_bytes(max_memory, "max_memory"), "max_memory"
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return parse_bytes(env, ENV_VAR), ENV_VAR
    avail, source = available_memory()
    return (math.inf if avail is None else float(avail)), source


def check_solve_memory(shape, dtype, max_memory, what="gradfusion.solve", map_size=0,
                       maps=False):
    """Raise :class:`MemoryLimitError` when the estimate for ``shape`` exceeds the limit."""
    need = estimate_solve_bytes(shape, dtype, map_size, maps)
    limit, source = memory_limit(max_memory)
    if need > limit:
        C, H, W = shape
        raise MemoryLimitError(
            f"{what} needs an estimated {format_bytes(need)} for a {C}x{H}x{W} "
            f"{np.dtype(dtype).name} problem; the limit is {format_bytes(limit)} ({source}); "
            f"pass max_memory=... or set {ENV_VAR} to raise it")
    return need, limit
