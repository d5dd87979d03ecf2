"""solve_many, the fork-safety of the threading layer, and ``gradfusion batch`` end to end."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numba
import numpy as np
import pytest
from skimage import data, img_as_float, transform

import gradfusion
from gradfusion import io
from gradfusion import _threads as _threading
from gradfusion._batch._local import Task, _Window
from gradfusion._batch._tasks import PairResult
from gradfusion.cli import main

try:
    import distributed
except ImportError:             # pragma: no cover - the dask extra is part of the test extra
    distributed = None

needs_dask = pytest.mark.skipif(distributed is None,
                                reason="needs dask.distributed (pip install 'gradfusion[dask]')")
PHOTOS = (data.astronaut, data.coffee, data.chelsea, data.rocket)


def photo_pair(k, size=48):
    """A small photograph (a different crop and size per k) and its night-like proposal."""
    I = img_as_float(PHOTOS[k % 4]())
    I = np.clip(transform.resize(I, (size, size + 4 * (k % 3)), anti_aliasing=True), 0, 1)
    I = np.ascontiguousarray(np.roll(I, 7 * k, axis=1))
    return I, 0.4 * I ** 2.2


def reference(I, P, threads, **options):
    """``solve`` with the thread count of a worker (the last bits depend on it)."""
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        return gradfusion.solve(I, P, 0.7, **options)
    finally:
        numba.set_num_threads(before)


def write_folder(root, n, size=48, suffix="_night"):
    os.makedirs(root / "in", exist_ok=True)
    os.makedirs(root / "prop", exist_ok=True)
    for k in range(n):
        I, P = photo_pair(k, size)
        io.write_image(root / "in" / f"p{k:02d}.png", I)
        io.write_image(root / "prop" / f"p{k:02d}{suffix}.png", P)


def run_cli(*argv):
    """The command in a fresh interpreter (as a user runs it)."""
    return subprocess.run([sys.executable, "-m", "gradfusion", *argv], capture_output=True,
                          text=True, timeout=600)


# ---------------------------------------------------------------- solve_many

@pytest.mark.parametrize("backend, workers", [("threads", 1), ("processes", 2)])
def test_solve_many_equals_solve_bitwise(backend, workers):
    pairs = [photo_pair(k) for k in range(4)]
    results = gradfusion.solve_many(pairs, 0.7, backend=backend, workers=workers)
    assert [r.index for r in results] == [0, 1, 2, 3]
    threads = _threading.threads_per_solve(workers)
    for (I, P), r in zip(pairs, results):
        assert r.ok and r.outcome == "ok" and r.error is None and r.worker
        ref = reference(I, P, threads)
        np.testing.assert_array_equal(r.result.output, ref.output)
        # the objective is recomputed from the output by reductions; from an empty Numba
        # cache a worker's freshly compiled reduction and the parent's cached one differed in
        # the last bit of fun (pair 1: 3.5e-18 of 0.0217) while every output bit agreed
        assert r.result.fun == pytest.approx(ref.fun, rel=4 * np.finfo(float).eps, abs=0)


def test_solve_many_as_completed_and_one_failure():
    I, P = photo_pair(0)
    bad = (I, P[:-1])                                   # sizes differ
    big = photo_pair(1, size=400)                       # refused by the memory limit below
    limit = 2.5 * gradfusion._memory.estimate_solve_bytes((3, 48, 52), np.float64)
    it = gradfusion.solve_many([(I, P), bad, big, (I, P)], 0.7, as_completed=True,
                               workers=2, backend="threads", max_memory=limit)
    assert not isinstance(it, list)
    results = {r.index: r for r in it}
    assert sorted(results) == [0, 1, 2, 3]
    assert results[0].ok and results[3].ok
    assert results[1].outcome == "failed" and results[1].error.startswith("ValueError")
    assert results[2].error.startswith("MemoryLimitError")
    np.testing.assert_array_equal(results[0].result.output, results[3].result.output)


def test_solve_many_files(tmp_path):
    write_folder(tmp_path, 3, suffix="")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "prop" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    names = ["p00", "p01", "broken", "p02"]
    triples = [(tmp_path / "in" / f"{n}.png", str(tmp_path / "prop" / f"{n}.png"),
                tmp_path / "out" / f"{n}.png") for n in names]
    results = gradfusion.solve_many(triples, 0.7, workers=2)
    assert [r.outcome for r in results] == ["ok", "ok", "failed", "ok"]
    assert "ImageFileError" in results[2].error and results[2].input.endswith("broken.png")
    for name, r in zip(names, results):
        if r.ok:
            assert r.result.output is None and r.output.endswith(f"{name}.png")
            I, P = io.read_image(r.input), io.read_image(r.proposal)
            ref = reference(I, P, _threading.threads_per_solve(2))
            np.testing.assert_array_equal(io.read_image(r.output),
                                          np.round(ref.output * 255).astype(np.uint8))
    assert sorted(os.listdir(tmp_path / "out")) == ["p00.png", "p01.png", "p02.png"]
    again = gradfusion.solve_many(triples[:1], 0.7, workers=1)     # no overwrite by default
    assert "exists" in again[0].error


def test_pair_result_status_is_a_deprecated_alias_of_outcome():
    """``outcome`` is the pair's word; ``status`` (an int code in every result) still gives the
    word for one release, with a FutureWarning (its message: test_errors.py)."""
    from types import SimpleNamespace

    for pair, word in [(PairResult(0, result=SimpleNamespace(success=True)), "ok"),
                       (PairResult(1, result=SimpleNamespace(success=False)), "unconverged"),
                       (PairResult(2, error="ValueError: bad"), "failed")]:
        assert pair.outcome == word
        with pytest.warns(FutureWarning):
            assert pair.status == word


def test_solve_many_refuses_bad_arguments():
    """The exception types (each message is a row of test_errors.py)."""
    I, P = photo_pair(0)
    for kwargs, exc in [({"x0": I}, TypeError), ({"progress": True}, TypeError),
                        ({"tolerance": 1e-3}, TypeError), ({"backend": "gpu"}, ValueError),
                        ({"workers": 0}, ValueError)]:
        with pytest.raises(exc):
            gradfusion.solve_many([(I, P)], 0.7, **kwargs)
    with pytest.raises(TypeError):
        gradfusion.solve_many([(I,)], 0.7)


def test_window_keeps_concurrent_estimates_under_the_budget():
    tasks = [Task(k, None, (), {}, estimate=40) for k in range(4)]
    window = _Window(tasks, slots=3, budget=100)
    first, second = window.next_fitting(0), window.next_fitting(1)
    assert (first.index, second.index) == (0, 1)
    assert window.next_fitting(2) is None              # 120 > 100: waits, though a slot is free
    window.release(first)
    assert window.next_fitting(1).index == 2
    huge = _Window([Task(0, None, (), {}, estimate=1e18)], slots=2, budget=100)
    assert huge.next_fitting(0).index == 0             # alone it runs (solve refuses it itself)


def test_client_without_dask_is_dask_unavailable(monkeypatch):
    """An ImportError of its own (the message, naming the extra: test_errors.py)."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    I, P = photo_pair(0)
    with pytest.raises(gradfusion.DaskUnavailableError) as raised:
        gradfusion.solve_many([(I, P)], 0.7, client=object())
    assert isinstance(raised.value, ImportError)


# ---------------------------------------------------------------- fork safety

FORK_SCRIPT = textwrap.dedent("""
    import multiprocessing, sys
    import numpy as np
    import gradfusion
    from skimage import data, img_as_float

    def pair(k):
        I = img_as_float(data.astronaut())[::4, ::4][:, 10 * k:10 * k + 96]
        return I, 0.4 * I ** 2.2

    def work(k):
        return gradfusion.solve(*pair(k), 0.7).fun

    def work_many(k):
        return [r.error or r.outcome for r in gradfusion.solve_many([pair(k)], 0.7, workers=1)]

    if __name__ == "__main__":
        what = sys.argv[1]
        if what == "fork-pool-workqueue":
            print("chose", gradfusion.batch.choose_fork_safe_layer(), flush=True)
        # Numba's threads start here: an image above the serial size (gradfusion._jit's
        # SERIAL_CELLS) and GRADFUSION_PARALLEL_COMPILE=eager (run_fork_script), so that the
        # parallel twins run at once
        big = img_as_float(data.astronaut())[::2, ::2]
        print("parent", gradfusion.solve(big, 0.4 * big ** 2.2, 0.7).fun, flush=True)
        import numba
        print("layer", numba.threading_layer(), flush=True)
        if what == "fork-pool-workqueue":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                print("children", pool.map(work, [1, 2, 3]), flush=True)
        elif what == "fork-pool-default":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                try:
                    print("children", pool.map(work, [1, 2, 3]), flush=True)
                except RuntimeError as exc:
                    print("refused", exc, flush=True)
        elif what == "forkserver-pool":
            with multiprocessing.get_context("forkserver").Pool(2) as pool:
                print("children", pool.map(work, [1, 2, 3]), flush=True)
        elif what == "solve_many-in-fork-child":
            with multiprocessing.get_context("fork").Pool(1) as pool:
                print("children", pool.map(work_many, [1]), flush=True)
        elif what == "solve_many":
            pairs = [pair(1), pair(2)]
            print("children", [r.outcome for r in gradfusion.solve_many(pairs, 0.7, workers=2)])
        elif what == "dask":
            from distributed import Client, LocalCluster
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                print("children", client.gather(client.map(work, [1, 2, 3])), flush=True)
        print("done", flush=True)
""")


def run_fork_script(tmp_path, what):
    """Run a case in a fresh interpreter; a hang fails the test after 240 s instead of blocking."""
    script = tmp_path / "fork_check.py"
    script.write_text(FORK_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["GRADFUSION_PARALLEL_COMPILE"] = "eager"
    try:
        proc = subprocess.run([sys.executable, str(script), what], capture_output=True,
                              text=True, timeout=240, cwd=tmp_path, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} after a solve in the parent hung (killed after 240 s): "
                    f"{exc.stdout!r} {exc.stderr!r}")
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout and "Terminating" not in proc.stderr, proc.stderr
    return proc.stdout


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the GNU OpenMP fork hazard is Linux's")


@linux_only
def test_fork_pool_after_a_solve_with_the_fork_safe_layer(tmp_path):
    """A user's own fork pool after a solve in the parent (hangs for good under GNU OpenMP)."""
    out = run_fork_script(tmp_path, "fork-pool-workqueue")
    assert "chose workqueue" in out and "layer workqueue" in out and "children [" in out


@linux_only
def test_fork_pool_after_a_solve_with_the_default_layer_fails_instead_of_hanging(tmp_path):
    """A user's own fork pool after a solve under GNU OpenMP: every worker was killed at its
    first parallel kernel and the pool hung for good; solve now refuses with the advice."""
    out = run_fork_script(tmp_path, "fork-pool-default")
    if "layer omp" not in out:
        assert "children [" in out              # a fork-safe layer: the children solve
    else:
        assert "refused gradfusion.solve cannot run in a process forked" in out
        assert "forkserver" in out


def test_forkserver_pool_after_a_solve(tmp_path):
    out = run_fork_script(tmp_path, "forkserver-pool")
    assert "children [" in out


@linux_only
def test_solve_many_in_a_child_forked_after_openmp_fails_with_advice(tmp_path):
    out = run_fork_script(tmp_path, "solve_many-in-fork-child")
    if "layer omp" not in out:
        pytest.skip("Numba does not run on GNU OpenMP here")
    assert "RuntimeError" in out and "forkserver" in out


def test_solve_many_after_a_solve_in_the_parent(tmp_path):
    assert "children ['ok', 'ok']" in run_fork_script(tmp_path, "solve_many")


@needs_dask
def test_dask_local_cluster_after_a_solve_in_the_parent(tmp_path):
    assert "children [" in run_fork_script(tmp_path, "dask")


# ---------------------------------------------------------------- Dask

@pytest.fixture(scope="module")
def dask_client():
    if distributed is None:
        pytest.skip("needs dask.distributed (pip install 'gradfusion[dask]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@needs_dask
def test_solve_many_on_a_local_cluster(dask_client, tmp_path):
    pairs = [photo_pair(k) for k in range(3)]
    results = gradfusion.solve_many(pairs + [(pairs[0][0], pairs[0][1][1:])], 0.7,
                                    client=dask_client)
    assert [r.outcome for r in results] == ["ok", "ok", "ok", "failed"]
    assert {r.worker for r in results[:3]} <= set(dask_client.scheduler_info()["workers"])
    for (I, P), r in zip(pairs, results):
        np.testing.assert_array_equal(r.result.output, reference(I, P, 1).output)
    write_folder(tmp_path, 2, suffix="")
    triples = [(tmp_path / "in" / f"p{k:02d}.png", tmp_path / "prop" / f"p{k:02d}.png",
                tmp_path / "out" / f"p{k:02d}.png") for k in range(2)]
    done = list(gradfusion.solve_many(triples, 0.7, client=dask_client, as_completed=True))
    assert sorted(r.index for r in done) == [0, 1] and all(r.ok for r in done)
    assert sorted(os.listdir(tmp_path / "out")) == ["p00.png", "p01.png"]


# ---------------------------------------------------------------- gradfusion batch

def manifest_rows(folder):
    with open(folder / "manifest.json") as fh:
        return {row["output"]: row for row in json.load(fh)["pairs"]}


def _outputs(folder):
    """Output images in ``folder`` so far."""
    return len([f for f in os.listdir(folder) if f.startswith("p")]) if folder.is_dir() else 0


def _recorded(folder):
    """Pairs the manifest of ``folder`` records so far (0 before it exists; it is replaced
    atomically, so it is never read half-written)."""
    try:
        return len(manifest_rows(folder))
    except FileNotFoundError:
        return 0


def test_batch_pairs_by_name_and_resumes(tmp_path, capsys):
    write_folder(tmp_path, 3)
    io.write_image(tmp_path / "in" / "lonely.png", np.zeros((8, 8)))
    io.write_image(tmp_path / "prop" / "stray.tif", np.zeros((8, 8)))
    args = [str(tmp_path / "in"), str(tmp_path / "prop"), str(tmp_path / "out"), "--alpha", "0.7",
            "--pattern", "{stem}_night", "--workers", "1"]
    assert main(["batch", *args]) == 0
    captured = capsys.readouterr()
    assert "unpaired input (no proposal named lonely_night)" in captured.err
    assert "unpaired proposal" in captured.err and "stray.tif" in captured.err
    assert "solved 3 pairs" in captured.out
    rows = manifest_rows(tmp_path / "out")
    assert sorted(rows) == ["p00.png", "p01.png", "p02.png"]
    assert rows["p01.png"]["outcome"] == "ok" and rows["p01.png"]["iterations"] > 0
    header = (tmp_path / "out" / "manifest.csv").read_text().splitlines()[0]
    assert header.startswith("input,proposal,output,outcome,message,objective,bare_objective,"
                             "iterations,time,worker")
    ref = reference(io.read_image(tmp_path / "in" / "p01.png"),
                    io.read_image(tmp_path / "prop" / "p01_night.png"),
                    _threading.usable_cores())
    np.testing.assert_array_equal(io.read_image(tmp_path / "out" / "p01.png"),
                                  np.round(ref.output * 255).astype(np.uint8))

    assert main(["batch", *args]) == 0                              # nothing to do
    assert "3 of 3 pairs done before" in capsys.readouterr().err
    os.utime(tmp_path / "prop" / "p02_night.png", ns=(0, 10**9))     # changed: redone
    (tmp_path / "out" / "p00.png").unlink()                        # lost: redone
    before = rows["p01.png"]
    assert main(["batch", *args]) == 0
    assert "solved 2 pairs" in capsys.readouterr().out
    assert manifest_rows(tmp_path / "out")["p01.png"] == before
    assert main(["batch", *args, "--force"]) == 0
    assert "solved 3 pairs" in capsys.readouterr().out
    assert main(["batch", *args[:4], "0.6", *args[5:]]) == 2        # other settings
    assert "other settings (alpha)" in capsys.readouterr().err
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".")]


def _as_written_before_the_rename(folder):
    """Rewrite the manifest of ``folder`` as the version before the rename wrote it: the
    column ``outcome`` was ``status`` (same words), in the CSV and in the JSON rows."""
    with open(folder / "manifest.json") as fh:
        data = json.load(fh)
    data["pairs"] = [{("status" if k == "outcome" else k): v for k, v in row.items()}
                     for row in data["pairs"]]
    (folder / "manifest.json").write_text(json.dumps(data, indent=1) + "\n")
    csv = (folder / "manifest.csv").read_text()
    (folder / "manifest.csv").write_text(csv.replace(",outcome,", ",status,", 1))
    return data["pairs"]


def test_batch_resumes_a_manifest_written_with_a_status_column(tmp_path, capsys):
    write_folder(tmp_path, 3)
    args = ["batch", str(tmp_path / "in"), str(tmp_path / "prop"), str(tmp_path / "out"),
            "--alpha", "0.7", "--pattern", "{stem}_night", "--workers", "1", "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    old = _as_written_before_the_rename(out)
    assert [row["status"] for row in old] == ["ok", "ok", "ok"]
    assert main(args) == 0                              # read as outcome: nothing to redo
    assert "3 of 3 pairs done before" in capsys.readouterr().err
    assert "outcome" not in manifest_rows(out)["p00.png"]   # nothing saved: untouched

    old[1]["status"] = "failed"                         # an old row that says failed is redone
    data = json.loads((out / "manifest.json").read_text())
    data["pairs"] = old
    (out / "manifest.json").write_text(json.dumps(data))
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "2 of 3 pairs done before" in captured.err and "solved 1 pairs" in captured.out
    rows = manifest_rows(out)                           # saved again: every row renamed
    assert [(row["outcome"], "status" in row) for row in rows.values()] == [("ok", False)] * 3
    assert rows["p00.png"]["iterations"] == old[0]["iterations"]
    header = (out / "manifest.csv").read_text().splitlines()[0]
    assert header.startswith("input,proposal,output,outcome,message,")


def test_batch_user_errors(tmp_path, capsys):
    """Exit status 2 and one error line each, the last (the messages: test_errors.py,
    cli-batch-*; notes on unpaired files may come before it)."""
    write_folder(tmp_path, 1)
    base = [str(tmp_path / "in"), str(tmp_path / "prop")]

    def one_line():
        lines = capsys.readouterr().err.splitlines()
        return [line for line in lines if line.startswith("gradfusion: error: ")] == lines[-1:]

    assert main(["batch", *base, str(tmp_path / "out"), "--alpha", "0.7"]) == 2
    assert one_line()                                   # no pairs: no --pattern {stem}_night
    assert main(["batch", *base, str(tmp_path / "in"), "--alpha", "0.7"]) == 2
    assert one_line()                                   # OUT_DIR is INPUT_DIR
    os.makedirs(tmp_path / "taken")
    io.write_image(tmp_path / "taken" / "p00.png", np.zeros((4, 4)))
    assert main(["batch", *base, str(tmp_path / "taken"), "--alpha", "0.7",
                 "--pattern", "{stem}_night"]) == 2
    assert one_line()                                   # an output exists, no manifest
    assert main(["batch", *base, str(tmp_path / "o"), "--alpha", "0.7", "--pattern", "night"]) == 2
    assert one_line()
    assert main(["batch", *base, str(tmp_path / "o"), "--alpha", "0.7", "--workers", "0"]) == 2
    assert one_line()


def test_batch_reports_a_failing_pair_and_goes_on(tmp_path, capsys):
    write_folder(tmp_path, 2)
    (tmp_path / "in" / "p01.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert main(["batch", str(tmp_path / "in"), str(tmp_path / "prop"), str(tmp_path / "out"),
                 "--alpha", "0.7", "--pattern", "{stem}_night", "--workers", "2"]) == 1
    assert "failed: " in capsys.readouterr().err
    rows = manifest_rows(tmp_path / "out")
    assert rows["p00.png"]["outcome"] == "ok" and rows["p01.png"]["outcome"] == "failed"
    assert "ImageFileError" in rows["p01.png"]["message"]
    assert sorted(os.listdir(tmp_path / "out")) == ["manifest.csv", "manifest.json", "p00.png"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_batch_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path, sig):
    n = 24                     # enough that a fast machine is still busy when the signal comes
    write_folder(tmp_path, n, size=128)
    args = ["batch", str(tmp_path / "in"), str(tmp_path / "prop"), "--alpha", "0.7",
            "--pattern", "{stem}_night", "--workers", "2"]
    out = tmp_path / "out"
    # the child takes SIGINT as a terminal's Ctrl-C even when the tests run in a background job,
    # which starts its processes with SIGINT ignored (Python then installs no handler and the
    # batch ran to the end, exit 0)
    proc = subprocess.Popen([sys.executable, "-m", "gradfusion", *args[:3], str(out), *args[3:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        # a pair's output is written before its manifest row, and the manifest is rewritten at
        # most once a second after its first save (a wait for two rows lands near the end of a
        # fast run, where the signal can meet the interpreter's shutdown): two outputs and a
        # first row
        if _outputs(out) >= 2 and _recorded(out) >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be interrupted: " + proc.stderr.read()
    proc.send_signal(sig)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("did not stop within 30 s of the signal")
    stopped_in = time.monotonic() - t0
    assert proc.returncode == 130, err
    assert stopped_in < 10, stopped_in
    assert "run the same command again to resume" in err
    files = os.listdir(out)
    assert not [f for f in files if f.startswith(".")], files      # no temporary left
    rows = manifest_rows(out)
    outputs = sorted(f for f in files if f.startswith("p"))
    assert 1 <= len(rows) < n
    assert set(rows) <= set(outputs)                  # every recorded pair has its output
    for name in outputs:
        io.read_image(out / name)                     # and every output is whole

    resumed = run_cli(*args[:3], str(out), *args[3:])
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(rows)} of {n} pairs done before" in resumed.stderr
    fresh = run_cli(*args[:3], str(tmp_path / "ref"), *args[3:])
    assert fresh.returncode == 0, fresh.stderr
    for k in range(n):
        name = f"p{k:02d}.png"
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


@needs_dask
def test_batch_on_a_local_cluster_equals_single_solves(tmp_path):
    write_folder(tmp_path, 3)
    r = run_cli("batch", str(tmp_path / "in"), str(tmp_path / "prop"), str(tmp_path / "out"),
                "--alpha", "0.7", "--pattern", "{stem}_night", "--scheduler", "local:2")
    assert r.returncode == 0, r.stderr
    rows = manifest_rows(tmp_path / "out")
    assert {row["worker"].split("://")[0] for row in rows.values()} == {"tcp"}
    for k in range(3):
        I = io.read_image(tmp_path / "in" / f"p{k:02d}.png")
        P = io.read_image(tmp_path / "prop" / f"p{k:02d}_night.png")
        ref = reference(I, P, _threading.threads_per_solve(2))
        np.testing.assert_array_equal(io.read_image(tmp_path / "out" / f"p{k:02d}.png"),
                                      np.round(ref.output * 255).astype(np.uint8))
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".")]


def test_batch_scheduler_errors(tmp_path, capsys, monkeypatch):
    """Refused with exit status 2 and one line before OUT_DIR is made (it was left behind empty
    without dask); the messages: test_errors.py."""
    write_folder(tmp_path, 1)
    base = ["batch", str(tmp_path / "in"), str(tmp_path / "prop"), str(tmp_path / "out"),
            "--alpha", "0.7", "--pattern", "{stem}_night"]
    assert main([*base, "--scheduler", "local:2", "--workers", "2"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    if distributed is not None:                     # the form is checked once dask imports
        for scheduler in ["local:0", "127.0.0.1:8786"]:
            assert main([*base, "--scheduler", scheduler]) == 2
            assert capsys.readouterr().err.count("\n") == 1
            assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "distributed", None)     # import distributed fails
    assert main([*base, "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_batch_output_format_suffix_and_bits(tmp_path, capsys):
    write_folder(tmp_path, 1)
    assert main(["batch", str(tmp_path / "in"), str(tmp_path / "prop"), str(tmp_path / "out"),
                 "--alpha", "0.7", "--pattern", "{stem}_night", "--workers", "1",
                 "--format", "tif", "--suffix", "_display", "--bits", "16",
                 "--level-weight", "perceptual", "--no-progress"]) == 0
    out = io.read_image(tmp_path / "out" / "p00_display.tif")
    assert out.dtype == np.uint16 and out.shape == (48, 48, 3)
    rows = manifest_rows(tmp_path / "out")
    assert list(rows) == ["p00_display.tif"]
    with open(tmp_path / "out" / "manifest.json") as fh:
        assert json.load(fh)["settings"]["level_weight"] == "perceptual"


def test_local_runs_do_not_import_dask():
    code = ("import sys, numpy as np, gradfusion\n"
            "I = np.random.default_rng(0).random((16, 16))\n"
            "assert gradfusion.solve_many([(I, I / 2)], 0.7, workers=1)[0].ok\n"
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
