"""Shared test configuration: fixtures (seeded generators, the shared data folder, an install
without matplotlib) and the options every solver test shares.

The plain helpers (``make_pair``, ``assert_close``, the tolerance table) are in ``helpers.py``
and the NumPy references of the kernels in ``reference.py`` and ``poisson_reference.py``: test
files import them by name (``from helpers import make_pair``), which the ``sys.path`` line
below makes work under ``--import-mode=importlib``.
"""

import os
import sys
import zlib

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:               # `import reference` under --import-mode=importlib
    sys.path.insert(0, HERE)

#: ../shared/data beside the project root (absent on a bare clone)
SHARED_DATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data")


#: the paper's objective as published (zero-padded Sobel, no level term): what the assembled
#: references of the solver tests implement (solve's default has reflected borders and a level
#: term)
PAPER = {"boundary": "zero", "level_weight": 0.0}

#: ``filterwarnings`` mark of tests that solve with reflected borders and no level term on
#: purpose (solve warns that the output's level is undetermined: tests/test_border.py)
UNDETERMINED_LEVEL = "ignore:boundary='reflect' with level_weight=0:UserWarning"


#: the first word of every seed the ``rng`` fixture draws from
RNG_SEED = 20261201


@pytest.fixture
def rng(request):
    """A ``numpy.random.default_rng`` seeded from the test's name and parameters: the same
    numbers on every run, different ones for every test and parameter set."""
    return np.random.default_rng([RNG_SEED, zlib.crc32(request.node.name.encode())])


@pytest.fixture
def shared_data():
    """Path of ../shared/data; skips the test when it is not there."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (not part of the project)")
    return SHARED_DATA


@pytest.fixture
def without_matplotlib(monkeypatch):
    """Importing matplotlib fails, as on an install without the ``plot`` extra."""
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
