"""gradfusion.solve_sequence, the warps and motion estimate under it, flicker, frame files, the
``gradfusion video`` command: small sequences cut from scikit-image photographs."""

import os

import numpy as np
import pytest
from skimage import data, img_as_float

import gradfusion
from gradfusion import io, video
from gradfusion.cli import main
from gradfusion.metrics import flicker

ALPHA = 0.7


def _photo(name="astronaut"):
    return img_as_float(getattr(data, name)()).astype(np.float32)


def pan(n=5, size=(48, 64), steps=None, seed=0, noise=0.01):
    """``(images, proposals, motions)``: a window panning over a photograph, proposals made
    per frame with a per-frame gain jitter (a network's flicker)."""
    rng = np.random.default_rng(seed)
    photo = _photo()
    H, W = size
    steps = rng.integers(1, 5, size=n) if steps is None else np.broadcast_to(steps, n)
    x, y = 100, 180
    images, motions = [], [None]
    for t in range(n):
        if t:
            x += int(steps[t])
            motions.append(np.array([[1.0, 0, -steps[t]], [0, 1, 0], [0, 0, 1]]))
        images.append(np.ascontiguousarray(photo[y:y + H, x:x + W]))
    proposals = [np.clip((0.45 + noise * rng.standard_normal()) * I ** 2.2 + 0.02, 0, 1)
                 .astype(np.float32) for I in images]
    return images, proposals, motions


@pytest.fixture(scope="module")
def sequence():
    return pan()


@pytest.fixture(scope="module")
def cold(sequence):
    images, proposals, _ = sequence
    return [gradfusion.solve(I, P, ALPHA, tol=1e-10) for I, P in zip(images, proposals)]


# --------------------------------------------------------------------------- exact answers


@pytest.mark.parametrize("motion", [None, "translation", "true"])
@pytest.mark.parametrize("method", ["mprgp", "active-set"])
def test_every_frame_is_its_own_optimum(sequence, cold, motion, method):
    images, proposals, motions = sequence
    m = motions if motion == "true" else motion
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion=m, method=method))
    assert [r.frame for r in results] == list(range(len(images)))
    for r, c in zip(results, cold):
        assert r.success and r.budget_status == "unlimited" and r.within_budget
        assert abs(r.fun - c.fun) <= 1e-6 * c.fun
        assert r.output.dtype == np.float32 and r.output.shape == images[0].shape
        assert 0 <= r.residual.min() and r.residual.max() <= 1 - ALPHA + 1e-6
    assert results[0].warm == "cold" and np.isnan(results[0].transform).all()
    expected = {None: "previous", "translation": "translation", "true": "transform"}[motion]
    assert all(r.warm == expected for r in results[1:])


def test_translation_is_estimated_and_warm_start_follows(sequence):
    images, proposals, motions = sequence
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion="translation"))
    for r, m in zip(results[1:], motions[1:]):
        np.testing.assert_array_equal(r.transform, m)
        assert r.exposed == pytest.approx(abs(m[0, 2]) / images[0].shape[1])


@pytest.mark.parametrize("dy, dx", [(0, 3), (-2, 1), (4, -4), (1.5, 0.0)])
def test_estimate_translation(dy, dx):
    photo = _photo("coffee")
    shift = np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]])
    previous = photo[100:260, 150:350]
    current, valid = video.warp(previous, shift)
    current = np.where(valid[..., None], current, previous)        # fill the strip
    est = video.estimate_translation(previous, current)
    integer = float(dy).is_integer() and float(dx).is_integer()
    assert est == ((dy, dx) if integer else pytest.approx((dy, dx), abs=0.25))


def test_warp_integer_shift_is_exact_and_marks_the_strip():
    a = np.random.default_rng(3).random((10, 12, 3))
    moved, valid = video.warp(a, [[1, 0, -2], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(moved[1:, :-2], a[:-1, 2:])
    assert not valid[0].any() and not valid[:, -2:].any() and valid[1:, :-2].all()
    assert (moved[~valid] == 0).all()


def test_flow_field_equals_its_translation():
    a = np.random.default_rng(4).random((9, 11))
    flow = np.zeros((2, 9, 11))
    flow[1] = -1.0                   # pixel p shows the previous frame at p + (0, -1)
    by_flow, v1 = video.warp(a, flow)
    by_matrix, v2 = video.warp(a, [[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(by_flow, by_matrix)
    np.testing.assert_array_equal(v1, v2)


def test_callable_motion_and_skimage_transform(sequence, cold):
    from skimage.transform import EuclideanTransform

    images, proposals, motions = sequence
    seen = []

    def tracker(frame, previous, current):
        seen.append((frame, previous is images[frame - 1], current is images[frame]))
        return EuclideanTransform(translation=(motions[frame][0, 2], 0))

    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion=tracker))
    assert seen == [(t, True, True) for t in range(1, len(images))]
    for r, c in zip(results, cold):
        assert abs(r.fun - c.fun) <= 1e-6 * c.fun
    assert all(r.warm == "transform" for r in results[1:])


def test_frames_are_read_lazily(sequence):
    images, proposals, _ = sequence
    pulled = []

    def lazy():
        for t, I in enumerate(images):
            pulled.append(t)
            yield I

    run = gradfusion.solve_sequence(lazy(), iter(proposals), ALPHA)
    assert pulled == []                              # nothing read before the first next()
    next(run)
    assert pulled == [0]
    next(run)
    assert pulled == [0, 1]


def test_unchanged_frame_reuses_the_answer(sequence):
    images, proposals, _ = sequence
    results = list(gradfusion.solve_sequence([images[0]] * 3, [proposals[0]] * 3, ALPHA))
    assert [r.warm for r in results] == ["cold", "unchanged", "unchanged"]
    assert results[1].nit == 0 and results[1].fun == results[0].fun
    np.testing.assert_array_equal(results[2].output, results[0].output)
    assert results[2].output is not results[0].output


@pytest.mark.parametrize("layout", ["gray", "channels-first", "uint8"])
def test_layouts(sequence, layout):
    images, proposals, motions = sequence
    if layout == "gray":
        images, proposals, axis = [I[..., 0] for I in images], [P[..., 0] for P in proposals], -1
    elif layout == "channels-first":
        images = [np.moveaxis(I, -1, 0) for I in images]
        proposals = [np.moveaxis(P, -1, 0) for P in proposals]
        axis = 0
    else:
        images = [np.round(I * 255).astype(np.uint8) for I in images]
        proposals = [np.round(P * 255).astype(np.uint8) for P in proposals]
        axis = -1
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, motion=motions,
                                             channel_axis=axis))
    for r, I, P in zip(results, images, proposals):
        ref = gradfusion.solve(I, P, ALPHA, channel_axis=axis, tol=1e-10)
        assert r.output.shape == I.shape and abs(r.fun - ref.fun) <= 1e-6 * ref.fun
        assert r.output.dtype == (np.float64 if layout == "uint8" else np.float32)


def test_alpha_map_with_a_moving_start(sequence):
    """A per-pixel transmission: the exposed strip starts from the clip under the map."""
    images, proposals, motions = sequence
    amap = np.full(images[0].shape[:2], 0.7)
    amap[:, :20] = 0.6
    results = list(gradfusion.solve_sequence(images, proposals, amap, motion=motions,
                                             budget=30.0))
    assert results[0].warm == "clip"
    for r, I, P in zip(results, images, proposals):
        ref = gradfusion.solve(I, P, amap, tol=1e-10)
        assert abs(r.fun - ref.fun) <= 1e-6 * ref.fun


# --------------------------------------------------------------------------- budgets


def test_iteration_budget_on_a_static_scene_never_loses_ground():
    """Every frame the same: each stops at its budget, the next continues, the error falls."""
    images, proposals, _ = pan(n=1, size=(64, 80))
    exact = gradfusion.solve(images[0], proposals[0], ALPHA, tol=1e-10).fun
    results = list(gradfusion.solve_sequence(images * 12, proposals * 12, ALPHA,
                                             budget_iterations=3, method="mprgp"))
    gaps = [(r.fun - exact) / exact for r in results]
    assert all(r.nit <= 3 and r.within_budget for r in results)
    assert results[0].warm == "cold" and results[0].budget_status == "stopped"
    assert all(b <= a * (1 + 1e-6) + 1e-12 for a, b in zip(gaps, gaps[1:]))    # no drift
    assert gaps[-1] < 0.1 * gaps[0]


def test_time_budget_reports_status_and_first_frame_starts_from_the_clip(sequence):
    images, proposals, _ = sequence
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, budget=10.0,
                                             motion="translation"))
    assert results[0].warm == "clip"
    for r in results:
        assert r.budget == 10.0 and r.budget_status in ("converged", "stopped")
        assert r.within_budget == (r.time <= 10.0)
        assert r.budget_status == ("converged" if r.status == 0 else "stopped")


def test_a_tiny_time_budget_stops_every_frame(sequence):
    images, proposals, _ = sequence
    results = list(gradfusion.solve_sequence(images, proposals, ALPHA, budget=1e-6,
                                             method="mprgp"))
    assert all(r.budget_status == "stopped" and r.status == 2 and not r.within_budget
               for r in results)
    for r in results:                                 # the best feasible iterate, reported
        assert np.isfinite(r.gap) and 0 <= r.residual.min() and r.residual.max() <= 0.3 + 1e-6


def test_result_fields_do_not_depend_on_the_options(sequence):
    images, proposals, motions = sequence
    keys = None
    for options in ({}, {"motion": "translation"}, {"motion": motions}, {"budget": 1.0},
                    {"budget_iterations": 2}):
        for r in gradfusion.solve_sequence(images[:3], proposals[:3], ALPHA, **options):
            assert r.transform.shape == (3, 3) and isinstance(r.within_budget, bool)
            assert keys is None or set(r) == keys
            keys = set(r)
    for r in gradfusion.solve_sequence([images[0]] * 2, [proposals[0]] * 2, ALPHA):
        assert set(r) == keys


# --------------------------------------------------------------------------- flicker


def test_flicker_of_a_scaled_sequence_is_the_scale():
    rng = np.random.default_rng(5)
    P = [0.5 + 0.05 * rng.standard_normal((6, 7, 3)) for _ in range(5)]
    assert flicker(proposals=P, outputs=[0.3 * p + 0.1 for p in P]) == pytest.approx(0.3)
    assert flicker(proposals=P, outputs=P) == pytest.approx(1.0)
    static = [np.full((4, 4), 0.5)] * 3
    assert flicker(proposals=static, outputs=static) == 1.0
    assert flicker(proposals=static[:2],
                   outputs=[np.full((4, 4), 0.5), np.full((4, 4), 0.6)]) == np.inf


def test_flicker_is_motion_compensated(sequence):
    images, _, motions = sequence
    jitter = [np.clip(I + 0.01 * k, 0, 1) for k, I in enumerate(images)]
    moving = flicker(proposals=images, outputs=jitter)
    compensated = flicker(proposals=images, outputs=jitter, motion=motions)
    assert moving < 2.0 < compensated       # without compensation the pan hides the jitter


@pytest.mark.parametrize("steps, options", [
    (0, dict(boundary="zero", level_weight=0.0)),          # a fixed camera: any setting
    (0, dict(boundary="reflect", level_weight=0.3)),
    (1, dict(boundary="reflect", level_weight=0.3)),       # a pan: reflected borders
    (None, dict(boundary="reflect", level_weight=0.3)),
])
def test_converged_outputs_do_not_amplify_flicker(steps, options):
    images, proposals, motions = pan(n=5, size=(96, 128), steps=steps)
    outputs = [r.output for r in gradfusion.solve_sequence(images, proposals, ALPHA,
                                                           motion=motions, **options)]
    assert flicker(proposals=proposals, outputs=outputs, motion=motions) <= 1.1


def test_zero_padded_borders_flicker_under_a_pan():
    """The frame's zero-padded border is fixed in the frame while the scene moves under it:
    each frame's exact optimum shifts its light level, 4-7x the proposals' change here."""
    images, proposals, motions = pan(n=5, size=(96, 128), steps=1)
    outputs = [r.output for r in gradfusion.solve_sequence(images, proposals, ALPHA,
                                                           motion=motions, boundary="zero",
                                                           level_weight=0.0)]
    assert flicker(proposals=proposals, outputs=outputs, motion=motions) > 2


# --------------------------------------------------------------------------- files, CLI


def _write_folder(folder, frames):
    os.makedirs(folder)
    for k, f in enumerate(frames):
        io.write_image(os.path.join(folder, f"f{k}.png"), f)


def test_frame_folders_round_trip_in_natural_order(tmp_path):
    frames = [np.full((4, 5, 3), k / 12.0) for k in range(12)]
    _write_folder(tmp_path / "in", frames)
    read = list(video.read_frames(tmp_path / "in"))        # f10 after f9, not after f1
    assert [int(round(f[0, 0, 0] / 255 * 12)) for f in read] == list(range(12))
    assert video.write_frames(tmp_path / "out", read) == 12
    assert sorted(os.listdir(tmp_path / "out"))[:2] == ["000000.png", "000001.png"]


def test_video_file_round_trip(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    images, _, _ = pan(n=4, size=(48, 64))
    path = tmp_path / "pan.mp4"
    assert video.write_frames(path, images, fps=10) == 4
    assert [n for n in os.listdir(tmp_path)] == ["pan.mp4"]        # no temporary left
    read = list(video.read_frames(path))
    assert len(read) == 4 and read[0].shape == (48, 64, 3)
    for a, b in zip(read, images):             # lossy H.264, pixels within a few levels
        assert np.abs(a / 255.0 - b).mean() < 0.03


def test_video_file_without_the_extra_names_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    (tmp_path / "a.mp4").write_bytes(b"x")
    with pytest.raises(video.VideoUnavailableError):
        video.read_frames(tmp_path / "a.mp4")


def test_failed_video_write_leaves_nothing(tmp_path):
    pytest.importorskip("imageio_ffmpeg")

    def frames():
        yield np.zeros((16, 16, 3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        video.write_frames(tmp_path / "cut.mp4", frames())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("output", ["out", "out.mp4"])
def test_cli_video(tmp_path, capsys, output):
    if output.endswith(".mp4"):
        pytest.importorskip("imageio_ffmpeg")
    images, proposals, _ = pan(n=4, size=(40, 56))
    _write_folder(tmp_path / "I", images)
    _write_folder(tmp_path / "P", proposals)
    out = str(tmp_path / output)
    rc = main(["video", str(tmp_path / "I"), str(tmp_path / "P"), "--alpha", "0.7", "-o", out,
               "--motion", "translation", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "4 frames" in captured.out
    frames = list(video.read_frames(out))
    assert len(frames) == 4
    # the first output, by pixels, against a solve of the same 8-bit frames
    I0 = io.read_image(str(tmp_path / "I" / "f0.png"))
    P0 = io.read_image(str(tmp_path / "P" / "f0.png"))
    expected = gradfusion.solve(I0, P0, 0.7).output
    tolerance = 1.5 if output == "out" else 12
    assert np.abs(frames[0].astype(float) - np.round(expected * 255)).mean() < tolerance
    again = main(["video", str(tmp_path / "I"), str(tmp_path / "P"), "--alpha", "0.7", "-o",
                  out, "--no-progress"])
    assert again == 2 and capsys.readouterr().err.count("\n") == 1   # message: test_errors.py
