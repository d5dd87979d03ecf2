"""gradfusion.tradeoff: the sweep's rows, its two ends, monotone trade-off, files and the plot's pixels."""

import csv
import io
import json
import math

import numpy as np
import pytest

import gradfusion
from gradfusion import baselines, metrics
from gradfusion.sweep import TRADEOFF_COLUMNS

from conftest import PAPER
from helpers import make_pair


@pytest.fixture(scope="module")
def sweep():
    I, P = make_pair((40, 36, 3), 0, kind="dark")
    return I, P, gradfusion.tradeoff(I, P, 0.7, level_weights=[0.03, 0.3, 3.0], tol=1e-9)


def test_rows_run_from_the_paper_objective_to_the_clip(sweep):
    _, _, t = sweep
    assert [r["setting"] for r in t.rows] == ["paper objective", "lam=0.03", "lam=0.3", "lam=3",
                                              "clip"]
    assert t.column("level_weight").tolist() == [0.0, 0.03, 0.3, 3.0, math.inf]
    assert len(t.outputs) == len(t.rows)
    assert set(t.rows[0]) == {k for k, _, _ in TRADEOFF_COLUMNS}


def test_ends_are_the_paper_solve_and_the_clip(sweep):
    """The first row is the paper's objective as published (zero-padded) whatever the sweep's
    boundary; its bare objective column is the gradient error with the sweep's boundary."""
    I, P, t = sweep
    paper = gradfusion.solve(I, P, 0.7, tol=1e-9, **PAPER)
    # both optima to a relative objective gap of 1e-9: outputs agree to ~1e-5
    np.testing.assert_allclose(t.outputs[0], paper.output, atol=1e-4)
    assert t.rows[0]["bare_objective"] == pytest.approx(gradfusion.gradient_error(P, paper.output),
                                                        rel=1e-4)
    np.testing.assert_array_equal(t.outputs[-1], baselines.heuristic(I, P, 0.7).output)
    assert t.rows[-1]["nit"] == 0


def test_each_row_is_the_solve_at_its_weight(sweep):
    I, P, t = sweep
    res = gradfusion.solve(I, P, 0.7, level_weight=0.3, tol=1e-9)
    np.testing.assert_allclose(t.outputs[2], res.output, atol=1e-4)
    assert t.rows[2]["bare_objective"] == pytest.approx(res.bare_objective, rel=1e-4)
    assert t.rows[2]["level_error"] == pytest.approx(res.level_error, rel=1e-4)


@pytest.mark.parametrize("boundary", ["reflect", "zero"])
def test_trade_off_is_monotone(boundary):
    """Level error falls and the gradient terms rise along the sweep (Notes of tradeoff): along
    one family of objectives, so with zero padding from the paper's row on, with reflected
    borders from the first positive weight."""
    I, P = make_pair((40, 36, 3), 0, kind="dark")
    t = gradfusion.tradeoff(I, P, 0.7, level_weights=[0.03, 0.3, 3.0], tol=1e-9,
                            boundary=boundary)
    first = 0 if boundary == "zero" else 1
    level = t.column("level_error")[first:]
    gradient_terms = (t.column("bare_objective") + gradfusion.DEFAULT_REG_WEIGHT * t.column(
        "regularization"))[first:]
    assert np.all(np.diff(level) <= 1e-9 * level[0])
    assert np.all(np.diff(gradient_terms) >= -1e-9 * gradient_terms[0])


def test_no_feasible_row_beats_the_clip_psnr(sweep):
    """The clip projects P onto the box: the smallest ||O - P|| of any feasible output."""
    _, _, t = sweep
    psnr = t.column("psnr")
    assert np.all(psnr[:-1] <= psnr[-1] + 1e-9)


def test_metrics_are_the_metrics_module(sweep):
    _, P, t = sweep
    for row, O in zip(t.rows, t.outputs):
        assert row["psnr"] == metrics.psnr(P, O)
        assert row["ssim"] == metrics.ssim(P, O)
        assert row["gmsd"] == metrics.gmsd(P, O)
        assert row["stripe_share"] == metrics.stripe_share(O)


@pytest.mark.parametrize("weights, expected", [
    (None, [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]),
    ([1.0, 0.1, 1.0], [0.0, 0.1, 1.0]),
    ((0.0,), [0.0]),
    (np.array([2.0]), [0.0, 2.0]),
])
def test_weights_sorted_deduplicated_with_zero(weights, expected):
    I, P = make_pair((24, 20), 1, kind="dark")
    t = gradfusion.tradeoff(I, P, 0.6, level_weights=weights)
    assert t.column("level_weight").tolist() == expected + [math.inf]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_keep_layout_and_dtype(dtype):
    I, P = make_pair((3, 28, 24), 2, dtype, kind="dark")
    t = gradfusion.tradeoff(I, P, 0.7, level_weights=[1.0], channel_axis=0)
    for O in t.outputs:
        assert O.shape == I.shape and O.dtype == dtype


def test_patch_metrics_and_settings():
    I, P = make_pair((64, 48, 3), 3, kind="dark")
    t = gradfusion.tradeoff(I, P, 0.5, level_weights=[0.3], patch_size=16, partial="shift",
                            boundary="reflect")
    O = t.outputs[1]
    assert t.rows[1]["ssim"] == metrics.ssim(P, O, patch_size=16, partial="shift")
    assert t.settings["patch_size"] == 16 and t.settings["alpha"] == 0.5
    assert t.settings["boundary"] == "reflect" and t.settings["solve_options"] == {}
    assert "16x16 patches (shift)" in t.format_table()


def test_csv_round_trip(sweep):
    _, _, t = sweep
    rows = list(csv.DictReader(io.StringIO(t.to_csv())))
    assert [r["setting"] for r in rows] == [r["setting"] for r in t.rows]
    assert float(rows[-1]["level_weight"]) == math.inf
    np.testing.assert_array_equal([float(r["ssim"]) for r in rows], t.column("ssim"))


def test_json_round_trip(sweep):
    _, _, t = sweep
    data = json.loads(t.to_json())
    assert data["rows"][-1]["level_weight"] is None          # the clip's inf
    assert [r["psnr"] for r in data["rows"]] == t.column("psnr").tolist()
    assert data["settings"]["alpha"] == 0.7


def test_table_lists_every_row(sweep):
    _, _, t = sweep
    lines = t.format_table().splitlines()
    assert len(lines) == 2 + len(t.rows)
    assert lines[1].split()[:3] == ["setting", "lam", "PSNR"]
    assert lines[-1].startswith("clip")
    assert repr(t).startswith("<Tradeoff of 5 settings>")


# -- the plot, by its pixels ------------------------------------------------------------

def _rendered(t, metric):
    mpl = pytest.importorskip("matplotlib", reason="the plot needs the 'plot' extra (matplotlib)")
    mpl.use("Agg", force=True)
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    out = t.plot(metric, ax=ax)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    labels = (ax.get_xlabel(), ax.get_ylabel(), [a.get_text() for a in ax.texts])
    plt.close(fig)
    assert out is ax
    return rgb, labels


def _share_near(rgb, hex_colour, tol=40):
    colour = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return np.mean(np.abs(rgb - colour).max(axis=-1) <= tol)


@pytest.mark.parametrize("metric", ["ssim", "gmsd"])
def test_plot_draws_the_curve_and_the_clip(sweep, metric):
    _, _, t = sweep
    rgb, (xlabel, ylabel, texts) = _rendered(t, metric)
    assert _share_near(rgb, "#1f77b4") > 0.002       # the solve's curve and points (C0)
    assert _share_near(rgb, "#d62728") > 0.0002      # the clip's square (C3)
    assert 0.5 < np.mean(rgb.min(axis=-1) > 240) < 0.98     # mostly white, not blank
    assert xlabel.startswith("PSNR") and ylabel.startswith(metric.upper())
    assert texts == ["paper", "0.03", "0.3", "3", "clip"]


def test_plot_says_what_is_missing(sweep, without_matplotlib):
    with pytest.raises(ImportError):                # message: test_errors.py
        sweep[2].plot()
