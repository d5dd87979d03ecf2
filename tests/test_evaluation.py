"""Tests of the evaluation harness (gradfusion.evaluate) and ``gradfusion evaluate``."""

import csv
import io
import json
import os
import sys

import numpy as np
import pytest

import gradfusion
from gradfusion import _lpips, metrics
from gradfusion.cli import main
from gradfusion.evaluation import COLUMNS, METHODS, comparison_figure, evaluate
from gradfusion.io import read_image, write_image

from helpers import make_pair


@pytest.fixture(scope="module")
def evaluation():
    I, P = make_pair((24, 28, 3), kind="night")
    return I, P, evaluate(I, P, 0.7, patch_size=8, lpips=False,
                          options={"gradfusion": {"tol": 1e-7}})


def test_rows_are_the_metrics_of_each_method(evaluation):
    I, P, ev = evaluation
    assert [r["method"] for r in ev.rows] == list(METHODS)
    for row in ev.rows:
        O = ev.outputs[row["method"]]
        assert O.shape == I.shape
        assert set(row) == {k for k, _, _ in COLUMNS} | {"compile_time"}
        assert row["psnr"] == metrics.psnr(P, O, patch_size=8)
        assert row["ssim"] == metrics.ssim(P, O, patch_size=8)
        assert row["gmsd"] == metrics.gmsd(P, O, patch_size=8)
        assert row["lpips"] is None
        assert row["gradient_error"] == gradfusion.gradient_error(P, O)
        assert row["stripe_share"] == metrics.stripe_share(O)
        assert row["stripe_ratio"] == pytest.approx(row["stripe_share"] / metrics.stripe_share(P))
        assert row["time"] > 0


def test_first_run_compilation_is_left_out_of_the_times(monkeypatch):
    """A method's time excludes the kernel compilation it was the first to need (a fake
    compile counter: the first method "compiles" for 100 s), and a note says how much."""
    from gradfusion import evaluation as E

    counter = iter([0.0, 0.0, 100.0, 100.0, 100.0, 100.0])
    monkeypatch.setattr(E._jit, "compile_seconds", lambda: next(counter))
    I, P = make_pair((20, 24, 3), 3)
    ev = evaluate(I, P, 0.7, methods=["heuristic", "gradfusion"], lpips=False)
    first, second = ev.rows
    assert first["compile_time"] == 100.0 and first["time"] == 0.0
    assert second["compile_time"] == 0.0 and second["time"] > 0.0
    assert ev.settings["compile_time"] == 100.0
    assert "(first run: 100.0 s of kernel compilation are not in the times" in ev.format_table()
    counter = iter([0.0] * 6)
    assert "first run" not in evaluate(I, P, 0.7, methods=["heuristic", "gradfusion"],
                                       lpips=False).format_table()


def test_outputs_are_each_methods_output(evaluation):
    I, P, ev = evaluation
    np.testing.assert_array_equal(ev.outputs["heuristic"],
                                  gradfusion.baselines.heuristic(I, P, 0.7).output)
    np.testing.assert_array_equal(ev.outputs["gradfusion"], gradfusion.solve(I, P, 0.7, tol=1e-7).output)


def test_gradfusion_has_the_smallest_gradient_error(evaluation):
    _, _, ev = evaluation
    errors = {r["method"]: r["gradient_error"] for r in ev.rows}
    assert errors["gradfusion"] == min(errors.values())


@pytest.mark.parametrize("boundary", ["reflect", "zero"])
def test_boundary_is_the_solves_and_the_gradient_errors(boundary):
    """The gradfusion rows are solved with ``boundary`` and every row's gradient error uses it;
    the "paper" row is the paper's objective as published (zero-padded) either way."""
    I, P = make_pair((24, 28, 3), seed=3, kind="night")
    ev = evaluate(I, P, 0.7, methods=["heuristic", "gradfusion"], lpips=False,
                  boundary=boundary, level_weight="paper", options={"gradfusion": {"tol": 1e-7}})
    assert ev.settings["boundary"] == boundary
    np.testing.assert_array_equal(ev.outputs["gradfusion"],
                                  gradfusion.solve(I, P, 0.7, boundary=boundary, tol=1e-7).output)
    np.testing.assert_array_equal(ev.outputs["gradfusion (paper)"], gradfusion.solve(
        I, P, 0.7, boundary="zero", level_weight=0.0, tol=1e-7).output)
    for row in ev.rows:
        assert row["gradient_error"] == gradfusion.gradient_error(P, ev.outputs[row["method"]],
                                                                  boundary=boundary)


def test_table_csv_json(evaluation):
    _, _, ev = evaluation
    text = ev.format_table()
    assert "8x8 patches (drop)" in text and "LPIPS: off" in text
    assert all(m in text for m in METHODS)
    rows = list(csv.DictReader(io.StringIO(ev.to_csv())))
    assert [r["method"] for r in rows] == list(METHODS)
    assert float(rows[-1]["ssim"]) == pytest.approx(ev.rows[-1]["ssim"], rel=1e-15)
    assert rows[0]["lpips"] == ""
    data = json.loads(ev.to_json())
    assert data["settings"]["patch_size"] == 8 and data["settings"]["alpha"] == 0.7
    assert data["rows"][1]["method"] == "stay_positive"
    assert data["proposal_stripe_share"] == ev.proposal_stripe_share


def test_infinite_psnr_is_null_in_json():
    I = np.full((16, 16), 0.5)
    P = 0.7 * I + 0.1                                    # exactly reachable
    ev = evaluate(I, P, 0.7, methods=["heuristic"], lpips=False)
    assert ev.rows[0]["psnr"] == np.inf
    assert json.loads(ev.to_json())["rows"][0]["psnr"] is None


def test_lpips_auto_notes_why_missing(monkeypatch):
    """Packages and weights file present, but the model cannot be built: a note, not an error."""
    def unavailable(net):
        raise metrics.LPIPSUnavailableError("LPIPS needs torch; details")
    monkeypatch.setattr(_lpips, "unavailable", lambda net: None)
    monkeypatch.setattr(_lpips, "model", unavailable)
    I, P = make_pair((16, 16), kind="night")
    ev = evaluate(I, P, 0.7, methods=["heuristic"])
    assert ev.rows[0]["lpips"] is None
    assert ev.settings["lpips"] == "unavailable (LPIPS needs torch)"
    with pytest.raises(metrics.LPIPSUnavailableError):
        evaluate(I, P, 0.7, methods=["heuristic"], lpips=True)


def test_lpips_column_with_a_stand_in(monkeypatch):
    torch = pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    monkeypatch.setattr(_lpips, "model",
                        lambda net: (lambda x, y: ((x - y) ** 2).mean(dim=(1, 2, 3))))
    I, P = make_pair((16, 16, 3), kind="night")
    ev = evaluate(I, P, 0.7, methods=["heuristic"], lpips=True)
    O = ev.outputs["heuristic"]
    assert ev.rows[0]["lpips"] == pytest.approx(4 * np.mean((O - P) ** 2), rel=1e-5)
    assert torch is not None


class _Distance:
    """A stand-in LPIPS network: mean squared difference per pair."""

    def eval(self):
        return self

    def __call__(self, x, y):
        return ((x - y) ** 2).mean(dim=(1, 2, 3))


def _fake_lpips(monkeypatch, tmp_path, built):
    """torch's hub folder in tmp_path (empty), and an ``lpips`` package whose ``LPIPS`` does
    what the real one does without the weights file offline: torchvision's deprecation
    warnings, a download line on stderr, then a failed download (recorded in ``built``)."""
    import types
    import urllib.error
    import warnings

    torch = pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    tv = {"__name__": "torchvision.models._utils", "warnings": warnings}
    exec("def alexnet(pretrained):\n"
         "    warnings.warn(\"The parameter 'pretrained' is deprecated\", UserWarning)\n", tv)
    fake = types.ModuleType("lpips")

    def LPIPS(net, verbose=True):
        built.append(net)
        tv["alexnet"](pretrained=True)
        if not (hub / "checkpoints" / metrics.LPIPS_BACKBONES[net][0]).exists():
            print(f"Downloading: {metrics.LPIPS_BACKBONES[net][1]}", file=sys.stderr)
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return _Distance()

    fake.LPIPS = LPIPS
    monkeypatch.setitem(sys.modules, "lpips", fake)
    _lpips.model.cache_clear()
    return hub / "checkpoints"


def test_lpips_auto_without_weights_skips_silently(monkeypatch, tmp_path, capsys):
    """torch and lpips installed, no weights, no network: "auto" checks for the file first and
    skips LPIPS without a download attempt, a line of output or a warning; one note says why."""
    import warnings

    built = []
    folder = _fake_lpips(monkeypatch, tmp_path, built)
    I, P = make_pair((16, 16, 3), kind="night")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ev = evaluate(I, P, 0.7, methods=["heuristic", "gradfusion"], lpips="auto")
    finally:
        _lpips.model.cache_clear()
    assert built == [] and [str(w.message) for w in caught] == []
    assert capsys.readouterr() == ("", "")
    note = f"skipped (no backbone weights alexnet-owt-7be5be79.pth in {folder}: see " \
           "gradfusion.metrics.lpips)"
    assert ev.settings["lpips"] == note
    assert all(row["lpips"] is None for row in ev.rows)
    table = ev.format_table()
    assert table.count(note) == 1 and table.splitlines()[0].count("LPIPS:") == 1
    # lpips=True still tries (it may download on a machine with network) and says what is missing
    with pytest.raises(metrics.LPIPSUnavailableError):  # message: test_errors.py
        evaluate(I, P, 0.7, methods=["heuristic"], lpips=True)
    _lpips.model.cache_clear()
    assert built == ["alex"]


def test_lpips_auto_with_weights_computes_it_quietly(monkeypatch, tmp_path, capsys):
    """The weights file in place: "auto" builds the model (once) and fills the column; the
    backbone's deprecation warnings about lpips' own call are not passed on."""
    import warnings

    built = []
    folder = _fake_lpips(monkeypatch, tmp_path, built)
    folder.mkdir(parents=True)
    (folder / "vgg16-397923af.pth").write_bytes(b"weights")
    I, P = make_pair((16, 16, 3), kind="night")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ev = evaluate(I, P, 0.7, methods=["heuristic"], lpips="auto", lpips_net="vgg")
            skipped = evaluate(I, P, 0.7, methods=["heuristic"], lpips_net="squeeze")
    finally:
        _lpips.model.cache_clear()
    assert built == ["vgg"] and [str(w.message) for w in caught] == []
    assert capsys.readouterr() == ("", "")
    assert ev.settings["lpips"] == "net='vgg'"
    O = ev.outputs["heuristic"]
    assert ev.rows[0]["lpips"] == pytest.approx(4 * np.mean((O - P) ** 2), rel=1e-5)
    assert skipped.settings["lpips"].startswith("skipped (no backbone weights squeezenet1_1-")


def test_lpips_auto_does_not_import_torch_without_weights(tmp_path):
    """In a fresh process with torch installed and lpips importable, but no weights file:
    "auto" imports neither (torch alone takes over a second) and prints nothing."""
    import subprocess

    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    (tmp_path / "lpips").mkdir()
    (tmp_path / "lpips" / "__init__.py").write_text("raise RuntimeError('lpips was imported')\n")
    code = ("import sys, numpy as np, gradfusion\n"
            "I = np.random.default_rng(0).random((16, 16, 3))\n"
            "ev = gradfusion.evaluate(I, 0.5 * I, 0.7, methods=['heuristic'])\n"
            "print(ev.settings['lpips']); print('torch' in sys.modules, 'lpips' in sys.modules)\n")
    env = dict(os.environ, TORCH_HOME=str(tmp_path / "torch"),
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.path.dirname(os.path.dirname(
                   os.path.abspath(gradfusion.__file__)))]))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    folder = os.path.join(str(tmp_path / "torch"), "hub", "checkpoints")
    assert run.stdout.splitlines() == [
        f"skipped (no backbone weights alexnet-owt-7be5be79.pth in {folder}: see "
        "gradfusion.metrics.lpips)", "False False"]
    assert run.stderr == ""


@pytest.mark.parametrize("env", [{"TORCH_HOME": "/x/th"}, {"XDG_CACHE_HOME": "/x/cache"}, {}])
def test_torch_hub_dir_without_importing_torch_is_torchs(monkeypatch, env):
    torch = pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    for name in ("TORCH_HOME", "XDG_CACHE_HOME", "TORCH_HUB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with monkeypatch.context() as m:
        m.delitem(sys.modules, "torch")
        ours = _lpips.hub_dir()
    assert ours == torch.hub.get_dir()


def test_lpips_auto_notes_missing_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)
    I, P = make_pair((16, 16), kind="night")
    ev = evaluate(I, P, 0.7, methods=["heuristic"])
    assert ev.settings["lpips"].startswith("skipped (") and "lpips not installed" in \
        ev.settings["lpips"]


@pytest.mark.parametrize("kwargs,exc", [
    # the messages are rows of test_errors.py, only the type is checked here
    (dict(methods=["heuristic", "adam"]), ValueError),
    (dict(methods=[]), ValueError),
    (dict(options={"gradfusion": {}}, methods=["heuristic"]), ValueError),
    (dict(lpips="yes"), ValueError),
    (dict(lpips_net="resnet"), ValueError),
    (dict(patch_size=100), ValueError),
    (dict(normalize="local"), ValueError),
    (dict(patch_size=5), ValueError),
    (dict(alpha=1.2), ValueError),
])
def test_bad_arguments_fail_before_work(kwargs, exc, monkeypatch):
    called = []
    monkeypatch.setitem(METHODS, "heuristic", lambda *a, **k: called.append(1))
    I, P = make_pair((24, 28, 3), kind="night")
    alpha = kwargs.pop("alpha", 0.7)
    with pytest.raises(exc):
        evaluate(I, P, alpha, **kwargs)
    assert called == []


def test_too_small_for_ssim_fails_before_work(monkeypatch):
    called = []
    monkeypatch.setitem(METHODS, "heuristic", lambda *a, **k: called.append(1))
    I, P = make_pair((5, 6, 3), kind="night")
    with pytest.raises(ValueError):                 # message: test_errors.py
        evaluate(I, P, 0.7, methods=["heuristic"], lpips=False)
    assert called == []


# ---------------------------------------------------------------- figure

def test_figure_layout():
    I, P = make_pair((40, 60, 3), kind="night")
    fig = comparison_figure({"input": I, "proposal": P, "out": P[..., 0]}, crop=(5, 7),
                            crop_size=10, zoom=3, labels=False)
    assert fig.dtype == np.uint8 and fig.shape == (40 + 30, 180, 3)
    # the zoomed crop of the proposal, nearest neighbour
    want = np.round(P[5:15, 7:17] * 255).astype(np.uint8).repeat(3, 0).repeat(3, 1)
    np.testing.assert_array_equal(fig[40:, 60:90], want)
    # grayscale panels are shown gray; the crop is framed in red
    assert np.all(fig[20, 130] == fig[20, 130, 0])
    np.testing.assert_array_equal(fig[5, 7 + 60], (255, 0, 0))


def test_figure_default_crop_finds_the_lost_structure():
    I = np.zeros((64, 64)); P = np.zeros((64, 64))
    P[40:50, 8:18] = np.indices((10, 10)).sum(0) % 2             # texture only in P
    fig_crop = gradfusion.evaluation._crop_window(P[..., None], I[..., None], 16)
    assert 24 < fig_crop[0] + 8 < 66 and 0 <= fig_crop[1] + 8 < 26


@pytest.mark.parametrize("panels,kwargs", [    # the messages are rows of test_errors.py
    ({}, {}),
    ({"a": np.zeros((8, 8)), "b": np.zeros((8, 9))}, {}),
    ({"a": np.zeros((8, 8))}, dict(crop_size=9)),
    ({"a": np.zeros((8, 8))}, dict(crop=(5, 0), crop_size=4)),
    ({"a": np.zeros((8, 8, 4))}, {}),
])
def test_figure_bad_arguments(panels, kwargs):
    with pytest.raises(ValueError):
        comparison_figure(panels, **kwargs)


# ---------------------------------------------------------------- CLI

@pytest.fixture
def pair_files(tmp_path):
    I, P = make_pair((24, 28, 3), seed=4, kind="night")
    write_image(tmp_path / "in.png", I)
    write_image(tmp_path / "prop.png", P)
    return tmp_path


def test_cli_evaluate_writes_table_and_figure(pair_files, capsys):
    out = pair_files / "eval"
    rc = main(["evaluate", str(pair_files / "in.png"), str(pair_files / "prop.png"),
               "--alpha", "0.7", "--patch", "8", "--methods", "heuristic,gradfusion",
               "--lpips", "off", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "heuristic" in text and "gradfusion" in text and "8x8 patches" in text
    assert sorted(os.listdir(out)) == ["figure.png", "gradfusion.png", "heuristic.png",
                                       "table.csv", "table.json"]
    rows = list(csv.DictReader(open(out / "table.csv")))
    assert [r["method"] for r in rows] == ["heuristic", "gradfusion"]
    assert json.load(open(out / "table.json"))["settings"]["patch_size"] == 8
    # 4 panels of 28 px; crop side 24 // 4 = 6 zoomed 28 // 6 = 4 times
    assert read_image(out / "figure.png").shape == (24 + 6 * 4, 4 * 28, 3)
    # existing files need --overwrite
    rc = main(["evaluate", str(pair_files / "in.png"), str(pair_files / "prop.png"),
               "--alpha", "0.7", "--methods", "heuristic", "--lpips", "off", "--out", str(out)])
    assert rc == 2
    assert capsys.readouterr().err.count("\n") == 1       # message: test_errors.py


@pytest.mark.parametrize("extra", [["--methods", "adam"], ["--patch", "50"]])
def test_cli_evaluate_user_errors(pair_files, capsys, extra):
    """One line and exit status 2 (the messages: test_errors.py)."""
    rc = main(["evaluate", str(pair_files / "in.png"), str(pair_files / "prop.png"),
               "--alpha", "0.7", "--lpips", "off"] + extra)
    assert rc == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_evaluate_lpips_on_without_lpips(pair_files, capsys, monkeypatch):
    def unavailable(net):
        raise metrics.LPIPSUnavailableError("LPIPS net='alex' needs the ImageNet backbone weights")
    monkeypatch.setattr(_lpips, "model", unavailable)
    rc = main(["evaluate", str(pair_files / "in.png"), str(pair_files / "prop.png"),
               "--alpha", "0.7", "--methods", "heuristic", "--lpips", "on"])
    assert rc == 2
    assert "backbone weights" in capsys.readouterr().err
