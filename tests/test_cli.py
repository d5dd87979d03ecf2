"""The command line: `gradfusion solve`, `demo`, `evaluate` and `tradeoff` options, exit codes, no
file left behind or overwritten (reading and writing files: test_files.py; each bad input's
message: test_errors.py)."""

import os

import numpy as np
import pytest

from gradfusion import io
from gradfusion.cli import main
from helpers import make_pair


@pytest.fixture
def pair(tmp_path):
    I, P = make_pair((24, 20, 3), kind="dim")
    io.write_image(tmp_path / "in.png", I)
    io.write_image(tmp_path / "prop.png", P)
    return tmp_path


def test_solve_writes_output_and_residual(pair, capsys):
    rc = main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
               "-o", str(pair / "out.png"), "--residual", str(pair / "r.tif")])
    assert rc == 0
    out = io.read_image(pair / "out.png")
    assert out.shape == (24, 20, 3) and out.dtype == np.uint8
    R = io.read_image(pair / "r.tif")
    assert R.max() <= np.ceil(0.3 * 255)     # 1 - alpha, quantised
    assert "objective" in capsys.readouterr().out
    assert not [f for f in os.listdir(pair) if f.startswith(".gradfusion-")]


def test_solve_16bit_and_warm_start(pair):
    main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
          "-o", str(pair / "o16.png"), "--residual", str(pair / "r16.png"), "--bits", "16"])
    assert io.read_image(pair / "o16.png").dtype == np.uint16
    rc = main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
               "-o", str(pair / "o2.png"), "--x0", str(pair / "r16.png")])
    assert rc == 0


@pytest.mark.parametrize("solver, x0, ran", [("auto", False, "mprgp"),      # a small image
                                             ("auto", True, "mprgp"),
                                             ("mprgp", False, "mprgp"),
                                             ("active-set", True, "active-set")])
def test_solve_solver_option(pair, capsys, solver, x0, ran):
    main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
          "-o", str(pair / "r0.png"), "--overwrite"])
    capsys.readouterr()
    args = ["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
            "-o", str(pair / "o3.png"), "--overwrite", "--solver", solver]
    if x0:
        args += ["--x0", str(pair / "r0.png")]
    assert main(args) == 0
    assert f"({ran})" in capsys.readouterr().out


def test_existing_output_needs_overwrite(pair, capsys):
    target = pair / "out.png"
    target.write_bytes(b"previous")
    args = ["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
            "-o", str(target)]
    assert main(args) == 2
    assert target.read_bytes() == b"previous"
    assert main(args + ["--overwrite"]) == 0
    assert io.read_image(target).shape == (24, 20, 3)


@pytest.fixture
def small_demo(monkeypatch):
    """The demo on a 64x64 astronaut: the command itself uses the full photograph."""
    import skimage

    import gradfusion.demo as demo
    monkeypatch.setattr(demo, "load_sample", lambda name: np.asarray(
        skimage.img_as_float(skimage.data.astronaut()[::8, ::8])))
    return demo


def test_demo_runs(tmp_path, capsys, small_demo):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gradfusion (paper)" in out and "PSNR" in out and "GMSD" in out
    panel = io.read_image(tmp_path / "panel.png")
    assert panel.shape == (64 + 16 * 4, 5 * 64, 3)      # crop of side 64 // 4 zoomed 4x below
    assert set(os.listdir(tmp_path)) == set(small_demo.FILES)


def test_demo_files_are_its_pictures(tmp_path, small_demo):
    """Each written file holds the picture it came from (the panel was once all 0 and 255)."""
    small_demo.run_demo(tmp_path, verbose=False)
    images, ev = small_demo.demo_images()
    for name, array in images.items():
        written = io.read_image(tmp_path / name)
        expected = array if array.dtype == np.uint8 else np.round(array * 255).astype(np.uint8)
        np.testing.assert_array_equal(written, expected, err_msg=name)
    panel = io.read_image(tmp_path / "panel.png")
    tiles = [panel[:64, 64 * k:64 * (k + 1)] for k in range(5)]
    for tile in tiles:                               # photographs, not two-colour images
        assert len(np.unique(tile)) > 100 and 20 < tile.mean() < 235
    # the clip, the paper objective and the default solve are three different pictures
    for a in range(2, 5):
        for b in range(a + 1, 5):
            assert np.abs(tiles[a].astype(int) - tiles[b]).mean() > 1.0
    rows = {r["method"]: r for r in ev.rows}
    assert rows["heuristic"]["psnr"] >= rows["gradfusion"]["psnr"] \
        >= rows["gradfusion (paper)"]["psnr"]


def test_demo_refuses_to_replace_files(tmp_path, capsys, small_demo):
    (tmp_path / "table.csv").write_text("mine")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1        # message: test_errors.py
    assert os.listdir(tmp_path) == ["table.csv"] and (tmp_path / "table.csv").read_text() == "mine"
    assert main(["demo", "--out", str(tmp_path), "--overwrite"]) == 0
    assert (tmp_path / "table.csv").read_text().startswith("method,")


@pytest.mark.parametrize("weight, row", [("paper", "gradfusion (paper)"),
                                         ("0.3", "gradfusion (lam=0.3)")])
def test_evaluate_level_weight_row(pair, capsys, weight, row):
    out = pair / "ev"
    assert main(["evaluate", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "--methods", "heuristic,gradfusion", "--lpips", "off", "--level-weight", weight,
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert row in table
    name = "gradfusion-paper.png" if weight == "paper" else "gradfusion-lam0.3.png"
    assert set(os.listdir(out)) == {"table.csv", "table.json", "figure.png", "heuristic.png",
                                    "gradfusion.png", name}
    assert io.read_image(out / "figure.png").shape[1] == 5 * 20


def test_solve_level_weight(pair, capsys):
    from gradfusion import solve
    args = ["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7"]
    assert main(args + ["-o", str(pair / "a.png"), "--level-weight", "0.1"]) == 0
    assert "level error" in capsys.readouterr().out
    I, P = io.read_image(pair / "in.png"), io.read_image(pair / "prop.png")
    expected = solve(I, P, 0.7, level_weight=0.1).output
    np.testing.assert_array_equal(io.read_image(pair / "a.png"),
                                  np.round(expected * 255).astype(np.uint8))


def test_tradeoff_command(pair, capsys):
    pytest.importorskip("matplotlib", reason="curve.png needs the 'plot' extra (matplotlib)")
    out = pair / "sweep"
    assert main(["tradeoff", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "--level-weights", "0.1,1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "paper objective" in text and "clip" in text
    assert set(os.listdir(out)) == {"table.csv", "table.json", "curve.png", "paper.png",
                                    "lam0.1.png", "lam1.png", "clip.png"}
    curve = io.read_image(out / "curve.png")
    assert curve.shape == (420, 1100, 3)
    blue = np.abs(curve.astype(int) - [31, 119, 180]).max(axis=-1) <= 40      # the curves (C0)
    assert blue[:, :550].mean() > 0.001 and blue[:, 550:].mean() > 0.001     # in both panels
    from gradfusion.baselines import heuristic
    I, P = io.read_image(pair / "in.png"), io.read_image(pair / "prop.png")
    np.testing.assert_array_equal(io.read_image(out / "clip.png"),
                                  np.round(heuristic(I, P, 0.7).output * 255).astype(np.uint8))
    # a rerun refuses to replace the files
    assert main(["tradeoff", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "--out", str(out)]) == 2


def test_tradeoff_without_matplotlib(pair, capsys, without_matplotlib):
    out = pair / "sweep"
    assert main(["tradeoff", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "--level-weights", "1", "--out", str(out)]) == 0
    assert "no curve.png: drawing it needs matplotlib" in capsys.readouterr().out
    assert "curve.png" not in os.listdir(out) and "lam1.png" in os.listdir(out)


def test_solve_creates_missing_folders(pair):
    out = pair / "new" / "deeper" / "out.png"
    assert main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "-o", str(out), "--residual", str(pair / "r" / "r.png")]) == 0
    assert io.read_image(out).shape == (24, 20, 3)
    assert io.read_image(pair / "r" / "r.png").shape == (24, 20, 3)


@pytest.mark.parametrize("argv", [
    ["--tol", "-1"],
    ["--reg-weight", "-1"],
    ["--maxiter", "-3"],
    ["--max-memory", "lots"],
])
def test_errors_name_the_option_typed(pair, capsys, argv):
    """A bad option value is reported under the option's name as typed, on one line (the
    full messages of the table's cases, --tol and --reg-weight among them: test_errors.py)."""
    rc = main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
               "-o", str(pair / "out.png"), *argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gradfusion: error: {argv[0]} ") and err.count("\n") == 1
    assert not (pair / "out.png").exists()


def test_solve_options_reach_solve(pair, monkeypatch):
    import gradfusion
    seen = {}
    real = gradfusion.solve

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(gradfusion, "solve", spy)
    assert main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "-o", str(pair / "out.png"), "--maxiter", "500", "--max-memory", "2GB",
                 "--reg-weight", "0.2", "--level-weight", "1.5"]) in (0, 1)
    assert seen["maxiter"] == 500 and seen["max_memory"] == "2GB"
    assert seen["reg_weight"] == 0.2 and seen["level_weight"] == 1.5


def test_interrupt_prints_one_line_and_leaves_no_file(pair, capsys, monkeypatch):
    import gradfusion

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gradfusion, "solve", interrupted)
    before = set(os.listdir(pair))
    assert main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "-o", str(pair / "out.png")]) == 130
    assert capsys.readouterr().err == "gradfusion: interrupted\n"
    assert set(os.listdir(pair)) == before


@pytest.mark.parametrize("exc", [ValueError, TypeError])
def test_an_error_inside_a_dependency_is_a_bug_not_a_user_error(pair, monkeypatch, exc):
    """A ValueError/TypeError raised by NumPy (or any dependency) while gradfusion works is a
    library bug: the command lets it through with its traceback instead of exit 2."""
    import gradfusion

    def broken(*args, **kwargs):            # a library bug surfacing as NumPy's error
        if exc is ValueError:
            return np.broadcast_to(np.zeros(3), (4,))
        return np.zeros(3) + "text"

    monkeypatch.setattr(gradfusion, "solve", broken)
    with pytest.raises(exc):
        main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
              "-o", str(pair / "out.png")])


def test_the_librarys_own_argument_errors_stay_user_errors(pair, capsys):
    assert main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
                 "-o", str(pair / "out.png"), "--tol", "-1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1        # message: test_errors.py


def test_help_and_version(capsys):
    import gradfusion
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"gradfusion {gradfusion.__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "tradeoff" in text
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 0.4)" in text and "zero padding" in text and "--maxiter" in text


@pytest.mark.parametrize("command", [["evaluate", "--lpips", "off"], ["tradeoff"]])
def test_failed_run_leaves_no_output_folder(pair, capsys, command):
    """A missing input is reported before the --out folder exists (it was left behind empty)."""
    out = pair / "never"
    argv = [command[0], str(pair / "missing.png"), str(pair / "prop.png"), "--alpha", "0.7",
            *command[1:], "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1        # message: test_errors.py
    assert not out.exists()


def test_solve_defaults_are_the_librarys(pair):
    """No options: the library's default call (reflected borders, the perceptual level weight);
    --boundary zero --level-weight paper: the paper's objective."""
    from gradfusion import solve
    args = ["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7"]
    I, P = io.read_image(pair / "in.png"), io.read_image(pair / "prop.png")
    assert main(args + ["-o", str(pair / "d.png")]) == 0
    np.testing.assert_array_equal(io.read_image(pair / "d.png"),
                                  np.round(solve(I, P, 0.7).output * 255).astype(np.uint8))
    assert main(args + ["-o", str(pair / "p.png"), "--boundary", "zero",
                        "--level-weight", "paper"]) == 0
    paper = solve(I, P, 0.7, boundary="zero", level_weight=0.0).output
    np.testing.assert_array_equal(io.read_image(pair / "p.png"),
                                  np.round(paper * 255).astype(np.uint8))


def test_evaluate_boundary_sets_the_gradient_error_column(pair, capsys):
    from gradfusion import evaluate
    base = ["evaluate", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
            "--methods", "heuristic", "--lpips", "off"]
    I, P = io.read_image(pair / "in.png"), io.read_image(pair / "prop.png")
    for boundary in ("reflect", "zero"):
        assert main(base + ["--boundary", boundary]) == 0
        expected = evaluate(I, P, 0.7, methods=["heuristic"], lpips=False, boundary=boundary)
        assert f"{expected.rows[0]['gradient_error']:.3e}" in capsys.readouterr().out


def test_alpha_map_file(pair, capsys):
    """``--alpha FILE``: a grayscale image is one transmission per pixel, an RGB one per pixel
    and channel; 8/16-bit values are scaled to [0, 1]. solve's output is the API's with that
    map; evaluate, tradeoff and batch take it too (batch records the file in its settings)."""
    from gradfusion import solve
    from gradfusion.batch import solve_many  # noqa: F401  (the API the batch command runs)

    y, x = np.mgrid[0:24, 0:20]
    gray = (80 + 5 * x + 2 * y).astype(np.uint8)                       # 80..213 of 255
    io.write_image(pair / "amap.png", gray)
    rgb = np.stack([gray, gray + 10, gray + 20], axis=-1).astype(np.uint16) * 257
    io.write_image(pair / "amap16.png", rgb)
    I = io.read_image(pair / "in.png")
    P = io.read_image(pair / "prop.png")
    for name, alpha in (("amap.png", gray / 255.0), ("amap16.png", rgb / 65535.0)):
        rc = main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha",
                   str(pair / name), "-o", str(pair / f"o_{name}"), "--residual",
                   str(pair / f"r_{name}.tif"), "--bits", "16"])
        assert rc == 0
        expected = solve(I, P, alpha)
        out = io.read_image(pair / f"o_{name}").astype(np.float64) / 65535
        assert np.abs(out - expected.output).max() <= 0.5 / 65535 + 1e-12
    capsys.readouterr()
    assert main(["evaluate", str(pair / "in.png"), str(pair / "prop.png"), "--alpha",
                 str(pair / "amap.png"), "--lpips", "off"]) == 0
    table = capsys.readouterr().out
    assert "alpha map (24, 20)" in table and "gradfusion" in table
    assert "stay_positive" not in table                      # takes no map: left out
    assert main(["tradeoff", str(pair / "in.png"), str(pair / "prop.png"), "--alpha",
                 str(pair / "amap.png"), "--out", str(pair / "tr"),
                 "--level-weights", "0.3"]) == 0
    assert (pair / "tr" / "lam0.3.png").exists()
    (pair / "A").mkdir()
    (pair / "B").mkdir()
    io.write_image(pair / "A" / "x.png", I)
    io.write_image(pair / "B" / "x.png", P)
    assert main(["batch", str(pair / "A"), str(pair / "B"), str(pair / "OUT"), "--alpha",
                 str(pair / "amap.png"), "--workers", "1"]) == 0
    import json
    with open(pair / "OUT" / "manifest.json", encoding="utf-8") as fh:
        assert json.load(fh)["settings"]["alpha"] == str(pair / "amap.png")
    batch_out = io.read_image(pair / "OUT" / "x.png").astype(np.float64)
    assert np.abs(batch_out - 255 * solve(I, P, gray / 255.0).output).max() <= 0.5 + 1e-9


def test_alpha_file_missing(pair, capsys):
    with pytest.raises(SystemExit):
        main(["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha",
              str(pair / "nope.png"), "-o", str(pair / "o.png")])
    assert "an image file (an alpha map)" in capsys.readouterr().err


@pytest.mark.parametrize("seconds, note", [(0.0, ""), (0.04, ""),
                                            (2.34, " (2.3 s of it compiling kernels: first run only)")])
def test_solve_summary_says_how_long_a_first_run_compiled(seconds, note):
    from gradfusion.cli import _compile_note

    assert _compile_note(seconds) == note
