"""Files: bad input files, the alpha channel, atomic writes, overwrite rules, bit depths and
round trips, EXIF orientation, ICC.

What the CLI and ``gradfusion.io`` promise (docs/errors.md, "Files"): a bad file
is one line on stderr and exit status 2 with nothing written; outputs appear
whole or not at all, an existing file is replaced only with ``--overwrite``, a
failure mid-write keeps the previous file and leaves no temporary behind.
"""

import errno
import os
import stat

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from gradfusion import io
from gradfusion.cli import main


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A working folder holding an RGB pair in.png / prop.png (24x20)."""
    rng = np.random.default_rng(0)
    I = rng.random((24, 20, 3))
    io.write_image(tmp_path / "in.png", I)
    io.write_image(tmp_path / "prop.png", np.clip(0.5 * I + 0.2 * rng.random(I.shape), 0, 1))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _solve(capsys, *args, inputs=("in.png", "prop.png")):
    """Run ``gradfusion solve``; return (exit status, stderr lines)."""
    rc = main(["solve", *inputs, "--alpha", "0.7", "--no-progress", *args])
    return rc, capsys.readouterr().err.splitlines()


def _encoded(kind, bits, shape=(30, 26, 3)):
    """The bytes of a valid image file of ``kind`` ('png', 'tif', 'tif-zlib')."""
    import imageio.v3 as iio
    import tifffile

    rng = np.random.default_rng(1)
    data = (rng.random(shape) * ((1 << bits) - 1)).astype(np.uint8 if bits == 8 else np.uint16)
    if kind == "tif-zlib":
        import io as _io
        buf = _io.BytesIO()
        tifffile.imwrite(buf, data, compression="zlib")
        return buf.getvalue()
    if kind == "png" and bits == 16:
        import io as _io
        buf = _io.BytesIO()
        io._write_png16(buf, data)
        return buf.getvalue()
    return iio.imwrite("<bytes>", data, extension="." + kind)


# --------------------------------------------------------------------------- bad input files

#: kind -> (content, file name); the messages are rows of test_errors.py (io-read-*, cli-*)
BAD_FILES = {
    "missing": (None, "bad.png"),
    "folder": ("folder", "bad.png"),
    "empty": (b"", "bad.png"),
    "garbage": (b"not an image at all" * 10, "bad.png"),
    "png-signature-only": (b"\x89PNG\r\n\x1a\n", "bad.png"),
    "corrupt-png": (b"\x89PNG\r\n\x1a\n not really", "bad.png"),
    "tiff-header-only": (b"II*\x00\x08\x00\x00\x00", "bad.tif"),
}
TRUNCATED = [(kind, bits, frac) for kind, bits in
             [("png", 8), ("png", 16), ("tif", 8), ("tif", 16), ("tif-zlib", 8)]
             for frac in (0.5, 0.9)]


def _make_bad(kind):
    content, name = BAD_FILES[kind]
    if content == "folder":
        os.mkdir(name)
    elif content is not None:
        with open(name, "wb") as fh:
            fh.write(content)
    return name


@pytest.mark.parametrize("position", ["input", "proposal", "x0"])
@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_one_line_exit_2_and_writes_nothing(folder, capsys, kind, position):
    name = _make_bad(kind)
    inputs = {"input": (name, "prop.png"), "proposal": ("in.png", name)}.get(
        position, ("in.png", "prop.png"))
    extra = ["--x0", name] if position == "x0" else []
    before = sorted(os.listdir(folder))
    rc, err = _solve(capsys, "-o", "out.png", "--residual", "r.png", *extra, inputs=inputs)
    assert rc == 2
    assert len(err) == 1, err
    assert sorted(os.listdir(folder)) == before          # no output, no temporary file


@pytest.mark.parametrize("kind, bits, frac", TRUNCATED)
def test_truncated_file_is_refused(folder, capsys, kind, bits, frac):
    data = _encoded(kind, bits)
    io_name = "cut.png" if kind == "png" else "cut.tif"
    with open(io_name, "wb") as fh:
        fh.write(data[:int(len(data) * frac)])
    with pytest.raises(io.ImageFileError):
        io.read_image(io_name)
    before = sorted(os.listdir(folder))
    rc, err = _solve(capsys, "-o", "out.png", inputs=(io_name, "prop.png"))
    assert rc == 2 and len(err) == 1
    assert sorted(os.listdir(folder)) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="running as root: chmod 000 does not deny reads")
def test_unreadable_file(folder, capsys):
    os.chmod("in.png", 0)
    try:
        rc, err = _solve(capsys, "-o", "out.png")
    finally:
        os.chmod("in.png", 0o644)
    assert rc == 2 and len(err) == 1
    assert not os.path.exists("out.png")


def test_float_tiff_outside_0_1_is_refused(folder, capsys):
    import tifffile
    tifffile.imwrite("hdr.tif", np.full((24, 20, 3), 2.0, np.float32), photometric="rgb")
    rc, err = _solve(capsys, "-o", "out.png", inputs=("hdr.tif", "prop.png"))
    assert rc == 2 and len(err) == 1                      # message: test_errors.py


def test_rgba_alpha_policy(tmp_path):
    import imageio.v3 as iio
    rgba = np.full((4, 4, 4), 255, np.uint8)
    iio.imwrite(tmp_path / "opaque.png", rgba)
    assert io.read_image(tmp_path / "opaque.png").shape == (4, 4, 3)
    rgba[0, 0, 3] = 10
    iio.imwrite(tmp_path / "translucent.png", rgba)
    with pytest.raises(io.ImageFileError):
        io.read_image(tmp_path / "translucent.png")


# --------------------------------------------------------------------------- overwrite rules


@pytest.mark.parametrize("args", [
    ["-o", "in.png"],
    ["-o", "out.png", "--residual", "prop.png"],
    ["-o", "link.png"],                      # a symbolic link to the input
    ["-o", "hard.png"],                      # a hard link to the input
])
def test_output_equal_to_an_input_is_refused(folder, capsys, args):
    os.symlink("in.png", "link.png")
    os.link("in.png", "hard.png")
    before = {f: (folder / f).read_bytes() for f in os.listdir(folder)}
    rc, err = _solve(capsys, "--overwrite", *args)
    assert rc == 2 and len(err) == 1                      # message: test_errors.py
    assert {f: (folder / f).read_bytes() for f in os.listdir(folder)} == before


def test_existing_outputs_are_replaced_only_with_overwrite(folder, capsys):
    (folder / "r.png").write_bytes(b"previous residual")
    rc, err = _solve(capsys, "-o", "out.png", "--residual", "r.png")
    assert rc == 2 and len(err) == 1                      # message: test_errors.py
    assert not os.path.exists("out.png") and (folder / "r.png").read_bytes() == b"previous residual"
    rc, _ = _solve(capsys, "-o", "out.png", "--residual", "r.png", "--overwrite")
    assert rc == 0 and io.read_image("r.png").shape == (24, 20, 3)


def test_write_image_refuses_existing_file_without_overwrite(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"previous")
    with pytest.raises(io.ImageFileError):
        io.write_image(target, np.zeros((4, 4)))
    assert target.read_bytes() == b"previous"


def test_file_appearing_during_the_write_is_not_clobbered(tmp_path, monkeypatch):
    """Without overwrite the final step is a hard link, which fails if the file appeared."""
    target = tmp_path / "x.png"
    stage = io._stage

    def racing_stage(path, payload, suffix):
        tmp = stage(path, payload, suffix)
        target.write_bytes(b"written by someone else meanwhile")
        return tmp

    monkeypatch.setattr(io, "_stage", racing_stage)
    with pytest.raises(io.ImageFileError):
        io.write_image(target, np.zeros((4, 4)))
    assert target.read_bytes() == b"written by someone else meanwhile"
    assert os.listdir(tmp_path) == ["x.png"]


# --------------------------------------------------------------------------- atomic writes


def _fill_disk_midway(fd, payload):
    os.write(fd, bytes(payload[:len(payload) // 2]))
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_mid_write_keeps_the_previous_file(tmp_path, monkeypatch, rng):
    target = tmp_path / "x.png"
    io.write_image(target, np.full((8, 8), 0.25))
    previous = target.read_bytes()
    monkeypatch.setattr(io, "_write_payload", _fill_disk_midway)
    with pytest.raises(io.ImageFileError):          # message: test_errors.py
        io.write_image(target, rng.random((64, 64, 3)), overwrite=True)
    assert target.read_bytes() == previous
    assert os.listdir(tmp_path) == ["x.png"]


def test_full_disk_through_the_cli(folder, capsys, monkeypatch):
    io.write_image("out.png", np.zeros((24, 20, 3)))
    previous = (folder / "out.png").read_bytes()
    before = sorted(os.listdir(folder))
    monkeypatch.setattr(io, "_write_payload", _fill_disk_midway)
    rc, err = _solve(capsys, "-o", "out.png", "--residual", "r.png", "--overwrite")
    assert rc == 2 and len(err) == 1                      # message: test_errors.py
    assert (folder / "out.png").read_bytes() == previous
    assert sorted(os.listdir(folder)) == before           # no r.png, no temporary file


def test_second_output_failing_leaves_neither(folder, capsys, monkeypatch):
    """--output and --residual are staged together: both appear, or neither."""
    stage = io._stage

    def fail_on_residual(path, payload, suffix):
        if path.endswith("r.png"):
            raise OSError(errno.EIO, "Input/output error")
        return stage(path, payload, suffix)

    monkeypatch.setattr(io, "_stage", fail_on_residual)
    before = sorted(os.listdir(folder))
    rc, err = _solve(capsys, "-o", "out.png", "--residual", "r.png")
    assert rc == 2 and len(err) == 1                      # message: test_errors.py
    assert sorted(os.listdir(folder)) == before


def test_interrupted_write_leaves_no_temporary(tmp_path, monkeypatch):
    def interrupted(fd, payload):
        os.write(fd, bytes(payload[:10]))
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "_write_payload", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.write_image(tmp_path / "x.tif", np.zeros((4, 4)))
    assert os.listdir(tmp_path) == []


def test_new_files_follow_the_umask_and_replacements_keep_their_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        io.write_image(tmp_path / "new.png", np.zeros((4, 4)))
        assert stat.S_IMODE(os.stat(tmp_path / "new.png").st_mode) == 0o644
        os.chmod(tmp_path / "new.png", 0o600)
        io.write_image(tmp_path / "new.png", np.ones((4, 4)), overwrite=True)
        assert stat.S_IMODE(os.stat(tmp_path / "new.png").st_mode) == 0o600
    finally:
        os.umask(umask)


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "x.png"
    target.write_bytes(b"previous")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.iio, "imwrite", boom)
    with pytest.raises(io.ImageFileError):          # message: test_errors.py
        io.write_image(target, np.zeros((4, 4)), overwrite=True)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["x.png"]


# --------------------------------------------------------------------------- bit depths


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 3)])
def test_integer_round_trip_is_exact(tmp_path, suffix, bits, shape, rng):
    dtype = np.uint8 if bits == 8 else np.uint16
    a = rng.integers(0, 1 << bits, shape).astype(dtype)
    io.write_image(tmp_path / f"a{suffix}", a, bits=bits)
    b = io.read_image(tmp_path / f"a{suffix}")
    assert b.dtype == dtype and b.shape == shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("shape", [(24, 20), (24, 20, 3)])
def test_cli_keeps_16_bits_for_16_bit_inputs(folder, capsys, suffix, shape, rng):
    I = (rng.random(shape) * 65535).astype(np.uint16)
    io.write_image(f"i16{suffix}", I, bits=16)
    io.write_image(f"p16{suffix}", I // 2, bits=16)
    rc, _ = _solve(capsys, "-o", f"o{suffix}", "--residual", f"r{suffix}",
                   inputs=(f"i16{suffix}", f"p16{suffix}"))
    assert rc == 0
    out = io.read_image(f"o{suffix}")
    assert out.dtype == np.uint16 and out.shape == shape
    rc, _ = _solve(capsys, "-o", f"o8{suffix}", "--bits", "8", inputs=(f"i16{suffix}", f"p16{suffix}"))
    assert rc == 0 and io.read_image(f"o8{suffix}").dtype == np.uint8


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


# --------------------------------------------------------------------------- metadata


def _with_metadata(path, array, orientation=None, icc=False):
    im = Image.fromarray(array)
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    if icc:
        kwargs["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im.save(path, **kwargs)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_is_applied_with_a_warning(tmp_path, suffix, orientation, rng):
    a = (rng.random((4, 6, 3)) * 255).astype(np.uint8)
    path = tmp_path / f"o{suffix}"
    _with_metadata(path, a, orientation=orientation)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    with pytest.warns(io.ImageFileWarning):
        got = io.read_image(path)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_orientation_1_and_no_metadata_read_silently(tmp_path, suffix, recwarn, rng):
    a = (rng.random((4, 6, 3)) * 255).astype(np.uint8)
    _with_metadata(tmp_path / f"one{suffix}", a, orientation=1)
    io.write_image(tmp_path / f"plain{suffix}", a)
    np.testing.assert_array_equal(io.read_image(tmp_path / f"one{suffix}"), a)
    np.testing.assert_array_equal(io.read_image(tmp_path / f"plain{suffix}"), a)
    assert not [w for w in recwarn if issubclass(w.category, io.ImageFileWarning)]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_icc_profile_is_ignored_with_a_warning_and_not_written(tmp_path, suffix, rng):
    a = (rng.random((4, 6, 3)) * 255).astype(np.uint8)
    path = tmp_path / f"icc{suffix}"
    _with_metadata(path, a, icc=True)
    with pytest.warns(io.ImageFileWarning):
        got = io.read_image(path)
    if suffix != ".jpg":
        np.testing.assert_array_equal(got, a)            # pixel values as stored
    io.write_image(tmp_path / "out.png", got)
    with Image.open(tmp_path / "out.png") as im:
        assert "icc_profile" not in im.info


def test_cli_prints_metadata_warnings_as_single_lines(folder, capsys):
    a = (io.read_image("in.png")).swapaxes(0, 1)          # 20x24, stored sideways
    _with_metadata("rotated.png", np.ascontiguousarray(a[:, ::-1]), orientation=6, icc=True)
    rc, err = _solve(capsys, "-o", "out.png", inputs=("rotated.png", "prop.png"))
    assert rc == 0
    assert len(err) == 2 and all(line.startswith("gradfusion: warning: rotated.png: ")
                                 for line in err)
    assert io.read_image("out.png").shape == (24, 20, 3)


def test_one_bit_png_reads_as_uint8(tmp_path, rng):
    """1-bit PNGs (masks, line art) were refused as "unsupported pixel type bool"."""
    bits = rng.random((9, 7)) > 0.5
    Image.fromarray(bits).save(tmp_path / "bw.png")
    assert Image.open(tmp_path / "bw.png").mode == "1"
    image = io.read_image(tmp_path / "bw.png")
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.where(bits, 255, 0))
