"""The end-to-end demo behind ``gradfusion demo``.

Takes a photograph bundled with scikit-image, derives a night-like proposal
from it (a darkening tone curve with a cool tint: darker than the optics can
show at ``alpha = 0.7``), solves with the heuristic clip and with
:func:`gradfusion.solve`, prints PSNR/SSIM of both against the proposal and
writes a side-by-side panel.
"""

import os

import numpy as np

__all__ = ["night_proposal", "run_demo"]

#: scikit-image sample photographs the demo may use (all bundled, no download)
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket")


def night_proposal(image):
    """A night-like look of an RGB float image: gamma 2.2, cool tint, 40% brightness.

    Parameters
    ----------
    image : (H, W, 3) float array in [0, 1]

    Returns
    -------
    proposal : (H, W, 3) float array in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from gradfusion.demo import night_proposal
    >>> night_proposal(np.ones((2, 2, 3)))[0, 0]
    array([0.28, 0.36, 0.56])
    """
    tint = np.array([0.7, 0.9, 1.4], dtype=image.dtype)
    return np.clip(0.4 * tint * image ** 2.2, 0.0, 1.0)


def load_sample(name):
    """An RGB float64 sample photograph from :mod:`skimage.data`."""
    import skimage.data
    from skimage.util import img_as_float

    if name not in SAMPLES:
        raise ValueError(f"image must be one of {SAMPLES}, got {name!r}")
    return img_as_float(getattr(skimage.data, name)()[..., :3])


def run_demo(out_dir, *, image="astronaut", alpha=0.7, verbose=True):
    """Run the demo, write its files into ``out_dir`` and return the metrics.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Folder for ``panel.png`` (input | proposal | heuristic | gradfusion)
        and the single images; created if missing, existing files replaced.
    image : {"astronaut", "coffee", "chelsea", "rocket"}, optional
        The :mod:`skimage.data` photograph to use.
    alpha : float, optional
        Combiner transmission (default 0.7).
    verbose : bool, optional
        Print the table of metrics and the panel's path.

    Returns
    -------
    table : dict
        ``{method: {"psnr": ..., "ssim": ..., "bare_objective": ..., "time": ...}}``
        for ``"heuristic"`` and ``"gradfusion"``, PSNR and SSIM measured
        against the proposal.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from . import io
    from .baselines import heuristic
    from .synthesis import solve

    os.makedirs(out_dir, exist_ok=True)
    I = load_sample(image)
    P = night_proposal(I)
    results = {"heuristic": heuristic(I, P, alpha), "gradfusion": solve(I, P, alpha)}
    table = {}
    for name, res in results.items():
        table[name] = {
            "psnr": float(peak_signal_noise_ratio(P, res.output, data_range=1.0)),
            "ssim": float(structural_similarity(P, res.output, channel_axis=-1, data_range=1.0)),
            "bare_objective": float(res.bare_objective),
            "time": float(res.time),
        }
    panel = np.concatenate([I, P, results["heuristic"].output, results["gradfusion"].output],
                           axis=1)
    files = {
        "panel.png": panel,
        "input.png": I,
        "proposal.png": P,
        "heuristic.png": results["heuristic"].output,
        "gradfusion.png": results["gradfusion"].output,
        "residual.png": results["gradfusion"].residual,
    }
    for name, array in files.items():
        io.write_image(os.path.join(out_dir, name), array, overwrite=True)
    if verbose:
        print(f"gradfusion demo: skimage.data.{image}() {I.shape[1]}x{I.shape[0]}, "
              f"night-like proposal, alpha {alpha}")
        print(f"{'method':<12}{'PSNR (dB)':>10}{'SSIM':>8}{'gradient error':>16}{'time (s)':>10}")
        for name, row in table.items():
            print(f"{name:<12}{row['psnr']:>10.2f}{row['ssim']:>8.4f}"
                  f"{row['bare_objective']:>16.4e}{row['time']:>10.2f}")
        print(f"panel (input | proposal | heuristic | gradfusion): "
              f"{os.path.join(out_dir, 'panel.png')}")
    return table
