"""Reproduction harness over a folder of pairs: the paper-style table, per pair and mean.

Runs :func:`gradfusion.evaluate` (heuristic clip, StayPositive with two
parameters and with all pixels, gradfusion) on every pair, prints each pair's
table and the mean table over pairs, with each method's ratio to the
heuristic (gradient error, GMSD, time) and the number of pairs on which it
has the best value of each metric. Optionally writes every pair's figure and
the whole run as JSON.

Pairs come from ``--glob`` (proposal files; the input is the proposal's path
with ``--input-replace OLD NEW`` applied) and/or ``--pair INPUT PROPOSAL``::

    python bench/bench_evaluate.py \\
        --glob '../shared/data/hidt_interp/*_night.png' \\
        --glob '../shared/data/hidt_interp/*_sunset.png' --input-replace-regex '_(night|sunset)' _input \\
        --pair ../shared/data/staypositive_demo/demoA_input.png \\
               ../shared/data/staypositive_demo/demoB_proposal.png \\
        --alpha 0.7 --also-normalized --figures figs --json eval.json
"""

import argparse
import glob
import json
import math
import os
import re
import sys

# timed calls run compiled code only: the parallel twins of the kernels compile on their first
# use, not once they pay as by default (gradfusion._jit); set before gradfusion is imported
# (and inherited by child processes)
os.environ.setdefault("GRADFUSION_PARALLEL_COMPILE", "eager")

import numpy as np

HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "gmsd": False, "lpips": False,
                    "gradient_error": False}


def find_pairs(args):
    pairs = [tuple(p) for p in args.pair or []]
    for pattern in args.glob or []:
        for proposal in sorted(glob.glob(pattern)):
            old, new = args.input_replace_regex
            image = os.path.join(os.path.dirname(proposal),
                                 re.sub(old, new, os.path.basename(proposal)))
            if image == proposal or not os.path.exists(image):
                sys.exit(f"bench_evaluate: no input for {proposal} (looked for {image})")
            pairs.append((image, proposal))
    if not pairs:
        sys.exit("bench_evaluate: no pairs (give --glob or --pair)")
    return pairs


def normalized_rows(ev, P, patch_size, partial):
    """PSNR/SSIM/GMSD of the same outputs after global min-max normalisation."""
    from gradfusion import metrics

    kw = dict(patch_size=patch_size, partial=partial, normalize="global")
    return [{"method": r["method"], "psnr": metrics.psnr(P, ev.outputs[r["method"]], **kw),
             "ssim": metrics.ssim(P, ev.outputs[r["method"]], **kw),
             "gmsd": metrics.gmsd(P, ev.outputs[r["method"]], **kw)} for r in ev.rows]


def mean_table(per_pair, keys):
    """Mean of each key per method, and how often each method is best."""
    methods = [r["method"] for r in per_pair[0]]
    table = []
    for m in methods:
        row = {"method": m}
        for k in keys:
            vals = [r[k] for rows in per_pair for r in rows if r["method"] == m]
            if any(v is None for v in vals):
                row[k] = None
                continue
            finite = [v for v in vals if math.isfinite(v)]
            row[k] = float(np.mean(finite)) if finite else math.inf
            if k in HIGHER_IS_BETTER:
                best = 0
                for rows in per_pair:
                    col = {r["method"]: r[k] for r in rows}
                    pick = max if HIGHER_IS_BETTER[k] else min
                    best += col[m] == pick(col.values())
                row[k + "_best"] = best
        table.append(row)
    return table


def print_table(title, table, keys, ref="heuristic"):
    print(f"\n{title}")
    base = next((r for r in table if r["method"] == ref), None)
    head = f"{'method':<22}" + "".join(f"{k:>22}" for k in keys)
    print(head)
    for row in table:
        cells = []
        for k in keys:
            val = row.get(k)
            if val is None:
                cells.append(f"{'n/a':>22}")
                continue
            txt = f"{val:.4g}"
            if k + "_best" in row:
                txt += f" ({row[k + '_best']})"
            if k in ("gradient_error", "time", "gmsd") and base and base.get(k):
                txt += f" x{val / base[k]:.2f}"
            cells.append(f"{txt:>22}")
        print(f"{row['method']:<22}" + "".join(cells))


def finite(x):
    """JSON has no inf/nan: replace them by null, recursively."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--glob", action="append", help="proposal files (quote the pattern)")
    ap.add_argument("--input-replace-regex", nargs=2, metavar=("OLD", "NEW"),
                    default=("_(night|sunset)", "_input"),
                    help="regex substitution from a proposal's file name to its input's "
                         "(default: %(default)s)")
    ap.add_argument("--pair", nargs=2, action="append", metavar=("INPUT", "PROPOSAL"))
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--patch", type=int, default=None)
    ap.add_argument("--partial", choices=("drop", "shift"), default="drop")
    ap.add_argument("--methods", default="heuristic,stay_positive,stay_positive_pixels,gradfusion")
    ap.add_argument("--lpips", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--also-normalized", action="store_true",
                    help="also score the same outputs after global min-max normalisation")
    ap.add_argument("--figures", help="folder for one comparison figure per pair")
    ap.add_argument("--json", help="write every table to this file")
    args = ap.parse_args(argv)

    import gradfusion
    from gradfusion import io

    pairs = find_pairs(args)
    lpips = {"auto": "auto", "on": True, "off": False}[args.lpips]
    methods = args.methods.split(",")
    keys = ["psnr", "ssim", "gmsd", "lpips", "gradient_error", "stripe_ratio", "time"]
    per_pair, per_pair_norm, record = [], [], []
    gradfusion.solve(np.zeros((8, 8)), np.zeros((8, 8)), 0.5)   # load the JIT cache untimed
    if args.figures:
        os.makedirs(args.figures, exist_ok=True)
    for image_path, proposal_path in pairs:
        I, P = io.read_image(image_path), io.read_image(proposal_path)
        ev = gradfusion.evaluate(I, P, args.alpha, methods=methods, patch_size=args.patch,
                                 partial=args.partial, lpips=lpips)
        name = os.path.splitext(os.path.basename(proposal_path))[0]
        print(f"\n== {name} ({I.shape[1]}x{I.shape[0]})\n{ev.format_table()}")
        per_pair.append(ev.rows)
        entry = {"input": image_path, "proposal": proposal_path, "settings": ev.settings,
                 "proposal_stripe_share": ev.proposal_stripe_share, "rows": ev.rows}
        if args.also_normalized:
            norm = normalized_rows(ev, P, args.patch, args.partial)
            per_pair_norm.append(norm)
            entry["rows_normalized"] = norm
        record.append(entry)
        if args.figures:
            fig = gradfusion.comparison_figure({"input": I, "proposal": P, **ev.outputs})
            io.write_image(os.path.join(args.figures, f"{name}.png"), fig, overwrite=True)

    patches = f"{args.patch}x{args.patch} patches ({args.partial})" if args.patch else "whole image"
    means = mean_table(per_pair, keys)
    print_table(f"Mean over {len(pairs)} pairs, alpha {args.alpha}, {patches}, no normalisation "
                "(in parentheses: pairs where the method is best; xN: ratio to the heuristic)",
                means, keys)
    out = {"pairs": record, "mean": means, "alpha": args.alpha, "patch": args.patch,
           "partial": args.partial}
    if args.also_normalized:
        means_n = mean_table(per_pair_norm, ["psnr", "ssim", "gmsd"])
        print_table(f"Mean over {len(pairs)} pairs, same outputs, global min-max normalisation",
                    means_n, ["psnr", "ssim", "gmsd"])
        out["mean_normalized"] = means_n
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(finite(out), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
