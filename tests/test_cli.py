"""The command line and file I/O: exit codes, atomic writes, no overwriting."""

import os

import numpy as np
import pytest

from gradfusion import io
from gradfusion.cli import main


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    I = rng.random((24, 20, 3))
    P = np.clip(0.5 * I + 0.2 * rng.random(I.shape), 0, 1)
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


@pytest.mark.parametrize("args, message", [
    (["missing.png", "prop.png", "--alpha", "0.7", "-o", "o.png"], "missing.png: no such file"),
    (["in.png", "prop.png", "--alpha", "1.5", "-o", "o.png"], "alpha must lie in the open interval"),
    (["in.png", "small.png", "--alpha", "0.7", "-o", "o.png"], "differs from"),
    (["in.png", "prop.png", "--alpha", "0.7", "-o", "in.png"], "refusing to overwrite an input file"),
    (["in.png", "prop.png", "--alpha", "0.7", "-o", "o.jpg"], "output must end in one of"),
    (["in.png", "corrupt.png", "--alpha", "0.7", "-o", "o.png"], "cannot read image"),
])
def test_user_errors_exit_2_with_one_line(pair, capsys, args, message):
    io.write_image(pair / "small.png", np.zeros((5, 5, 3)))
    (pair / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cwd = os.getcwd()
    os.chdir(pair)
    try:
        rc = main(["solve", *args])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1
    assert not (pair / "o.png").exists() and not (pair / "o.jpg").exists()


def test_existing_output_needs_overwrite(pair, capsys):
    target = pair / "out.png"
    target.write_bytes(b"previous")
    args = ["solve", str(pair / "in.png"), str(pair / "prop.png"), "--alpha", "0.7",
            "-o", str(target)]
    assert main(args) == 2
    assert target.read_bytes() == b"previous"
    assert main(args + ["--overwrite"]) == 0
    assert io.read_image(target).shape == (24, 20, 3)


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    target.write_bytes(b"previous")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.iio, "imwrite", boom)
    with pytest.raises(io.ImageFileError, match="No space left"):
        io.write_image(target, np.zeros((4, 4)), overwrite=True)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["x.png"]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 3)])
def test_round_trip(tmp_path, suffix, bits, shape):
    a = np.random.default_rng(1).random(shape)
    path = tmp_path / f"a{suffix}"
    io.write_image(path, a, bits=bits)
    b = io.read_image(path)
    assert b.dtype == (np.uint8 if bits == 8 else np.uint16) and b.shape == shape
    np.testing.assert_allclose(b / ((1 << bits) - 1), a, atol=0.5 / ((1 << bits) - 1) + 1e-12)


def test_rgba_alpha_policy(tmp_path):
    import imageio.v3 as iio
    rgba = np.full((4, 4, 4), 255, np.uint8)
    iio.imwrite(tmp_path / "opaque.png", rgba)
    assert io.read_image(tmp_path / "opaque.png").shape == (4, 4, 3)
    rgba[0, 0, 3] = 10
    iio.imwrite(tmp_path / "translucent.png", rgba)
    with pytest.raises(io.ImageFileError, match="translucent alpha"):
        io.read_image(tmp_path / "translucent.png")


def test_demo_runs(tmp_path, capsys, monkeypatch):
    import gradfusion.demo as demo
    # a small crop keeps the test quick; the command itself uses the full photograph
    monkeypatch.setattr(demo, "load_sample", lambda name: np.asarray(
        __import__("skimage").img_as_float(__import__("skimage").data.astronaut()[::8, ::8])))
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gradfusion" in out and "PSNR" in out and "GMSD" in out
    panel = io.read_image(tmp_path / "panel.png")
    assert panel.shape == (64 + 16 * 4, 4 * 64, 3)      # crop of side 64 // 4 zoomed 4x below
    assert {"table.csv", "residual.png", "gradfusion.png"} <= set(os.listdir(tmp_path))
