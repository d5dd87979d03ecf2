"""Tests of gradfusion.metrics against scikit-image and independent references."""

import math
import subprocess
import sys
import types
import urllib.error

import numpy as np
import pytest
import scipy.signal
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gradfusion import _lpips, metrics
from gradfusion.objective import gradient_error

from helpers import make_pair

SHAPES = [(24, 31), (24, 31, 3), (40, 33, 3), (17, 20, 1)]


def _float(a):
    return a / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


# ---------------------------------------------------------------- patches

@pytest.mark.parametrize("shape", [(5, 7), (30, 30), (31, 64), (100, 250)])
@pytest.mark.parametrize("K", [1, 3, 5, 10])
def test_patch_slices_tile(shape, K):
    if K > min(shape):
        with pytest.raises(ValueError):
            metrics.patch_slices(shape, K)
        return
    drop = metrics.patch_slices(shape, K)
    assert len(drop) == (shape[0] // K) * (shape[1] // K)
    cover = np.zeros(shape, int)
    for r, c in drop:
        assert (r.stop - r.start, c.stop - c.start) == (K, K)
        cover[r, c] += 1
    assert cover.max() == 1                                   # non-overlapping
    assert cover[: shape[0] // K * K, : shape[1] // K * K].min() == 1
    shift = metrics.patch_slices(shape, K, "shift")
    cover = np.zeros(shape, int)
    for r, c in shift:
        assert (r.stop - r.start, c.stop - c.start) == (K, K)
        assert r.stop <= shape[0] and c.stop <= shape[1]
        cover[r, c] += 1
    assert cover.min() >= 1                                   # every pixel seen
    assert len(shift) == math.ceil(shape[0] / K) * math.ceil(shape[1] / K)


# ---------------------------------------------------------------- PSNR / SSIM

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", SHAPES)
def test_psnr_ssim_match_skimage(shape, dtype):
    r, x = make_pair(shape, dtype=dtype, kind="noisy")
    rf, xf = _float(r), _float(x)
    assert metrics.psnr(r, x) == pytest.approx(
        peak_signal_noise_ratio(rf, xf, data_range=1.0), rel=1e-6)
    ca = -1 if len(shape) == 3 else None
    assert metrics.ssim(r, x) == pytest.approx(
        structural_similarity(rf, xf, data_range=1.0, channel_axis=ca), rel=1e-6)


def test_channel_axis_first():
    r, x = make_pair((24, 31, 3), dtype=np.float64, kind="noisy")
    for fn in (metrics.psnr, metrics.ssim, metrics.gmsd):
        a = fn(r, x)
        b = fn(np.moveaxis(r, -1, 0), np.moveaxis(x, -1, 0), channel_axis=0)
        assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("partial", ["drop", "shift"])
@pytest.mark.parametrize("normalize", [None, "global", "patch"])
@pytest.mark.parametrize("name", ["psnr", "ssim", "gmsd"])
def test_patch_average_is_mean_of_crops(name, partial, normalize):
    r, x = make_pair((40, 33, 3), 3, dtype=np.float64, kind="noisy")
    K = 10
    fn = getattr(metrics, name)
    got = fn(r, x, patch_size=K, partial=partial, normalize=normalize)
    if normalize == "global":
        r, x = metrics.minmax_normalize(r), metrics.minmax_normalize(x)
    vals = []
    for rs, cs in metrics.patch_slices(r.shape[:2], K, partial):
        rp, xp = r[rs, cs], x[rs, cs]
        if normalize == "patch":
            rp, xp = metrics.minmax_normalize(rp), metrics.minmax_normalize(xp)
        vals.append(fn(rp, xp))
    assert got == pytest.approx(np.mean(vals), rel=1e-12)


def test_psnr_identical_is_inf():
    r, _ = make_pair((16, 16), dtype=np.float64, kind="noisy")
    assert metrics.psnr(r, r) == np.inf
    assert metrics.psnr(r, r, patch_size=8) == np.inf


def test_normalize_is_staypositive_n():
    """Global normalisation makes PSNR blind to an affine change of light."""
    r, _ = make_pair((24, 24, 3), dtype=np.float64, kind="noisy")
    x = 0.3 * r + 0.1
    assert metrics.psnr(r, x) < 20
    assert metrics.psnr(r, x, normalize="global") > 250   # equal up to rounding
    assert metrics.ssim(r, x, normalize="global") == pytest.approx(1.0)


def test_minmax_constant_guard():
    c = np.full((8, 8, 3), 0.4)
    np.testing.assert_array_equal(metrics.minmax_normalize(c), 0.0)
    # a constant patch against a constant patch: both normalise to zero
    assert metrics.psnr(c, c, patch_size=4, normalize="patch") == np.inf


# ---------------------------------------------------------------- GMSD

def _gmsd_reference(r, x):
    """Line-by-line port of the authors' MATLAB GMSD.m (conv2 'same', std2)."""
    def prep(u):
        if u.ndim == 3:
            u = 0.299 * u[..., 0] + 0.587 * u[..., 1] + 0.114 * u[..., 2]
        u = u * 255.0
        full = scipy.signal.convolve2d(u, np.full((2, 2), 0.25), mode="full")
        ave = full[1:u.shape[0] + 1, 1:u.shape[1] + 1]       # MATLAB 'same' for a 2x2 kernel
        return ave[::2, ::2]

    dx = np.array([[1, 0, -1]] * 3) / 3.0

    def mag(y):
        return np.sqrt(scipy.signal.convolve2d(y, dx, mode="same") ** 2
                       + scipy.signal.convolve2d(y, dx.T, mode="same") ** 2)

    g1, g2 = mag(prep(r)), mag(prep(x))
    q = (2 * g1 * g2 + 170) / (g1 ** 2 + g2 ** 2 + 170)
    return np.std(q, ddof=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(24, 31), (24, 31, 3), (41, 33, 3), (9, 10)])
def test_gmsd_matches_reference(shape, dtype):
    r, x = make_pair(shape, 5, dtype=dtype, kind="noisy")
    assert metrics.gmsd(r, x) == pytest.approx(_gmsd_reference(_float(r), _float(x)), rel=1e-9)


def test_gmsd_orders_degradations():
    rng = np.random.default_rng(7)
    from skimage.data import camera
    r = camera()[::4, ::4] / 255.0
    mild = np.clip(r + 0.02 * rng.standard_normal(r.shape), 0, 1)
    strong = np.clip(r + 0.1 * rng.standard_normal(r.shape), 0, 1)
    assert metrics.gmsd(r, r) == 0.0
    assert 0 < metrics.gmsd(r, mild) < metrics.gmsd(r, strong)


# ---------------------------------------------------------------- stripes, gradient error

def _stripe_reference(img):
    tot = hi = 0.0
    for c in range(img.shape[-1]):
        u = img[..., c] - img[..., c].mean()
        F = np.abs(np.fft.fft2(u)) ** 2
        fy = np.abs(np.fft.fftfreq(u.shape[0]))[:, None]
        fx = np.abs(np.fft.fftfreq(u.shape[1]))[None, :]
        tot += F.sum()
        hi += F[(fx > 0.45) | (fy > 0.45)].sum()
    return hi / tot


@pytest.mark.parametrize("shape", [(24, 31, 3), (32, 32, 1)])
def test_stripe_share_matches_reference(shape):
    r, _ = make_pair(shape, dtype=np.float64, kind="noisy")
    assert metrics.stripe_share(r) == pytest.approx(_stripe_reference(r), rel=1e-12)


def test_stripe_share_extremes():
    assert metrics.stripe_share(np.tile([0.0, 1.0], (6, 5))) == pytest.approx(1.0)
    assert metrics.stripe_share(np.tile([[0.0], [1.0]], (5, 6))) == pytest.approx(1.0)
    assert metrics.stripe_share(np.full((6, 6), 0.3)) == 0.0
    smooth = np.outer(np.hanning(32), np.hanning(32))
    assert metrics.stripe_share(smooth) < 1e-6


def test_gradient_error_is_the_objective():
    assert metrics.gradient_error is gradient_error


# ---------------------------------------------------------------- LPIPS (around the network)

def test_import_does_not_load_torch():
    code = ("import sys, numpy as np, gradfusion, gradfusion.metrics as m;"
            "a = np.random.default_rng(0).random((16, 16, 3));"
            "m.psnr(a, a); m.ssim(a, a); m.gmsd(a, a); m.stripe_share(a);"
            "print('torch' in sys.modules, 'lpips' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


class _StandIn:
    """A stand-in for lpips.LPIPS: mean squared difference per pair, records its inputs."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, y):
        import torch
        assert x.dtype == torch.float32 and y.dtype == torch.float32
        assert x.shape == y.shape and x.shape[1] == 3
        assert float(x.min()) >= -1 and float(x.max()) <= 1
        self.calls.append(tuple(x.shape))
        return ((x - y) ** 2).mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("shape", [(40, 33, 3), (40, 33)])
@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_lpips_patching_batching_ranges(shape, batch_size):
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    r, x = make_pair(shape, 2, dtype=np.float64, kind="noisy")
    model = _StandIn()
    got = metrics.lpips(r, x, patch_size=10, partial="shift", batch_size=batch_size,
                        model=model)
    n = len(metrics.patch_slices(shape[:2], 10, "shift"))          # 4 x 4 = 16 patches
    assert sum(c[0] for c in model.calls) == n
    assert len(model.calls) == math.ceil(n / batch_size)
    assert all(c[2:] == (10, 10) for c in model.calls)
    # stand-in distance in [-1, 1] coordinates: 4 * mean squared difference in [0, 1]
    r3 = r if r.ndim == 3 else np.repeat(r[..., None], 3, -1)
    x3 = x if x.ndim == 3 else np.repeat(x[..., None], 3, -1)
    want = np.mean([4 * np.mean((r3[a, b] - x3[a, b]) ** 2)
                    for a, b in metrics.patch_slices(shape[:2], 10, "shift")])
    assert got == pytest.approx(want, rel=1e-5)


def test_lpips_whole_image_and_normalize():
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    r, _ = make_pair((16, 20, 3), dtype=np.float64, kind="noisy")
    model = _StandIn()
    assert metrics.lpips(r, 0.5 * r + 0.2, normalize="global", model=model) < 1e-12
    assert model.calls == [(1, 3, 16, 20)]


def test_lpips_bad_model_output():
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    r, x = make_pair((16, 16, 3), dtype=np.float64, kind="noisy")
    with pytest.raises(ValueError):                 # message: test_errors.py
        metrics.lpips(r, x, patch_size=8, model=lambda a, b: a.mean().reshape(1))


@pytest.fixture
def fresh_lpips_cache():
    _lpips.model.cache_clear()
    yield
    _lpips.model.cache_clear()


def test_lpips_missing_packages_message(monkeypatch, fresh_lpips_cache):
    monkeypatch.setitem(sys.modules, "lpips", None)           # import lpips -> ImportError
    r, x = make_pair((16, 16, 3), dtype=np.float64, kind="noisy")
    with pytest.raises(metrics.LPIPSUnavailableError):  # message: test_errors.py
        metrics.lpips(r, x)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_missing_weights(monkeypatch, tmp_path, fresh_lpips_cache, net):
    """No backbone weights and no network: an LPIPSUnavailableError (the message, naming the
    backbone file and the folder it is looked up in: a row per net in test_errors.py)."""
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    import torch
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    fake = types.ModuleType("lpips")

    def LPIPS(net, verbose=True):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    fake.LPIPS = LPIPS
    monkeypatch.setitem(sys.modules, "lpips", fake)
    r, x = make_pair((16, 16, 3), dtype=np.float64, kind="noisy")
    with pytest.raises(metrics.LPIPSUnavailableError):  # message: test_errors.py
        metrics.lpips(r, x, net=net)


def test_lpips_builds_model_once(monkeypatch, fresh_lpips_cache):
    pytest.importorskip("torch", reason="torch not installed (pip install torch==2.13.0)")
    built = []
    fake = types.ModuleType("lpips")

    class LPIPS(_StandIn):
        def __init__(self, net, verbose=True):
            super().__init__()
            built.append(net)

        def eval(self):
            return self

    fake.LPIPS = LPIPS
    monkeypatch.setitem(sys.modules, "lpips", fake)
    r, x = make_pair((16, 16, 3), dtype=np.float64, kind="noisy")
    metrics.lpips(r, x, net="squeeze")
    metrics.lpips(r, x, net="squeeze", patch_size=8)
    assert built == ["squeeze"]


def test_lpips_real_network_if_available():
    """With lpips and its weights installed, the wrapper equals a direct call."""
    try:
        model = _lpips.model("alex")
    except metrics.LPIPSUnavailableError as exc:
        pytest.skip(f"real LPIPS unavailable here: {str(exc)[:120]}")
    import torch
    r, x = make_pair((64, 64, 3), dtype=np.float64, kind="noisy")
    with torch.no_grad():
        want = float(model(torch.from_numpy(2 * r.transpose(2, 0, 1)[None] - 1).float(),
                           torch.from_numpy(2 * x.transpose(2, 0, 1)[None] - 1).float()))
    assert metrics.lpips(r, x) == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("call,exc", [
    (lambda r, x: metrics.psnr(r, x[:-1]), ValueError),
    (lambda r, x: metrics.psnr(r, x, patch_size=32), ValueError),
    (lambda r, x: metrics.psnr(r, x, patch_size=0), ValueError),
    (lambda r, x: metrics.psnr(r, x, patch_size=2.5), TypeError),
    (lambda r, x: metrics.ssim(r, x, patch_size=5), ValueError),
    (lambda r, x: metrics.psnr(r, x, partial="keep"), ValueError),
    (lambda r, x: metrics.gmsd(r, x, normalize="local"), ValueError),
    (lambda r, x: metrics.ssim(r, x, data_range=255), TypeError),
    (lambda r, x: metrics.stripe_share(r, cutoff=0.6), ValueError),
    (lambda r, x: metrics.lpips(r, x, net="resnet"), ValueError),
    (lambda r, x: metrics.lpips(r, x, batch_size=0), ValueError),
    (lambda r, x: metrics.lpips(r, x, model="alex"), TypeError),
    (lambda r, x: metrics.psnr(r * 2, x), ValueError),
    (lambda r, x: metrics.lpips(np.dstack([r, r[..., :1]]), np.dstack([x, x[..., :1]]),
                                model=lambda a, b: a), ValueError),
])
def test_bad_arguments(call, exc):
    """The exception types (each message is a row of test_errors.py)."""
    r, x = make_pair((24, 31, 3), dtype=np.float64, kind="noisy")
    with pytest.raises(exc):
        call(r, x)


@pytest.mark.parametrize("channels", [2, 4])
def test_gmsd_of_other_channel_counts_uses_the_channel_mean(channels):
    """Not RGB: the channels' mean (2 channels were weighted 0.299/0.587, 4 a shape error)."""
    from gradfusion import metrics

    rng = np.random.default_rng([42, channels])
    r, x = rng.random((2, 24, 20, channels))
    expected = metrics.gmsd(r.mean(axis=-1), x.mean(axis=-1))
    assert metrics.gmsd(r, x) == pytest.approx(expected, rel=1e-12)
    assert metrics.gmsd(np.repeat(r[..., :1], channels, -1),
                        np.repeat(x[..., :1], channels, -1)) == pytest.approx(
        metrics.gmsd(r[..., 0], x[..., 0]), rel=1e-12)
