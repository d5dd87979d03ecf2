"""One result vocabulary: every function that makes a display image reports the same fields, meaning
the same thing, checked against an independent evaluation; renamed names warn (docs/results.md; the
warnings' messages are rows of test_errors.py)."""

import os
import pickle
import re
import warnings

import numpy as np
import pytest

import gradfusion
from gradfusion import SolveResult, SynthesisResult, baselines, metrics, poisson
from gradfusion.baselines import BaselineResult, StayPositiveResult
from gradfusion.video import FrameResult

import reference as ref
from helpers import make_pair

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALPHA = 0.7

#: the fields of :class:`SynthesisResult`, in every result that makes a display image
BASE_FIELDS = ("output", "residual", "x", "fun", "bare_objective", "regularization",
               "level_error", "success", "status", "message", "time")

#: objective options: solve's defaults, the paper's objective, and others with every term on
OPTIONS = {
    "default": {},
    "paper": dict(boundary="zero", level_weight="paper"),
    "other": dict(boundary="reflect", regularizer="gradient", reg_weight=0.25, level_weight=1.5),
    "maps": dict(boundary="zero", level_weight="level-map", gradient_weight="gradient-map"),
}

#: every function that makes a display image, as ``call(I, P, **options) -> result``
FUNCTIONS = {
    "solve": lambda I, P, **o: gradfusion.solve(I, P, ALPHA, tol=1e-9, **o),
    "heuristic": lambda I, P, **o: baselines.heuristic(I, P, ALPHA, **o),
    "stay_positive": lambda I, P, **o: baselines.stay_positive(I, P, ALPHA, grid=12, **o),
    "stay_positive_pixels": lambda I, P, **o: baselines.stay_positive_pixels(I, P, ALPHA, **o),
    "solve_sequence": lambda I, P, **o: list(gradfusion.solve_sequence(
        [I, I], [P, P], ALPHA, tol=1e-9, **o))[-1],
}

CLASSES = {"solve": SolveResult, "heuristic": BaselineResult,
           "stay_positive": StayPositiveResult, "stay_positive_pixels": StayPositiveResult,
           "solve_sequence": FrameResult}


def _maps(options, shape, seed=1):
    """``options`` with the named weight maps replaced by seeded arrays."""
    rng = np.random.default_rng(seed)
    out = dict(options)
    if out.get("level_weight") == "level-map":
        out["level_weight"] = rng.uniform(0.0, 2.0, shape[:2])
    if out.get("gradient_weight") == "gradient-map":
        out["gradient_weight"] = rng.uniform(0.2, 3.0, shape)
    return out


def _terms(I, P, R, alpha, *, boundary="reflect", regularizer="nyquist", reg_weight=0.4,
           level_weight="perceptual", gradient_weight=None):
    """The objective's terms of ``R``, from the formulas (scipy.ndimage, float64), channels last."""
    mode = {"zero": ref.ZERO, "reflect": ref.REFLECT}[boundary]
    lam = {"paper": 0.0, "perceptual": 0.3}.get(level_weight, level_weight) \
        if isinstance(level_weight, str) else level_weight
    d = np.moveaxis(alpha * I + R - P, -1, 0)               # (C, H, W)
    m = 2 * d.size
    gx, gy = ref.sobel_forward(d, mode)
    bare = float(np.sum(gx ** 2 + gy ** 2)) / m
    G = 1.0 if gradient_weight is None else np.moveaxis(
        np.broadcast_to(gradient_weight, I.shape), -1, 0)
    sobel = float(np.sum(G * (gx ** 2 + gy ** 2))) / m
    reg = 0.0
    if regularizer is not None and reg_weight > 0:
        taps = {"nyquist": (1.0, -2.0, 1.0), "gradient": (-1.0, 1.0)}[regularizer]
        dx, dy = ref.difference_forward(d, taps)
        reg = float(np.sum(dx ** 2) + np.sum(dy ** 2)) / m
    lam_field = np.asarray(lam, dtype=np.float64)
    if lam_field.ndim == 2:
        lam_field = lam_field[None]
    level_error = float(np.mean(d ** 2))
    fun = sobel + reg_weight * reg + float(np.mean(lam_field * d ** 2))
    return dict(fun=fun, bare_objective=bare, regularization=reg, level_error=level_error)


@pytest.fixture(scope="module")
def results():
    """Every function under every option set, on one pair (computed once)."""
    I, P = make_pair((14, 12, 3), kind="brighter")
    out = {}
    for fname, call in FUNCTIONS.items():
        for oname, options in OPTIONS.items():
            options = _maps(options, I.shape)
            with warnings.catch_warnings():
                warnings.simplefilter("error", FutureWarning)     # nothing deprecated is used
                out[fname, oname] = call(I, P, **options), options
    return I, P, out


CASES = [(f, o) for f in FUNCTIONS for o in OPTIONS]


@pytest.mark.parametrize("function, options", CASES)
def test_every_result_has_the_base_fields_with_one_meaning(results, function, options):
    I, P, out = results
    r, opts = out[function, options]
    assert isinstance(r, SynthesisResult) and type(r) is CLASSES[function]
    for key in BASE_FIELDS:
        assert key in r, key
    # output is what the viewer sees, residual what the display shows, inside the bounds
    np.testing.assert_allclose(r.output, ALPHA * I + r.residual, rtol=0, atol=1e-15)
    assert r.residual.min() >= 0.0 and r.residual.max() <= 1.0 - ALPHA
    assert r.output.shape == I.shape and r.output.dtype == I.dtype
    np.testing.assert_array_equal(r.x, r.residual)
    # the objective's terms, evaluated independently at the output
    expected = _terms(I, P, r.residual, ALPHA, **opts)
    for key, value in expected.items():
        assert r[key] == pytest.approx(value, rel=1e-10, abs=1e-16), key
    # the bare objective is the metric of the same name, reference first
    assert r.bare_objective == pytest.approx(
        gradfusion.gradient_error(P, r.output, boundary=opts.get("boundary", "reflect")),
        rel=1e-12)
    assert isinstance(r.success, (bool, np.bool_)) and r.success
    assert isinstance(r.status, int) and r.status == 0
    assert isinstance(r.message, str) and r.message
    assert isinstance(r.time, float) and r.time >= 0.0


@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("function", ["heuristic", "stay_positive", "stay_positive_pixels"])
def test_a_baseline_fun_compares_with_solve(results, function, options):
    """fun is solve's objective at the baseline's output: never below solve's optimum of the same
    options, and what solve reports for that residual."""
    I, P, out = results
    r, opts = out[function, options]
    best = out["solve", options][0]
    assert best.fun <= r["fun"] * (1 + 1e-9)
    at = gradfusion.solve(I, P, ALPHA, x0=r.residual, maxiter=0, **opts)
    np.testing.assert_array_equal(at.residual, r.residual)
    for key in ("fun", "bare_objective", "regularization", "level_error"):
        assert r[key] == pytest.approx(at[key], rel=1e-12), key


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heuristic_regularization_is_its_real_value(seed):
    """Not 0.0: the clip's second differences of O - P are those of the formula."""
    I, P = make_pair((24, 20, 3), seed=seed, kind="brighter")
    h = baselines.heuristic(I, P, ALPHA)
    R = np.clip(P - ALPHA * I, 0.0, 1.0 - ALPHA)
    np.testing.assert_array_equal(h.residual, R)
    expected = _terms(I, P, R, ALPHA)
    assert h.regularization > 0.0
    assert h.regularization == pytest.approx(expected["regularization"], rel=1e-12)
    assert h.level_error == pytest.approx(expected["level_error"], rel=1e-12)
    assert h["fun"] == pytest.approx(expected["fun"], rel=1e-12)
    assert h["fun"] > h.bare_objective          # fun is the full objective, not the bare term


@pytest.mark.parametrize("function", ["stay_positive", "stay_positive_pixels"])
def test_stay_positive_loss_is_loss_and_fun_is_the_objective(results, function):
    I, P, out = results
    r = out[function, "default"][0]
    R = r.params[0] * P + r.params[1] if function == "stay_positive" else r.residual
    assert r.loss == pytest.approx(baselines.stay_positive_loss(I, P, R, ALPHA), rel=1e-9)
    assert r.loss == pytest.approx(r.fidelity + baselines.STAY_POSITIVE_PENALTY * r.violation,
                                   rel=1e-12)
    assert r["fun"] != pytest.approx(r.loss)


def test_result_fields_in_the_docs_table(results):
    """docs/results.md's table 'Which function returns which field' lists exactly each result's
    fields."""
    with open(os.path.join(ROOT, "docs", "results.md"), encoding="utf-8") as fh:
        page = fh.read()
    table = page.split("## Which function returns which field", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.search(r"~gradfusion\.(?:\w+\.)?(\w+)`", cells[0]).group(1)
        common = BASE_FIELDS if cells[2] == "all" else re.findall(r"`(\w+)`", cells[2])
        own = re.findall(r"`(\w+)`", cells[3])
        rows[name] = set(common) | set(own)
    I, P, out = results
    solve_keys = set(out["solve", "default"][0])
    rows["solve_sequence"] = (rows["solve_sequence"] - {"solve"}) | solve_keys
    for function in FUNCTIONS:
        assert set(out[function, "default"][0]) == rows[function], function
    S, T = make_pair((10, 10, 3), seed=3, kind="brighter")
    mask = np.zeros((10, 10), bool)
    mask[3:7, 3:7] = True
    assert set(poisson.blend(S, T, mask)) == rows["blend"]


def test_the_docs_example_runs():
    """The example of docs/results.md, as printed."""
    with open(os.path.join(ROOT, "docs", "results.md"), encoding="utf-8") as fh:
        page = fh.read()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        exec(compile(code, "docs/results.md", "exec"), {})


# --------------------------------------------------------------------------- deprecations


def _warns(call):
    """``call()``, which must issue a ``FutureWarning`` (its message: a row of test_errors.py)."""
    with pytest.warns(FutureWarning):
        return call()


def test_stay_positive_fun_warns_and_returns_the_objective(results):
    r = results[2]["stay_positive", "default"][0]
    assert _warns(lambda: r.fun) == r["fun"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r["fun"], r.loss, r.output                                # item access does not warn


def test_renamed_and_retired_baseline_fields_warn(results):
    I, P, out = results
    pixels = out["stay_positive_pixels", "default"][0]
    assert _warns(lambda: pixels.gap) == pixels.loss_gap
    h = out["heuristic", "default"][0]
    assert np.isnan(_warns(lambda: h.gap))
    assert np.isnan(_warns(lambda: h.optimality))
    assert _warns(lambda: h.nmatvec) == 0
    with pytest.raises(AttributeError):
        h.no_such_field


def test_deprecated_fields_survive_pickling(results):
    r = results[2]["stay_positive_pixels", "default"][0]
    back = pickle.loads(pickle.dumps(r))
    assert type(back) is StayPositiveResult and back["loss_gap"] == r["loss_gap"]
    assert _warns(lambda: back.gap) == r["loss_gap"]


def test_blend_residual_names_do_not_collide_and_old_names_warn():
    S, T = make_pair((12, 12, 3), seed=4, kind="brighter")
    mask = np.zeros((12, 12), bool)
    mask[2:9, 3:10] = True
    r = poisson.blend(S, T, mask, (1, 1))
    assert "residual" not in r and "method" not in r and "levels" not in r
    for key in ("output", "success", "status", "message", "time"):
        assert key in r
    assert r.success and r.system_residual <= 1e-6
    assert r.system_residual == r.system_residuals.max()
    assert _warns(lambda: r.residual_norm) == r.system_residual
    np.testing.assert_array_equal(_warns(lambda: r.residual_norms), r.system_residuals)
    assert _warns(lambda: r.levels) == r.n_levels


@pytest.mark.parametrize("boundary", ["zero", "reflect"])
def test_gradient_error_takes_the_reference_first_and_old_calls_keep_their_value(boundary):
    I, P = make_pair((14, 12, 3), seed=5, kind="brighter")
    O = baselines.heuristic(I, P, ALPHA).output
    new = gradfusion.gradient_error(P, O, boundary=boundary)
    assert new == gradfusion.gradient_error(reference=P, image=O, boundary=boundary)
    # the former order, positionally: the same value (the error is symmetric)
    assert gradfusion.gradient_error(O, P, boundary=boundary) == new
    # the former keywords, alone or after a positional output: the same value, a warning
    for call in (lambda: gradfusion.gradient_error(output=O, proposal=P, boundary=boundary),
                 lambda: gradfusion.gradient_error(O, proposal=P, boundary=boundary),
                 lambda: metrics.gradient_error(proposal=P, output=O, boundary=boundary)):
        assert _warns(call) == new


def test_flicker_positional_order_warns_and_keeps_its_meaning():
    rng = np.random.default_rng(6)
    P = [0.5 + 0.05 * rng.standard_normal((6, 7, 3)) for _ in range(4)]
    O = [0.3 * p + 0.1 for p in P]
    new = metrics.flicker(proposals=P, outputs=O)
    assert new == pytest.approx(0.3)
    assert _warns(lambda: metrics.flicker(O, P)) == new
    assert _warns(lambda: metrics.flicker(O, proposals=P)) == new
    with pytest.raises(TypeError):
        metrics.flicker(O, outputs=O, proposals=P)


def test_imports_without_docstrings():
    """The baselines' and metrics' shared parameter docs are filled in only when docstrings exist
    (``python -OO`` strips them)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-OO", "-c", "import gradfusion"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
