"""The package's Numba settings (gradfusion._jit): one place for the flags, every kernel
cached, one notice line when a process compiles, no needless specialisations; and the OpenMP
wait policy that importing gradfusion sets."""

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
from test_layering import KERNELS

PACKAGE = os.path.dirname(os.path.abspath(gradfusion.__file__))
ROOT = os.path.dirname(PACKAGE)

#: the kernel files that take their flags from gradfusion._jit: every module that makes Numba
#: kernels (found by test_layering.py, so a new kernel module is never missed) but _jit.py itself
KERNEL_FILES = sorted(KERNELS - {"_jit.py"})


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
    import gradfusion.poisson  # noqa: F401  (registers the kernels of gradfusion._poisson)
    from numba.core.caching import NullCache

    assert len(_jit.KERNELS) > 50
    for d in _jit.KERNELS:
        assert d.targetoptions.get("nogil"), d
        assert not isinstance(d._cache, NullCache), f"{d.py_func.__qualname__} is not cached"


@pytest.mark.parametrize("preset,want", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_wait_policy(preset, want):
    """Importing gradfusion makes OpenMP threads wait passively unless the user chose."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    out = subprocess.run([sys.executable, "-c", "import os, gradfusion; "
                          "print(os.environ['OMP_WAIT_POLICY'])"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == want


class _Clock:
    """A stand-in for ``time.perf_counter`` that each fake serial call advances."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _fake_twins(monkeypatch, size_arg=None, step=0.4, cached=False):
    """A :class:`BySize` over a Python function whose twins only record their calls (each
    serial call "takes" ``step`` seconds of a fake clock); the disk cache answers ``cached``."""
    calls, clock = [], _Clock()

    def kernel(a, b):
        return a.size + b.size

    def serial(*a):
        clock.now += step
        calls.append("serial")

    k = _jit.BySize(kernel, size_arg=size_arg)
    k.serial = serial
    k.parallel = lambda *a: calls.append("parallel")
    monkeypatch.setattr(_jit, "_clock", clock)
    monkeypatch.setattr(_jit, "_load_cached", lambda dispatcher, args: cached)
    return k, calls


@pytest.mark.parametrize("size_arg", [None, 1])
def test_by_size_chooses_the_twin_by_the_array_size(monkeypatch, size_arg):
    """Small arrays run serial; with ``size_arg`` None the largest array decides."""
    monkeypatch.setattr(_jit, "PARALLEL_COMPILE", "eager")
    k, calls = _fake_twins(monkeypatch, size_arg)
    k(np.zeros(3), np.zeros(_jit.SERIAL_CELLS - 1))
    k(np.zeros(3), np.zeros(_jit.SERIAL_CELLS))
    k(np.zeros(_jit.SERIAL_CELLS), np.zeros(3))
    expected = "parallel" if size_arg is None else "serial"
    assert calls == ["serial", "parallel", expected]
    assert k.__name__ == "kernel"


def test_tiered_runs_serial_until_the_parallel_twin_pays(monkeypatch):
    """On a cold cache a large call runs the serial twin until it has spent
    ``TIER_SECONDS``; then the parallel twin is compiled and used from then on."""
    monkeypatch.setattr(_jit, "TIER_SECONDS", 1.0)
    k, calls = _fake_twins(monkeypatch, step=0.4)
    big = np.zeros(_jit.SERIAL_CELLS)
    for _ in range(6):
        k(big, big)
    assert calls == ["serial"] * 3 + ["parallel"] * 3      # 0.4, 0.8, 1.2 >= 1.0
    k(np.zeros(3), np.zeros(3))                            # small arrays stay serial
    assert calls[-1] == "serial"


def test_tiered_prices_a_kernel_by_its_serial_compile_time(monkeypatch):
    """A kernel whose serial twin took long to compile waits longer (its parallel twin
    costs about PARALLEL_COMPILE_RATIO times as much more), and the serial twin's own
    compilation during a call is not counted as work."""
    monkeypatch.setattr(_jit, "TIER_SECONDS", 1.0)
    k, calls = _fake_twins(monkeypatch, step=0.4)
    monkeypatch.setattr(_jit, "_compile_times",
                        {id(k.serial): 2.0 * _jit.PARALLEL_EXTRA_COMPILE / _jit.PARALLEL_COMPILE_RATIO})
    assert k.tier_seconds() == pytest.approx(2.0)
    big = np.zeros(_jit.SERIAL_CELLS)
    for _ in range(7):
        k(big, big)
    assert calls == ["serial"] * 5 + ["parallel"] * 2      # 0.4 ... 2.0 >= 2.0


def test_tiered_does_not_count_compilation_as_work(monkeypatch):
    monkeypatch.setattr(_jit, "TIER_SECONDS", 1.0)
    k, calls = _fake_twins(monkeypatch, step=0.4)
    serial = k.serial

    def compiling(*a):                 # the first call "compiles" for 0.3 of its 0.4 s
        if not calls:
            monkeypatch.setattr(_jit, "_compile_total", _jit._compile_total + 0.3)
        serial(*a)

    k.serial = compiling
    big = np.zeros(_jit.SERIAL_CELLS)
    for _ in range(5):
        k(big, big)
    assert calls == ["serial"] * 4 + ["parallel"]          # 0.1, 0.5, 0.9, 1.3 >= 1.0


def test_tiered_counts_each_argument_type_apart(monkeypatch):
    monkeypatch.setattr(_jit, "TIER_SECONDS", 1.0)
    k, calls = _fake_twins(monkeypatch, step=0.6)
    f64, f32 = np.zeros(_jit.SERIAL_CELLS), np.zeros(_jit.SERIAL_CELLS, np.float32)
    for a in (f64, f64, f64, f32):
        k(a, a)
    assert calls == ["serial", "serial", "parallel", "serial"]


def test_tiered_takes_a_cached_parallel_twin_at_once(monkeypatch):
    k, calls = _fake_twins(monkeypatch, cached=True)
    big = np.zeros(_jit.SERIAL_CELLS)
    k(big, big)
    k(big, big)
    assert calls == ["parallel", "parallel"]


@pytest.mark.parametrize("threads, share", [(1, 0.0), (2, 0.5), (4, 0.75)])
def test_tier_seconds_is_the_rent_or_buy_point(threads, share):
    """The parallel twin is bought when the time it would have saved so far (``share`` of the
    serial time, at best) equals its extra compile time; never with one thread."""
    seconds = _jit.tier_seconds(threads)
    if share == 0.0:
        assert seconds == np.inf
    else:
        assert seconds * share == pytest.approx(_jit.PARALLEL_EXTRA_COMPILE)


def test_a_later_process_loads_the_parallel_twin_from_the_cache(tmp_path):
    """A process that compiled a parallel twin (eagerly here) leaves it in the disk cache;
    the next process, tiered, runs it on its first large call without compiling."""
    code = """
        import json, numpy as np
        from numba.core import event
        from gradfusion import _jit, _stencils as st
        compiled = []
        class Count(event.Listener):
            def on_start(self, e):
                compiled.append(e.data["dispatcher"].py_func.__qualname__)
            def on_end(self, e):
                pass
        event.register("numba:compile", Count())
        x = np.random.default_rng(0).random((3, 200, 200)) - 0.5
        total = st.clip_channels(x, np.ones(3), np.empty_like(x))
        k = st.clip_channels
        print(json.dumps(dict(policy=_jit.PARALLEL_COMPILE, compiled=compiled, total=total,
                              parallel=len(k.parallel.overloads),
                              serial=len(k.serial.overloads))))
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "GRADFUSION_COMPILE_NOTICE": "0",
           "GRADFUSION_PARALLEL_COMPILE": "eager"}
    first = _run(code, env)
    assert first.returncode == 0, first.stderr
    eager = json.loads(first.stdout.splitlines()[-1])
    assert eager["policy"] == "eager" and eager["parallel"] == 1 and eager["serial"] == 0
    assert "clip_channels" in eager["compiled"]
    second = _run(code, dict(env, GRADFUSION_PARALLEL_COMPILE="tiered"))
    assert second.returncode == 0, second.stderr
    tiered = json.loads(second.stdout.splitlines()[-1])
    assert tiered["policy"] == "tiered" and tiered["compiled"] == []
    assert tiered["parallel"] == 1 and tiered["serial"] == 0
    assert tiered["total"] == eager["total"]
    # a cold cache, tiered (the default): the large array runs on the serial twin, and the
    # parallel one (three times the compile time) is not compiled for one short call
    cold = _run(code, {"NUMBA_CACHE_DIR": str(tmp_path / "cold"), "GRADFUSION_COMPILE_NOTICE": "0",
                       "GRADFUSION_PARALLEL_COMPILE": None})
    assert cold.returncode == 0, cold.stderr
    first_run = json.loads(cold.stdout.splitlines()[-1])
    assert first_run["policy"] == "tiered"
    assert "clip_channels_serial" in first_run["compiled"]
    assert "clip_channels" not in first_run["compiled"]
    assert first_run["parallel"] == 0 and first_run["serial"] == 1
    assert first_run["total"] == eager["total"]


def _by_size_kernels():
    from gradfusion import _stencils
    from gradfusion._multigrid import transfer
    from gradfusion._poisson import fused_kernels, level_kernels, system_kernels
    from gradfusion._solvers import _kernels, _mg_kernels

    found = [obj for mod in (_stencils, _kernels, _mg_kernels, transfer, level_kernels,
                             fused_kernels, system_kernels)
             for obj in vars(mod).values()
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


def test_compile_seconds_counts_our_compilations_once(tmp_path):
    """compile_seconds() adds up the time of gradfusion's compilations (a callee compiled
    inside a kernel's compilation is counted once, in it); a cache hit adds nothing; a user's
    own Numba function is not counted."""
    code = """
        import json, time, numba
        from gradfusion import _jit, _stencils as st
        user = numba.njit(lambda x: x + 1)
        user(1)
        after_user = _jit.compile_seconds()
        t0 = time.perf_counter()
        st._border_classes(7)
        wall = time.perf_counter() - t0
        print(json.dumps(dict(user=after_user, ours=_jit.compile_seconds(), wall=wall)))
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "GRADFUSION_COMPILE_NOTICE": "0"}
    cold = _run(code, env)
    assert cold.returncode == 0, cold.stderr
    c = json.loads(cold.stdout.splitlines()[-1])
    assert c["user"] == 0.0
    assert 0.0 < c["ours"] <= c["wall"]
    warm = _run(code, env)
    w = json.loads(warm.stdout.splitlines()[-1])
    assert w["ours"] == 0.0


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


def _all_serial_then_all_parallel(monkeypatch, run):
    """``run()`` with every BySize kernel on its serial twin, then on its parallel twin."""
    monkeypatch.setattr(_jit, "SERIAL_CELLS", 1 << 60)
    serial = run()
    monkeypatch.setattr(_jit, "SERIAL_CELLS", 0)
    monkeypatch.setattr(_jit, "PARALLEL_COMPILE", "eager")
    return serial, run()


@pytest.mark.parametrize("method", ["active-set", "mprgp"])
def test_serial_and_parallel_twins_solve_to_the_same_bits(monkeypatch, method):
    """Which twin runs is a matter of speed only (their float sums are taken per row and
    added in order): a solve on the serial twins and one on the parallel twins agree bit for
    bit, so a process that switches twins mid-run (tiered compilation) changes nothing."""
    rng = np.random.default_rng(7)
    I = rng.random((37, 45, 3))
    P = np.clip(0.4 * I ** 2.2 + 0.05 * rng.standard_normal(I.shape), 0, 1)
    alpha = 0.6 + 0.2 * rng.random((37, 45))

    def run():
        res = gradfusion.solve(I, P, alpha, method=method, multiscale=False)
        return res.output.tobytes(), res.fun, res.nit, res.gap

    serial, parallel = _all_serial_then_all_parallel(monkeypatch, run)
    assert serial == parallel


def test_serial_and_parallel_twins_blend_to_the_same_bits(monkeypatch):
    rng = np.random.default_rng(8)
    target = rng.random((41, 47, 3))
    source = rng.random((41, 47, 3))
    mask = np.zeros((41, 47), bool)
    mask[6:33, 9:40] = True

    def run():
        return gradfusion.poisson.blend(source, target, mask).output.tobytes()

    serial, parallel = _all_serial_then_all_parallel(monkeypatch, run)
    assert serial == parallel
