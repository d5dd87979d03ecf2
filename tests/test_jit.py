"""The package's Numba settings (gradfusion._jit): one place for the flags, every kernel
cached, one notice line when a process compiles, no needless specialisations."""

import ast
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradfusion
from gradfusion import _jit

PACKAGE = os.path.dirname(os.path.abspath(gradfusion.__file__))
ROOT = os.path.dirname(PACKAGE)

#: the kernel files that take their flags from gradfusion._jit
KERNEL_FILES = ["_stencils.py", "_solvers/_kernels.py", "_solvers/_mg_kernels.py",
                "_poisson_kernels.py"]


def _run(code, env_extra=None, timeout=900):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("GRADFUSION_COMPILE_NOTICE", None)
    for key, value in (env_extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("name", KERNEL_FILES)
def test_kernel_files_define_no_flags_of_their_own(name):
    """No ``numba.njit(...)`` / ``nb.jit(...)`` call in a kernel file: the flags are _jit's."""
    tree = ast.parse(open(os.path.join(PACKAGE, name)).read())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in ("njit", "jit")
             and isinstance(node.func.value, ast.Name) and node.func.value.id in ("nb", "numba")]
    assert not calls, [ast.unparse(c) for c in calls]


def test_every_kernel_is_cached():
    import gradfusion._poisson_kernels  # noqa: F401  (registers its kernels)
    from numba.core.caching import NullCache

    assert len(_jit.KERNELS) > 50
    for d in _jit.KERNELS:
        assert d.targetoptions.get("nogil"), d
        assert not isinstance(d._cache, NullCache), f"{d.py_func.__qualname__} is not cached"


def test_by_size_chooses_the_twin_by_the_argument_size():
    calls = []

    def kernel(a, b):
        return a.size + b.size

    k = _jit.BySize(kernel, size_arg=1)
    k.serial = lambda *a: calls.append("serial")
    k.parallel = lambda *a: calls.append("parallel")
    k(np.zeros(_jit.SERIAL_CELLS), np.zeros(3))
    k(np.zeros(3), np.zeros(_jit.SERIAL_CELLS))
    assert calls == ["serial", "parallel"]
    assert k.__name__ == "kernel"


def _by_size_kernels():
    import gradfusion._poisson_kernels  # noqa: F401
    from gradfusion import _stencils
    from gradfusion._solvers import _mg_kernels

    found = [obj for mod in (_stencils, _mg_kernels) for obj in vars(mod).values()
             if isinstance(obj, _jit.BySize)]
    assert len(found) >= 7
    return found


def test_twins_have_their_own_cache_entries():
    """The serial and parallel twins of a kernel are cached apart (Numba keys its cache by
    name, signature and bytecode, not by the parallel flag: shared entries let a cold cache
    hand one twin's code to the other, and solves differed in their last bits)."""
    for k in _by_size_kernels():
        serial = k.serial._cache._cache_file._index_path
        parallel = k.parallel._cache._cache_file._index_path
        assert serial != parallel, k.__name__
        assert k.serial.py_func.__qualname__.endswith("_serial")
        assert k.serial.py_func.__code__ is k.parallel.py_func.__code__


def test_notice_once_when_compiling_and_never_on_a_cache_hit(tmp_path):
    """A cold cache prints the one line once however many kernels compile; the next process,
    loading them from the cache, prints nothing; GRADFUSION_COMPILE_NOTICE=0 silences it."""
    code = """
        from gradfusion import _stencils as st
        st._border_classes(7)                 # two small serial kernels
        st._position_class(3, 9)
        print("ok")
    """
    cache = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    cold = _run(code, cache)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr == _jit.NOTICE + "\n"
    warm = _run(code, cache)
    assert warm.returncode == 0 and warm.stdout == "ok\n"
    assert warm.stderr == ""
    quiet = _run(code, {"NUMBA_CACHE_DIR": str(tmp_path / "other"),
                        "GRADFUSION_COMPILE_NOTICE": "0"})
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_user_functions_compiling_print_no_notice(tmp_path):
    code = """
        import numba, gradfusion._jit
        f = numba.njit(lambda x: x + 1)
        print(f(1))
    """
    run = _run(code, {"NUMBA_CACHE_DIR": str(tmp_path)})
    assert run.returncode == 0 and run.stdout == "2\n"
    assert run.stderr == ""


def test_cache_falls_back_when_the_package_folder_is_read_only(tmp_path):
    """Numba's own fallback: when the package's ``__pycache__`` cannot be written (a read-only
    site-packages; simulated: root may write anywhere), the kernels are cached in the user's
    cache folder, and the next process loads them from there."""
    code = """
        import numba.core.caching as caching
        def refuse(self):
            raise PermissionError("read-only")
        in_tree = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator
        in_tree.ensure_cache_path = refuse
        from gradfusion import _stencils as st
        print(type(st._border_classes._cache._impl.locator).__name__)
        st._border_classes(7)
    """
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "NUMBA_CACHE_DIR": None}
    first = _run(code, env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().lstrip("_") == "UserWideCacheLocator"
    assert first.stderr == _jit.NOTICE + "\n"
    cached = [f for _, _, files in os.walk(tmp_path / "xdg") for f in files]
    assert any(f.startswith("_stencils._border_classes") and f.endswith(".nbi") for f in cached)
    second = _run(code, env)
    assert second.returncode == 0 and second.stderr == ""


def test_a_float32_solve_compiles_no_float64_variant():
    """Every kernel a float32 solve (both methods) uses is specialised for float32 C-contiguous
    arrays only: no float64 or non-contiguous image-shaped variant is compiled or loaded."""
    code = """
        import json, numpy as np, gradfusion
        from gradfusion import _jit
        rng = np.random.default_rng(0)
        I = rng.random((40, 36, 3)).astype(np.float32)
        P = (0.4 * I ** 2.2).astype(np.float32)
        for method in ("mprgp", "active-set"):
            gradfusion.solve(I, P, 0.7, method=method)
        print(json.dumps(_jit.compiled_signatures()))
    """
    run = _run(code, {"GRADFUSION_COMPILE_NOTICE": "0"})
    assert run.returncode == 0, run.stderr
    sigs = json.loads(run.stdout.splitlines()[-1])
    assert sigs
    bad = {}
    for name, variants in sigs.items():
        for sig in variants:
            images = [t for t in sig if t.startswith("Array(") and ", 3, " in t]
            if name.endswith("._normal_slow"):
                continue          # the float64 probe of the border stencils (_frame_table)
            if any("float64" in t or "'C'" not in t for t in images):
                bad.setdefault(name, []).append(sig)
    assert not bad, bad
