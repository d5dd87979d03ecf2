"""The end-to-end demo behind ``gradfusion demo``.

Takes a photograph bundled with scikit-image, derives a night-like proposal
from it (a darkening tone curve with a cool tint: darker than the optics can
show at ``alpha = 0.7``), and shows the trade-off of :func:`gradfusion.solve`:
the heuristic clip, the paper's objective (zero-padded, ``level_weight=0``)
and the default solve (``level_weight="perceptual"``, reflected borders),
scored against the proposal in a table and side by side in a panel.
"""

import os

import numpy as np

__all__ = ["night_proposal", "load_sample", "demo_images", "run_demo"]

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

    _check_sample(name)
    return img_as_float(getattr(skimage.data, name)()[..., :3])


def _check_sample(name):
    if name not in SAMPLES:
        raise ValueError(f"image must be one of {SAMPLES}, got {name!r}")


#: the demo's outputs: file name -> row of the evaluation table
OUTPUTS = {"heuristic.png": "heuristic", "gradfusion-paper.png": "gradfusion (paper)",
           "gradfusion.png": "gradfusion"}

#: every file the demo writes
FILES = ("panel.png", "input.png", "proposal.png", *OUTPUTS, "residual.png", "table.csv")


def demo_images(image="astronaut", alpha=0.7):
    """The demo's pictures, by file name, and its evaluation.

    Parameters
    ----------
    image : {"astronaut", "coffee", "chelsea", "rocket"}, optional
    alpha : float, optional

    Returns
    -------
    images : dict of str to ndarray
        ``{file name: image}`` for every picture of ``FILES``: the panel
        as uint8, the others float in [0, 1] (``residual.png``: the residual
        to display for the default solve).
    evaluation : gradfusion.Evaluation
        The clip, the default solve and the paper's objective, scored
        against the proposal.
    """
    from .evaluation import comparison_figure, evaluate

    I = load_sample(image)
    P = night_proposal(I)
    ev = evaluate(I, P, alpha, methods=["heuristic", "gradfusion"], lpips=False,
                  level_weight="paper")
    shown = {"input": I, "proposal": P, "clip": ev.outputs["heuristic"],
             "paper objective": ev.outputs["gradfusion (paper)"],
             "gradfusion": ev.outputs["gradfusion"]}
    images = {"panel.png": comparison_figure(shown),
              "input.png": I, "proposal.png": P}
    images.update({name: ev.outputs[method] for name, method in OUTPUTS.items()})
    # what the display shows for the default solve: R = O - alpha I
    images["residual.png"] = np.clip(images["gradfusion.png"] - alpha * I,
                                     0.0, 1.0 - alpha)
    return images, ev


def run_demo(out_dir, *, image="astronaut", alpha=0.7, overwrite=False, verbose=True):
    """Run the demo, write its files into ``out_dir`` and return the metrics.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Folder for ``panel.png`` (input | proposal | clip | paper objective |
        perceptual, with a zoomed crop below), ``table.csv`` and the single
        images (``FILES``); created if missing.
    image : {"astronaut", "coffee", "chelsea", "rocket"}, optional
        The :mod:`skimage.data` photograph to use.
    alpha : float, optional
        Combiner transmission (default 0.7).
    overwrite : bool, optional
        Replace existing files; without it an existing file is refused
        before any work (:class:`FileExistsError`), as everywhere in the
        command line.
    verbose : bool, optional
        Print the table of metrics and the panel's path.

    Returns
    -------
    table : dict
        ``{method: row}`` for ``"heuristic"``, ``"gradfusion"`` and
        ``"gradfusion (perceptual)"``, each row a dict of
        :func:`gradfusion.evaluate`'s columns (PSNR, SSIM, GMSD, gradient
        error, stripe share, time), measured against the proposal.
    """
    from . import io

    _check_sample(image)               # a bad name fails before anything is written
    paths = {name: os.path.join(out_dir, name) for name in FILES}
    if not overwrite:
        existing = [p for p in paths.values() if os.path.exists(p)]
        if existing:
            raise FileExistsError(f"{existing[0]}: exists; pass --overwrite to replace it")
    os.makedirs(out_dir, exist_ok=True)
    images, ev = demo_images(image, alpha)
    for name, array in images.items():
        io.write_image(paths[name], array, overwrite=overwrite)
    io.write_text(paths["table.csv"], ev.to_csv(), overwrite=overwrite)
    if verbose:
        I = images["input.png"]
        print(f"gradfusion demo: skimage.data.{image}() {I.shape[1]}x{I.shape[0]}, "
              f"night-like proposal, alpha {alpha}")
        print(ev.format_table())
        print("heuristic: the clip, the closest feasible output pixel by pixel (no feasible output "
              "has a higher PSNR); gradfusion: the default solve (level_weight='perceptual'), "
              "the gradients matched at levels close to the proposal's; gradfusion (paper): "
              "the paper's objective, the best gradient match at a level set by the optics "
              "and the zero-padded border only.")
        print(f"panel (input | proposal | clip | paper objective | gradfusion, zoomed crop "
              f"below): {paths['panel.png']}")
    return {row["method"]: row for row in ev.rows}
