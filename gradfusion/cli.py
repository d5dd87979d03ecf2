"""Command line: gradfusion solve, evaluate, tradeoff, batch, video and demo.

User errors (missing, unreadable, corrupt or truncated files, bad options,
mismatched sizes, a problem too large for the memory limit) print one line
to stderr and exit with status 2; no output file is left behind. Warnings
(an applied EXIF orientation, an ignored ICC profile) print one line each.
"""

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

__all__ = ["main"]


class UsageError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


class AlphaMap(np.ndarray):
    """An alpha map read from an image file by ``--alpha FILE`` (float64 in [0, 1]); ``path``
    is the file, which stands for the map in a batch's settings."""

    path = None


def _alpha(text):
    """``--alpha``: a number, comma-separated numbers (one per channel), or the path of an image
    file: an alpha map (grayscale: one transmission per pixel; RGB: per pixel and channel;
    8/16-bit values scaled to [0, 1])."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        if os.path.isfile(text):
            return _alpha_file(text)
        raise argparse.ArgumentTypeError(
            f"alpha must be a number, comma-separated numbers or an image file (an alpha "
            f"map), got {text!r} (no such file)") from None
    if not values:
        raise argparse.ArgumentTypeError("alpha is empty")
    return values[0] if len(values) == 1 else values


def _alpha_file(path):
    """The alpha map of an image file (:func:`_alpha`)."""
    from . import _validation, io

    try:
        image = io.read_image(path)
        if image.dtype.kind == "f":
            _validation.check_real(image, path)
    except (io.ImageFileError, ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"alpha map: {exc}") from None
    values = np.asarray(_validation.to_float(image), dtype=np.float64)
    alpha = values.view(AlphaMap)
    alpha.path = os.fspath(path)
    return alpha


def _level_weight(text):
    """``--level-weight``: a number >= 0 or a name of ``LEVEL_WEIGHTS``."""
    from .synthesis import LEVEL_WEIGHTS

    if text in LEVEL_WEIGHTS:
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"must be a number >= 0 or one of {', '.join(LEVEL_WEIGHTS)}, got {text!r}")
    return value


def _level_weights(text):
    """``--level-weights``: comma-separated numbers >= 0."""
    values = [_level_weight(p) for p in text.replace(",", " ").split() if p]
    if not values or any(isinstance(x, str) for x in values):
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers >= 0, got {text!r}")
    return values


_ALPHA_HELP = ("combiner transmission in (0, 1): a number, one value per channel (0.6,0.7,0.8), "
               "or an image file as an alpha map (grayscale: one transmission per pixel, RGB: "
               "per pixel and channel; 8/16-bit scaled to [0, 1]; the images' size)")
_LEVEL_HELP = ("weight of the level term mean((O - P)^2): 'perceptual' (default, 0.3) keeps the "
               "proposal's structure and most of its light; 0 or 'paper' = the paper's "
               "objective (with --boundary zero); larger = closer to the clip")
_BOUNDARY_HELP = ("image border of the Sobel filter: reflection (default: no dark frame or edge "
                  "stripes) or zero padding (the paper's)")


#: API parameter -> the command-line option that sets it, for messages
_OPTION_NAMES = {"tol": "--tol", "reg_weight": "--reg-weight", "maxiter": "--maxiter",
                 "max_memory": "--max-memory", "level_weight": "--level-weight",
                 "level_weights": "--level-weights", "alpha": "--alpha",
                 "patch_size": "--patch", "boundary": "--boundary",
                 "regularizer": "--regularizer", "method": "--solver", "methods": "--methods",
                 "budget": "--budget", "budget_iterations": "--budget-iterations"}


def _cli_message(message):
    """An API error message with the parameter it names spelled as the option the user typed."""
    head, sep, rest = message.partition(" ")
    return _OPTION_NAMES.get(head, head) + sep + rest


def _parser():
    from . import __version__

    p = argparse.ArgumentParser(
        prog="gradfusion",
        description="Gradient-domain image synthesis for optical see-through displays: solve for "
                    "the residual to display, compare methods, sweep the level weight, run a demo.",
        epilog="gradfusion COMMAND --help describes each command. Exit status: 0 done, 1 solve "
               "stopped before its tolerance, 2 user error, 130 interrupted.")
    p.add_argument("--version", action="version", version=f"gradfusion {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("solve", help="solve for the residual of one (input, proposal) pair")
    s.add_argument("input", help="scene image I (PNG/TIFF/JPEG)")
    s.add_argument("proposal", help="proposal image P, same size")
    s.add_argument("--alpha", type=_alpha, required=True,
                   help=_ALPHA_HELP)
    s.add_argument("-o", "--output", required=True, help="output image O (.png/.tif)")
    s.add_argument("--residual", help="also write the residual R (.png/.tif)")
    s.add_argument("--x0", help="warm start: a residual image from a previous solve")
    s.add_argument("--bits", type=int, choices=(8, 16), default=None,
                   help="bit depth of the written files (default: 16 for 16-bit inputs, else 8)")
    _add_solve_options(s, "refuse problems whose estimated peak memory exceeds this, e.g. 4GB "
                          "(default: GRADFUSION_MAX_MEMORY or 80%% of the available memory)")
    s.add_argument("--overwrite", action="store_true", help="replace existing output files")
    s.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    e = sub.add_parser("evaluate", help="run every method on one pair: metric table and figure")
    e.add_argument("input", help="scene image I (PNG/TIFF/JPEG)")
    e.add_argument("proposal", help="proposal image P, same size")
    e.add_argument("--alpha", type=_alpha, required=True,
                   help=_ALPHA_HELP)
    e.add_argument("--patch", type=int, default=None,
                   help="average PSNR/SSIM/GMSD/LPIPS over KxK patches (paper: 150 or 100)")
    e.add_argument("--partial", choices=("drop", "shift"), default="drop",
                   help="border strips narrower than a patch: drop, or shift the last patch")
    e.add_argument("--normalize", choices=("none", "global", "patch"), default="none",
                   help="min-max normalise proposal and outputs before the metrics")
    e.add_argument("--methods", default="heuristic,stay_positive,stay_positive_pixels,gradfusion",
                   help="comma-separated methods (default: %(default)s)")
    e.add_argument("--level-weight", type=_level_weight, default=None,
                   help="add a gradfusion row solved with this level weight (a number, "
                        "'perceptual' or 'paper': the paper's objective, zero-padded) beside "
                        "the default solve")
    e.add_argument("--boundary", choices=("reflect", "zero"), default="reflect",
                   help=_BOUNDARY_HELP + "; also the border of the gradient-error column")
    e.add_argument("--lpips", choices=("auto", "on", "off"), default="auto",
                   help="LPIPS column: when available (default), required, or never")
    e.add_argument("--lpips-net", choices=("alex", "vgg", "squeeze"), default="alex",
                   help="LPIPS backbone network (default %(default)s)")
    e.add_argument("--out", help="folder for table.csv, table.json, figure.png and the outputs")
    e.add_argument("--overwrite", action="store_true", help="replace existing files in --out")

    t = sub.add_parser("tradeoff", help="solve along a sweep of level weights: table, curve, outputs")
    t.add_argument("input", help="scene image I (PNG/TIFF/JPEG)")
    t.add_argument("proposal", help="proposal image P, same size")
    t.add_argument("--alpha", type=_alpha, required=True,
                   help=_ALPHA_HELP)
    t.add_argument("--out", required=True,
                   help="folder for table.csv, table.json, curve.png and one output per weight")
    t.add_argument("--level-weights", type=_level_weights, default=None,
                   help="comma-separated weights (default 0,0.01,0.03,0.1,0.3,1,3,10; 0 and the "
                        "clip are always included)")
    t.add_argument("--patch", type=int, default=None,
                   help="average PSNR/SSIM/GMSD over KxK patches (paper: 150 or 100)")
    t.add_argument("--partial", choices=("drop", "shift"), default="drop",
                   help="border strips narrower than a patch: drop, or shift the last patch")
    t.add_argument("--boundary", choices=("reflect", "zero"), default="reflect",
                   help=_BOUNDARY_HELP + "; the 0 weight is the paper's objective, zero-padded")
    t.add_argument("--float32", action="store_true", help="solve in single precision")
    t.add_argument("--overwrite", action="store_true", help="replace existing files in --out")

    d = sub.add_parser("demo", help="end-to-end run on a photograph bundled with scikit-image")
    d.add_argument("--out", default="gradfusion-demo", help="output folder (default %(default)s)")
    d.add_argument("--image", default="astronaut", choices=("astronaut", "coffee", "chelsea", "rocket"),
                   help="scikit-image sample photograph (default %(default)s)")
    d.add_argument("--alpha", type=float, default=0.7,
                   help="combiner transmission in (0, 1) (default %(default)s)")
    d.add_argument("--overwrite", action="store_true", help="replace existing files in --out")

    b = sub.add_parser("batch", help="solve every pair of two folders, resumably, on local cores "
                                     "or a Dask cluster")
    b.add_argument("input_dir", help="folder of scene images I")
    b.add_argument("proposal_dir", help="folder of proposals P, paired with the inputs by name")
    b.add_argument("out_dir", help="folder for the outputs, manifest.csv and manifest.json")
    b.add_argument("--alpha", type=_alpha, required=True,
                   help=_ALPHA_HELP)
    b.add_argument("--pattern", default="{stem}",
                   help="proposal file name (without extension) for an input named {stem}, "
                        "e.g. '{stem}_night' (default %(default)s)")
    b.add_argument("--suffix", default="", help="appended to the input's name in the output's")
    b.add_argument("--format", choices=("png", "tif"), default="png",
                   help="output format (default %(default)s)")
    b.add_argument("--bits", type=int, choices=(8, 16), default=None,
                   help="bit depth of the outputs (default: 16 for 16-bit inputs, else 8)")
    b.add_argument("--workers", type=int, default=None,
                   help="pairs solved at once on this machine (default: its cores; fewer when "
                        "they would not fit the memory limit together)")
    b.add_argument("--backend", choices=("auto", "processes", "threads"), default="auto",
                   help="local pool (default: threads; processes under the workqueue threading "
                        "layer)")
    b.add_argument("--scheduler", default=None,
                   help="run on Dask: tcp://HOST:PORT of a running scheduler, or local:N to start "
                        "a local cluster of N worker processes (needs gradfusion[dask])")
    b.add_argument("--force", action="store_true",
                   help="redo every pair, even those the manifest records as done")
    _add_solve_options(b, "memory limit of the pairs solved at once together, e.g. 4GB "
                          "(default: GRADFUSION_MAX_MEMORY or the available memory)")
    b.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    vd = sub.add_parser("video", help="solve a sequence of frames, each warm-started from the "
                                      "previous one")
    vd.add_argument("input", help="scene frames I: a video file (needs gradfusion[video]) or a "
                                  "folder of images")
    vd.add_argument("proposal", help="proposal frames P: a video file or a folder, same size "
                                     "and number of frames")
    vd.add_argument("--alpha", type=_alpha, required=True,
                    help="combiner transmission in (0, 1), or one value per channel")
    vd.add_argument("-o", "--output", required=True,
                    help="output frames O: a video file (.mp4, .mkv, .mov, .avi, .webm) or a "
                         "folder (000000.png, ...)")
    vd.add_argument("--residual", help="also write the residuals R (a video file or a folder)")
    vd.add_argument("--motion", choices=("none", "translation"), default="none",
                    help="how the previous residual starts the next frame: as it is (none, "
                         "default) or moved by the translation estimated between the input "
                         "frames")
    vd.add_argument("--budget", type=float, default=None,
                    help="seconds per frame (e.g. 0.033 for 30 fps): a frame stops when its time "
                         "is spent and the next continues from it")
    vd.add_argument("--budget-iterations", type=int, default=None,
                    help="iterations per frame (a budget independent of the machine)")
    vd.add_argument("--fps", type=float, default=None,
                    help="frame rate of a video output (default: the input video's, else 30)")
    vd.add_argument("--bits", type=int, choices=(8, 16), default=8,
                    help="bit depth of a folder's PNG frames (video files are 8-bit)")
    _add_solve_options(vd, "refuse frames whose estimated peak memory exceeds this, e.g. 4GB "
                           "(default: GRADFUSION_MAX_MEMORY or 80%% of the available memory)")
    vd.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    vd.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    return p


def _add_solve_options(parser, max_memory_help):
    """The options that ``solve`` and ``batch`` pass to :func:`gradfusion.solve`."""
    from . import DEFAULT_REG_WEIGHT

    parser.add_argument("--level-weight", type=_level_weight, default="perceptual",
                        help=_LEVEL_HELP)
    parser.add_argument("--reg-weight", type=float, default=DEFAULT_REG_WEIGHT,
                        help="weight of the regulariser relative to the Sobel term "
                             "(default %(default)s)")
    parser.add_argument("--regularizer", choices=("nyquist", "gradient", "none"),
                        default="nyquist",
                        help="regulariser of the Sobel blind spot: second differences (nyquist, "
                             "default), first differences (gradient) or none (the paper's bare "
                             "objective)")
    parser.add_argument("--boundary", choices=("reflect", "zero"), default="reflect",
                        help=_BOUNDARY_HELP)
    parser.add_argument("--tol", type=float, default=None,
                        help="relative objective gap to stop at (default 1e-6)")
    parser.add_argument("--maxiter", type=int, default=None,
                        help="iteration limit per scale (default: the library's)")
    parser.add_argument("--max-memory", default=None, help=max_memory_help)
    parser.add_argument("--solver", choices=("auto", "active-set", "mprgp"), default="auto",
                        help="bound-constrained solver (default %(default)s: active-set, or "
                             "mprgp on images of at most 256x256 pixels)")
    parser.add_argument("--float32", action="store_true", help="solve in single precision")


def _solve_options(args):
    """``solve``'s keyword arguments from the options of :func:`_add_solve_options`."""
    options = dict(level_weight=args.level_weight, reg_weight=args.reg_weight,
                   regularizer=None if args.regularizer == "none" else args.regularizer,
                   boundary=args.boundary, tol=args.tol, method=args.solver)
    if args.maxiter is not None:
        options["maxiter"] = args.maxiter
    return options


def _same_file(a, b):
    """The same file, through symbolic or hard links too."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_outputs(inputs, outputs, overwrite):
    for out in outputs:
        if out is None:
            continue
        if any(_same_file(out, x) for x in inputs if x):
            raise UsageError(f"{out}: refusing to overwrite an input file")
        if os.path.exists(out) and not overwrite:
            raise UsageError(f"{out}: exists; pass --overwrite to replace it")
    named = [os.path.realpath(o) for o in outputs if o]
    if len(set(named)) != len(named):
        raise UsageError("--output and --residual name the same file")
    for out in outputs:
        folder = os.path.dirname(os.path.abspath(out)) if out else None
        if folder and os.path.exists(folder) and not os.path.isdir(folder):
            raise UsageError(f"{out}: {folder} is a file, not a folder")


def _read(path):
    """An input image, its values checked with the file named in the message."""
    from . import _validation, io

    image = io.read_image(path)
    if image.dtype.kind == "f":
        _validation.check_image(image, path)
    return image


def _cmd_solve(args):
    from . import _jit, _validation, io, solve

    _check_outputs([args.input, args.proposal, args.x0], [args.output, args.residual],
                   args.overwrite)
    for out in (args.output, args.residual):
        if out and os.path.splitext(out)[1].lower() not in io.WRITABLE_SUFFIXES:
            raise UsageError(f"{out}: output must end in one of {', '.join(io.WRITABLE_SUFFIXES)}")
    I = _read(args.input)
    P = _read(args.proposal)
    if I.shape != P.shape:
        raise UsageError(f"{args.proposal}: size {P.shape} differs from {args.input}: {I.shape}")
    x0 = None
    if args.x0:
        x0 = _read(args.x0)
        if x0.shape != I.shape:
            raise UsageError(f"{args.x0}: size {x0.shape} differs from {args.input}: {I.shape}")
        x0 = _validation.to_float(x0)
    bits = args.bits or (16 if I.dtype == np.uint16 else 8)
    if args.float32:
        I, P = (np.asarray(_validation.to_float(a), np.float32) for a in (I, P))
    compiling = _jit.compile_seconds()
    result = solve(I, P, args.alpha, x0=x0, max_memory=args.max_memory,
                   progress=not args.no_progress and sys.stderr.isatty(), **_solve_options(args))
    compiling = _jit.compile_seconds() - compiling
    outputs = [(args.output, result.output)]
    if args.residual:
        outputs.append((args.residual, result.residual))
    for path, _ in outputs:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    io.write_images(outputs, bits=bits, overwrite=args.overwrite)   # both files or neither
    print(f"objective {result.fun:.6e}  bare objective {result.bare_objective:.6e}  "
          f"level error {result.level_error:.3e}  "
          f"gap {result.gap:.1e}  iterations {result.nit} ({result.method})  "
          f"time {result.time:.2f} s{_compile_note(compiling)}  ({result.message})")
    return 0 if result.success else 1


def _compile_note(seconds):
    """`` (8.1 s of it compiling kernels: first run only)`` when a call compiled."""
    return f" ({seconds:.1f} s of it compiling kernels: first run only)" if seconds >= 0.05 else ""


def _cmd_evaluate(args):
    from . import io
    from .evaluation import comparison_figure, evaluate

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    files = {}
    if args.out:
        names = ["table.csv", "table.json", "figure.png"] + [f"{m}.png" for m in methods]
        if args.level_weight is not None:
            names.append(_level_file(args.level_weight))
        files = _prepare_folder(args.out, names, [args.input, args.proposal], args.overwrite)
    I, P = _read_pair(args.input, args.proposal)
    ev = evaluate(I, P, args.alpha, methods=methods, patch_size=args.patch,
                  partial=args.partial, normalize=None if args.normalize == "none" else args.normalize,
                  lpips={"auto": "auto", "on": True, "off": False}[args.lpips],
                  lpips_net=args.lpips_net, level_weight=args.level_weight, boundary=args.boundary)
    print(ev.format_table())
    if args.out:
        _make_folder(args.out)
        bits = 16 if I.dtype == np.uint16 else 8
        io.write_text(files["table.csv"], ev.to_csv(), overwrite=args.overwrite)
        io.write_text(files["table.json"], ev.to_json() + "\n", overwrite=args.overwrite)
        figure = comparison_figure({"input": I, "proposal": P, **ev.outputs})
        io.write_image(files["figure.png"], figure, overwrite=args.overwrite)
        for m, O in ev.outputs.items():
            name = f"{m}.png" if m in methods else _level_file(args.level_weight)
            io.write_image(files[name], O, bits=bits, overwrite=args.overwrite)
        print(f"wrote {', '.join(sorted(files))} to {args.out}")
    return 0


def _level_file(level_weight):
    """File name of the evaluate row solved at ``--level-weight``."""
    return (f"gradfusion-{level_weight}.png" if isinstance(level_weight, str)
            else f"gradfusion-lam{level_weight:g}.png")


def _prepare_folder(out, names, inputs, overwrite):
    """``{name: path}`` in the folder ``out``, checked before any work; the folder itself is
    made by :func:`_make_folder` once there is something to write (a failed run leaves no
    empty folder behind)."""
    files = {n: os.path.join(out, n) for n in names}
    _check_outputs(inputs, list(files.values()), overwrite)
    return files


def _make_folder(out):
    os.makedirs(out, exist_ok=True)


def _read_pair(input_path, proposal_path):
    I = _read(input_path)
    P = _read(proposal_path)
    if I.shape != P.shape:
        raise UsageError(f"{proposal_path}: size {P.shape} differs from {input_path}: {I.shape}")
    return I, P


def _sweep_file(level_weight):
    """File name of one tradeoff row's output."""
    if level_weight == 0:
        return "paper.png"
    return "clip.png" if math.isinf(level_weight) else f"lam{level_weight:g}.png"


def _curve_figure(result):
    """The trade-off curves (PSNR against SSIM and against GMSD) as an RGB uint8 array."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100, layout="constrained")
    result.plot("ssim", ax=axes[0])
    result.plot("gmsd", ax=axes[1])
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def _cmd_tradeoff(args):
    from . import _validation, io
    from .sweep import sweep_weights, tradeoff

    weights = sweep_weights(args.level_weights)
    try:
        import matplotlib  # noqa: F401
        curve = True
    except ImportError:
        curve = False
    names = ["table.csv", "table.json"] + (["curve.png"] if curve else []) \
        + [_sweep_file(w) for w in weights + [math.inf]]
    files = _prepare_folder(args.out, names, [args.input, args.proposal], args.overwrite)
    I, P = _read_pair(args.input, args.proposal)
    bits = 16 if I.dtype == np.uint16 else 8
    if args.float32:
        I, P = (np.asarray(_validation.to_float(a), np.float32) for a in (I, P))
    result = tradeoff(I, P, args.alpha, weights, patch_size=args.patch, partial=args.partial,
                      boundary=args.boundary)
    print(result.format_table())
    _make_folder(args.out)
    io.write_text(files["table.csv"], result.to_csv(), overwrite=args.overwrite)
    io.write_text(files["table.json"], result.to_json() + "\n", overwrite=args.overwrite)
    for row, O in zip(result.rows, result.outputs):
        io.write_image(files[_sweep_file(row["level_weight"])], O, bits=bits,
                       overwrite=args.overwrite)
    if curve:
        io.write_image(files["curve.png"], _curve_figure(result), overwrite=args.overwrite)
    print(f"wrote {', '.join(sorted(files))} to {args.out}")
    if not curve:
        print("no curve.png: drawing it needs matplotlib (pip install 'gradfusion[plot]')")
    return 0


def _cmd_demo(args):
    from .demo import run_demo

    if not 0.0 < args.alpha < 1.0:
        raise UsageError(f"--alpha must lie in (0, 1), got {args.alpha}")
    run_demo(args.out, image=args.image, alpha=args.alpha, overwrite=args.overwrite)
    return 0


def _batch_scheduler(scheduler):
    """Check ``--scheduler`` without connecting: dask importable, the form tcp://HOST:PORT or
    local:N. Returns N for local:N, else None. Called before OUT_DIR is made."""
    from .batch import DaskUnavailableError, require_dask

    try:
        require_dask()
    except DaskUnavailableError as exc:
        raise UsageError(f"--scheduler: {exc}") from None
    if scheduler.startswith("local:"):
        try:
            n = int(scheduler[len("local:"):])
        except ValueError:
            n = 0
        if n < 1:
            raise UsageError(f"--scheduler local:N needs a positive N, got {scheduler!r}")
        return n
    if "://" not in scheduler:
        raise UsageError(f"--scheduler must be tcp://HOST:PORT or local:N, got {scheduler!r}")
    return None


def _batch_client(scheduler, n):
    """``(client, cluster)`` for ``--scheduler``, checked by :func:`_batch_scheduler` (``n``
    its result: the workers of local:N, None for a remote scheduler, which has no cluster)."""
    from distributed import Client, LocalCluster

    if n is not None:
        import logging

        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="20s"), None
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc})") from None


def _close_client(client, cluster):
    """Close ``--scheduler``'s client and local cluster; whether there was a local cluster."""
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()
    return cluster is not None


def _cmd_batch(args):
    import signal

    from ._batch import _folder
    from .batch import solve_many

    for folder, option in ((args.input_dir, "INPUT_DIR"), (args.proposal_dir, "PROPOSAL_DIR")):
        if not os.path.isdir(folder):
            raise UsageError(f"{folder}: {option} is not a folder")
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise UsageError(f"{args.out_dir}: OUT_DIR is a file, not a folder")
    if any(os.path.exists(args.out_dir) and _same_file(args.out_dir, d)
           for d in (args.input_dir, args.proposal_dir)):
        raise UsageError(f"{args.out_dir}: OUT_DIR must differ from INPUT_DIR and PROPOSAL_DIR")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {args.workers}")
    if args.scheduler and (args.workers is not None or args.backend != "auto"):
        raise UsageError("--workers and --backend are for local runs; with --scheduler the "
                         "cluster's workers are used")
    local_workers = _batch_scheduler(args.scheduler) if args.scheduler else None  # before OUT_DIR
    try:
        pairs, unpaired, orphans = _folder.pair_folders(args.input_dir, args.proposal_dir,
                                                        args.pattern)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for path in unpaired:
        print(f"gradfusion: unpaired input (no proposal named "
              f"{args.pattern.replace('{stem}', os.path.splitext(os.path.basename(path))[0])}): "
              f"{path}", file=sys.stderr)
    for path in orphans:
        print(f"gradfusion: unpaired proposal: {path}", file=sys.stderr)
    if not pairs:
        raise UsageError(f"no pairs: no file of {args.input_dir} has a proposal in "
                         f"{args.proposal_dir} named by --pattern {args.pattern!r}")
    options = _solve_options(args)
    settings = dict(alpha=getattr(args.alpha, "path", args.alpha), pattern=args.pattern, suffix=args.suffix, format=args.format,
                    bits=args.bits, float32=args.float32, **options)
    manifest = _folder.Manifest(args.out_dir, settings)     # OUT_DIR may not exist yet
    previous = None if args.force else manifest.load()
    if previous is not None and previous != json_settings(settings):
        changed = sorted(k for k in set(previous) | set(settings)
                         if previous.get(k) != json_settings(settings).get(k))
        raise UsageError(f"{manifest.json_path}: made with other settings ({', '.join(changed)}); "
                         "pass --force to redo every pair, or choose another OUT_DIR")
    todo, keys, skipped = [], {}, 0
    for stem, input_path, proposal_path in pairs:
        name = f"{stem}{args.suffix}.{args.format}"
        out = os.path.join(args.out_dir, name)
        if any(_same_file(out, x) for x in (input_path, proposal_path)):
            raise UsageError(f"{out}: refusing to overwrite an input file")
        if manifest.done(input_path, proposal_path, name):
            skipped += 1
            continue
        if os.path.exists(out) and previous is None and not args.force:
            raise UsageError(f"{out}: exists and {args.out_dir} has no manifest; pass --force "
                             "to replace it")
        todo.append((input_path, proposal_path, out))
        keys[out] = (_folder.file_key(input_path), _folder.file_key(proposal_path))
    if skipped:
        print(f"gradfusion: {skipped} of {len(pairs)} pairs done before (manifest, inputs "
              f"unchanged): skipped; --force redoes them", file=sys.stderr)
    client = cluster = None
    if args.scheduler:
        client, cluster = _batch_client(args.scheduler, local_workers)  # refused: no OUT_DIR
    try:
        os.makedirs(args.out_dir, exist_ok=True)
    except BaseException:
        _close_client(client, cluster)
        raise

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    counts = {"ok": 0, "unconverged": 0, "failed": 0}
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), unit="pair", dynamic_ncols=True,
               disable=args.no_progress or not sys.stderr.isatty())
    results = _no_results()
    try:
        results = solve_many(todo, args.alpha, client=client, workers=args.workers,
                             backend=args.backend, as_completed=True, max_memory=args.max_memory,
                             bits=args.bits, overwrite=True, float32=args.float32, **options)
        for pair in results:
            counts[pair.outcome] += 1
            manifest.record(pair, *keys[pair.output])
            manifest.save()
            if pair.error:
                bar.write(f"gradfusion: failed: {pair.input}: {pair.error}", file=sys.stderr)
            bar.set_postfix(failed=counts["failed"], refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        manifest.save(force=True)
        print(f"gradfusion: stopped after {sum(counts.values())} of {len(todo)} pairs "
              f"(manifest saved); run the same command again to resume", file=sys.stderr)
        raise
    finally:
        results.close()          # stops the pairs still running (nothing is half-written)
        bar.close()
        signal.signal(signal.SIGTERM, previous_handler)
        manifest.dirty = manifest.dirty or not os.path.exists(manifest.json_path)
        manifest.save(force=True)
        if _close_client(client, cluster):
            _remove_orphans(args.out_dir)
    print(f"solved {counts['ok'] + counts['unconverged']} pairs ({counts['unconverged']} stopped "
          f"before the tolerance), {counts['failed']} failed, {skipped} skipped; "
          f"manifest: {manifest.csv_path}")
    return 0 if counts["failed"] == counts["unconverged"] == 0 else 1


def _cmd_video(args):
    from . import _validation, video

    for path, name in ((args.input, "INPUT"), (args.proposal, "PROPOSAL")):
        if not os.path.exists(path):
            raise UsageError(f"{path}: {name}: no such file or folder")
    _check_outputs([args.input, args.proposal], [args.output, args.residual], args.overwrite)
    images = video.read_frames(args.input)
    proposals = video.read_frames(args.proposal)
    fps = args.fps or video.frame_rate(args.input) or 30.0
    if args.float32:
        images, proposals = ((np.asarray(_validation.to_float(a), np.float32) for a in frames)
                             for frames in (images, proposals))
    results = video.solve_sequence(
        images, proposals, args.alpha,
        motion=None if args.motion == "none" else args.motion, budget=args.budget,
        budget_iterations=args.budget_iterations, max_memory=args.max_memory,
        **_solve_options(args))
    from tqdm.auto import tqdm

    bar = tqdm(unit="frame", dynamic_ncols=True,
               disable=args.no_progress or not sys.stderr.isatty())
    times, gaps, stopped, within, unconverged = [], [], 0, 0, 0
    writers = [video.FrameWriter(args.output, fps=fps, bits=args.bits, overwrite=args.overwrite)]
    try:
        if args.residual:
            writers.append(video.FrameWriter(args.residual, fps=fps, bits=args.bits,
                                             overwrite=args.overwrite))
        for r in results:
            writers[0].write(r.output)
            if args.residual:
                writers[1].write(r.residual)
            times.append(r.time)
            gaps.append(r.gap)
            stopped += r.budget_status == "stopped"
            within += r.within_budget
            unconverged += r.budget_status == "unlimited" and not r.success
            bar.set_postfix_str(f"gap {r.gap:.1e}" if np.isfinite(r.gap)
                                else f"stopped, optimality {r.optimality:.1e}", refresh=False)
            bar.update(1)
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        bar.close()
    for w in writers:
        w.close()
    n = len(times)
    budget = ""
    if args.budget is not None or args.budget_iterations is not None:
        budget = f"; {within} of {n} within budget, {stopped} stopped by it"
    print(f"{n} frames: time per frame median {np.median(times):.3f} s, max {max(times):.3f} s; "
          f"{_gap_summary(gaps)}{budget}; wrote "
          f"{args.output}" + (f" and {args.residual}" if args.residual else ""))
    return 1 if unconverged else 0


def _gap_summary(gaps):
    """The frames' gap estimates in the video summary (a frame stopped by a time budget has
    none: NaN)."""
    known = [g for g in gaps if np.isfinite(g)]
    if not known:
        return "no gap estimates (every frame stopped by the budget)"
    text = f"gap median {np.median(known):.1e}, max {max(known):.1e}"
    return text if len(known) == len(gaps) else f"{text} over the {len(known)} frames with one"


def _no_results():
    yield from ()


def json_settings(settings):
    """Settings as they read back from the manifest's JSON (tuples become lists)."""
    import json

    return json.loads(json.dumps(settings))


def _remove_orphans(folder):
    """Temporaries of writes cut short when a local Dask cluster's workers were stopped."""
    for name in os.listdir(folder):
        if name.startswith(".gradfusion-"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"gradfusion: warning: {message}", file=sys.stderr)


#: the package's folder: errors raised by its own code are the messages written for users
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _raised_by_gradfusion(exc):
    """Whether ``exc`` was raised by gradfusion's own code (the innermost frame of its traceback
    is in the package): the library's argument checks, whose messages are written for users.
    A ValueError or TypeError raised inside NumPy, SciPy, Numba or the standard library while
    gradfusion was working is a bug of the library, which the command must not report as a
    user error (exit 2) but let through with its traceback."""
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR)


def main(argv=None):
    """Entry point of the ``gradfusion`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 when ``solve`` did not reach its tolerance, 2 on a
        user error (reported as one line on stderr), 130 when interrupted
        (Ctrl-C: one line, no partial file). ``--help`` and argument
        errors exit through :class:`SystemExit` as argparse does. A
        ``ValueError`` or ``TypeError`` raised inside a dependency rather than
        by gradfusion's own checks is a bug: it propagates with its traceback.
    """
    args = _parser().parse_args(argv)
    from ._memory import MemoryLimitError
    from .io import ImageFileError
    from .metrics import LPIPSUnavailableError
    from .video import VideoUnavailableError

    command = {"solve": _cmd_solve, "evaluate": _cmd_evaluate, "tradeoff": _cmd_tradeoff,
               "demo": _cmd_demo, "batch": _cmd_batch, "video": _cmd_video}
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return command[args.command](args)
        except (UsageError, ImageFileError, LPIPSUnavailableError, VideoUnavailableError,
                ValueError, TypeError, MemoryLimitError, OSError) as exc:
            if isinstance(exc, (ValueError, TypeError)) and not _raised_by_gradfusion(exc):
                raise             # a library bug, not the user's fault: keep the traceback
            message = _cli_message(" ".join(str(exc).splitlines()))
            print(f"gradfusion: error: {message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("gradfusion: interrupted", file=sys.stderr)     # outputs are atomic: none left
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
