"""The level-weight trade-off over many pairs: the table behind docs/levels.md.

Runs :func:`gradfusion.tradeoff` on every pair at every alpha and prints, per
level weight, the mean PSNR, SSIM, GMSD, bare objective (and its ratio to the
clip's), the share of pairs where the setting beats the clip on SSIM and on
GMSD, and the sweep's time beside one default solve. Pairs: real
(input, proposal) pairs (``--glob``/``--pair`` as in ``bench_evaluate.py``)
and real photographs with proposals derived from them (``--photo``: a
night look and a dusk look, see :func:`derived_proposals`)::

    python bench/bench_levels.py \\
        --glob '../shared/data/hidt_interp/*_night.png' \\
        --glob '../shared/data/hidt_interp/*_sunset.png' --input-replace-regex '_(night|sunset)' _input \\
        --pair ../shared/data/staypositive_demo/demoA_input.png \\
               ../shared/data/staypositive_demo/demoB_proposal.png \\
        --photo '../shared/data/hidt_daytime/*.jpg' \\
        --alpha 0.7 --alpha 0.5 --patch-size 150 --json levels.json --figure levels.png

``--from-json levels.json --figure levels.png`` redraws the table and the figure
(the mean trade-off curve per alpha, PSNR against SSIM and GMSD: the figure of
docs/levels.md) from a saved run without solving again.
"""

import argparse
import glob
import json
import math
import os
import re
import sys
import time

import numpy as np


def derived_proposals(photo):
    """Two looks an image-to-image method might propose for a daytime photograph.

    ``night``: darker (gamma 1.8, x0.45) and blue-shifted; ``dusk``: gamma 1.4 and a
    warm cast. Both need pixels darker than ``alpha I`` at usual alphas.
    """
    x = photo.astype(np.float64)
    night = np.clip(0.45 * x ** 1.8 * np.array([0.75, 0.85, 1.15]), 0, 1)
    dusk = np.clip(x ** 1.4 * np.array([1.0, 0.72, 0.5]), 0, 1)
    return {"night": night, "dusk": dusk}


def add_pair_arguments(ap):
    """The options :func:`file_pairs` reads: ``--glob``, ``--input-replace-regex``, ``--pair``."""
    ap.add_argument("--glob", action="append")
    ap.add_argument("--input-replace-regex", nargs=2, default=("_proposal", "_input"))
    ap.add_argument("--pair", nargs=2, action="append")


def file_pairs(args, channels=None):
    """``(name, image, proposal)`` of every ``--pair`` and of every proposal matched by a
    ``--glob`` (its input found by ``--input-replace-regex``); ``channels``: keep that many
    leading channels of colour images (3 drops an alpha channel)."""
    from gradfusion import io

    def read(path):
        x = io.read_image(path)
        return x[..., :channels] if channels and x.ndim == 3 else x

    pairs = []
    for image, proposal in [tuple(p) for p in args.pair or []]:
        pairs.append((os.path.basename(proposal), read(image), read(proposal)))
    old, new = args.input_replace_regex
    for pattern in args.glob or []:
        for proposal in sorted(glob.glob(pattern)):
            image = os.path.join(os.path.dirname(proposal),
                                 re.sub(old, new, os.path.basename(proposal)))
            pairs.append((os.path.basename(proposal), read(image), read(proposal)))
    return pairs


def load_pairs(args):
    from gradfusion import io
    from skimage.transform import resize

    pairs = file_pairs(args)
    for pattern in args.photo or []:
        for path in sorted(glob.glob(pattern)):
            x = io.read_image(path)
            x = x[..., :3] if x.ndim == 3 else np.repeat(x[..., None], 3, axis=2)
            scale = args.photo_width / x.shape[1]
            if scale < 1:
                x = resize(x, (round(x.shape[0] * scale), args.photo_width), anti_aliasing=True)
            x = np.clip(x, 0, 1)
            for look, P in derived_proposals(x).items():
                pairs.append((f"{os.path.basename(path)}:{look}", x, P))
    if not pairs:
        sys.exit("bench_levels: no pairs (give --glob, --pair or --photo)")
    return pairs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pair_arguments(ap)
    ap.add_argument("--photo", action="append", help="glob of photographs (derived proposals)")
    ap.add_argument("--photo-width", type=int, default=768)
    ap.add_argument("--alpha", type=float, action="append")
    ap.add_argument("--patch-size", type=int, default=150)
    ap.add_argument("--partial", default="shift")
    ap.add_argument("--weights", type=float, nargs="+", default=None)
    ap.add_argument("--boundary", default=None,
                    help="solve's boundary for every solve (default: solve's default)")
    ap.add_argument("--json", help="write every pair's table here")
    ap.add_argument("--figure", help="draw the mean trade-off curves into this PNG (matplotlib)")
    ap.add_argument("--from-json", help="summarise (and draw) a saved --json run; no solving")
    args = ap.parse_args(argv)

    if args.from_json:
        with open(args.from_json) as f:
            records = json.load(f)
        for r in records:
            r["rows"][-1]["level_weight"] = math.inf         # the clip, saved as null
        summarize(records)
        if args.figure:
            draw(records, args.figure)
        return

    import gradfusion

    pairs = load_pairs(args)
    alphas = args.alpha or [0.7]
    records = []
    for name, I, P in pairs:
        for alpha in alphas:
            t = time.perf_counter()
            options = {} if args.boundary is None else {"boundary": args.boundary}
            one = gradfusion.solve(I, P, alpha, **options)
            t_one = time.perf_counter() - t
            t = time.perf_counter()
            tr = gradfusion.tradeoff(I, P, alpha, args.weights, patch_size=args.patch_size,
                                     partial=args.partial, **options)
            t_sweep = time.perf_counter() - t
            records.append({"pair": name, "alpha": alpha, "shape": list(I.shape),
                            "boundary": args.boundary,
                            "one_solve_time": t_one, "sweep_time": t_sweep,
                            "sweep_solve_time": tr.settings["total_time"],
                            "one_solve_nit": int(one.nit),
                            "one_solve_nmatvec": int(one.nmatvec), "rows": tr.rows})
            print(f"{name} alpha {alpha}: one solve {t_one:.2f} s, sweep of "
                  f"{len(tr.rows) - 1} solves {tr.settings['total_time']:.2f} s "
                  f"(+ metrics {t_sweep - tr.settings['total_time']:.2f} s)", flush=True)
    summarize(records)
    if args.figure:
        draw(records, args.figure)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1,
                      default=lambda x: None if isinstance(x, float) and math.isinf(x) else x)


def summarize(records):
    """Mean table per level weight, per alpha and over all."""
    for alpha in sorted({r["alpha"] for r in records}) + [None]:
        sel = [r for r in records if alpha is None or r["alpha"] == alpha]
        title = "all alphas" if alpha is None else f"alpha {alpha}"
        print(f"\n== {title}: {len(sel)} pairs ==")
        print(f"{'setting':16} {'PSNR':>6} {'SSIM':>7} {'GMSD':>7} {'bare':>9} {'xclip':>6} "
              f"{'SSIM>clip':>9} {'GMSD<clip':>9}")
        n_rows = len(sel[0]["rows"])
        for k in range(n_rows):
            rows = [r["rows"][k] for r in sel]
            clips = [r["rows"][-1] for r in sel]
            mean = {key: float(np.mean([x[key] for x in rows]))
                    for key in ("psnr", "ssim", "gmsd", "bare_objective")}
            ratio = float(np.mean([x["bare_objective"] / c["bare_objective"]
                                   for x, c in zip(rows, clips)]))
            ssim_wins = np.mean([x["ssim"] > c["ssim"] for x, c in zip(rows, clips)])
            gmsd_wins = np.mean([x["gmsd"] < c["gmsd"] for x, c in zip(rows, clips)])
            print(f"{rows[0]['setting']:16} {mean['psnr']:6.2f} {mean['ssim']:7.4f} "
                  f"{mean['gmsd']:7.4f} {mean['bare_objective']:9.3e} {ratio:6.2f} "
                  f"{ssim_wins:9.2f} {gmsd_wins:9.2f}")
        ratio = np.mean([r["sweep_solve_time"] / r["one_solve_time"] for r in sel])
        print(f"sweep solve time / one default solve: mean {ratio:.2f}x")
        with_products = [r for r in sel if "one_solve_nmatvec" in r]     # older JSON lacks it
        if with_products:
            cost = [sum(x.get("nmatvec", 0) for x in r["rows"]) / r["one_solve_nmatvec"]
                    for r in with_products]
            print(f"sweep Hessian products / one default solve's: mean {np.mean(cost):.2f}x "
                  f"(range {min(cost):.2f}-{max(cost):.2f}x; time is noisy, products are not)")


def mean_curve(records, alpha):
    """``(weights, mean psnr, mean ssim, mean gmsd)`` over the pairs at ``alpha``."""
    sel = [r for r in records if r["alpha"] == alpha]
    weights = [row["level_weight"] for row in sel[0]["rows"]]
    means = {key: np.array([np.mean([r["rows"][k][key] for r in sel])
                            for k in range(len(weights))]) for key in ("psnr", "ssim", "gmsd")}
    return weights, means["psnr"], means["ssim"], means["gmsd"], len(sel)


def draw(records, path):
    """The mean trade-off curve per alpha: PSNR against SSIM (left) and GMSD (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110, layout="constrained")
    alphas = sorted({r["alpha"] for r in records})
    for c, alpha in enumerate(alphas):
        weights, psnr, ssim, gmsd, n = mean_curve(records, alpha)
        for ax, y in zip(axes, (ssim, gmsd)):
            ax.plot(psnr[:-1], y[:-1], "o-", color=f"C{c}",
                    label=f"alpha {alpha}: solve, level weight ({n} pairs)")
            ax.plot(psnr[-1:], y[-1:], "s", color=f"C{c}", markersize=9, markeredgecolor="k",
                    label=f"alpha {alpha}: clip")
            for w, xi, yi in zip(weights, psnr, y):
                if w in (0.0, 0.01, 0.1, 0.3, 1.0, 10.0) or math.isinf(w):
                    text = "paper" if w == 0 else ("clip" if math.isinf(w) else f"{w:g}")
                    ax.annotate(text, (xi, yi), textcoords="offset points", xytext=(5, 4),
                                fontsize=8, fontweight="bold" if w == 0.3 else "normal")
    axes[0].set_ylabel("mean SSIM vs proposal (higher is better)")
    axes[1].set_ylabel("mean GMSD vs proposal (lower is better)")
    for ax in axes:
        ax.set_xlabel("mean PSNR vs proposal (dB): closer light levels to the right")
        ax.grid(True, alpha=0.3)
        ax.margins(0.08)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.savefig(path)
    plt.close(fig)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
