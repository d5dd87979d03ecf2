"""Border artifacts of the solve's settings: the table of docs/model.md ("The border").

For every pair, per setting (the paper's zero-padded objective, zero padding with the
perceptual level weight, the default: reflected borders and the perceptual level weight) and
the clip, :func:`gradfusion.metrics.border_artifacts` against the proposal: edge alternation
(mean absolute second difference of the line means over the outer 6 lines) and the band-to-ring
level ratio relative to the proposal's (below 1: a dark frame). Pairs: real (input, proposal)
pairs (``--glob`` proposals, the input found by ``--input-replace-regex``; ``--pair``) and
scikit-image photographs with two derived looks (``--skimage``)::

    python bench/bench_border.py \\
        --glob '../shared/data/hidt_interp/*_night.png' \\
        --glob '../shared/data/hidt_interp/*_sunset.png' --input-replace-regex '_(night|sunset)' _input \\
        --pair ../shared/data/staypositive_demo/demoA_input.png \\
               ../shared/data/staypositive_demo/demoB_proposal.png \\
        --skimage coffee astronaut chelsea --alpha 0.7 --json border.json
"""

import argparse
import json
import os
import sys

import numpy as np

#: ``(name, solve options)`` per setting; the clip is added as its own row
SETTINGS = (
    ("paper (zero, level 0)", {"boundary": "zero", "level_weight": 0.0}),
    ("zero, level 0.3", {"boundary": "zero", "level_weight": 0.3}),
    ("default (reflect, 0.3)", {}),
)


def load_pairs(args):
    from skimage import data
    from skimage.util import img_as_float

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_levels import derived_proposals, file_pairs

    pairs = file_pairs(args, channels=3)
    for name in args.skimage or []:
        x = img_as_float(getattr(data, name)())
        for look, P in derived_proposals(x).items():
            pairs.append((f"{name}:{look}", x, P))
    if not pairs:
        sys.exit("bench_border: no pairs (give --glob, --pair or --skimage)")
    return pairs


def main(argv=None):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_levels import add_pair_arguments

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pair_arguments(ap)
    ap.add_argument("--skimage", nargs="*", help="scikit-image photographs (two looks each)")
    ap.add_argument("--alpha", type=float, default=0.7)
    ap.add_argument("--width", type=int, default=6)
    ap.add_argument("--json", help="write every pair's measures here")
    args = ap.parse_args(argv)

    import gradfusion
    from gradfusion.metrics import border_artifacts

    rows = []
    for name, I, P in load_pairs(args):
        clip = gradfusion.baselines.heuristic(I, P, args.alpha).output
        outputs = [("clip", clip)] + [(setting, gradfusion.solve(I, P, args.alpha, **opts).output)
                                      for setting, opts in SETTINGS]
        for setting, O in outputs:
            m = border_artifacts(P, O, width=args.width)
            rows.append({"pair": name, "setting": setting, **m})
        print(name, "  ".join(f"{r['setting']}: {r['alternation']:.4f}/{r['level_ratio']:.3f}"
                              for r in rows[-len(outputs):]), flush=True)
    print(f"\nalpha {args.alpha}, {len(rows) // (len(SETTINGS) + 1)} pairs; proposals' own mean "
          f"alternation {np.mean([r['reference_alternation'] for r in rows]):.4f}")
    print(f"{'setting':24} {'alternation mean (max)':>24} {'level ratio mean (min)':>24}")
    for setting in ["clip"] + [s for s, _ in SETTINGS]:
        sel = [r for r in rows if r["setting"] == setting]
        alt = np.array([r["alternation"] for r in sel])
        ratio = np.array([r["level_ratio"] for r in sel])
        print(f"{setting:24} {alt.mean():>15.4f} ({alt.max():.4f}) "
              f"{ratio.mean():>15.3f} ({ratio.min():.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
