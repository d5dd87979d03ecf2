"""Cost of patch-averaged LPIPS on a large image: time and memory per batch size.

Scores a 4-megapixel RGB pair in 100x100 patches (400 pairs) with
:func:`gradfusion.metrics.lpips` for several ``batch_size`` values and
reports, from one run: wall time, patches per second and peak RSS.

The network is the real ``lpips.LPIPS(net=...)`` when it loads. Where it
cannot (no torchvision, or no backbone weights without network access),
``--random-backbone`` measures the same computation with an AlexNet-shaped
stand-in with random weights: torchvision's AlexNet feature layers (the five
ReLU outputs LPIPS taps), channel-unit normalisation, squared differences,
1x1 linear heads and a spatial mean -- the cost of LPIPS does not depend on
the weights' values, its value does, so those numbers are timings only.

    python bench/bench_lpips.py --size 2048x2048 --patch 100 --batch 16 64 256 [--random-backbone] [--json out.json]

Needs torch (``pip install torch==2.13.0``: bench-only here).
"""

import argparse
import json
import resource
import sys
import time

import numpy as np


def alexnet_lpips_standin():
    """LPIPS(net='alex') architecture with random weights (timing only)."""
    import torch
    from torch import nn

    class Stand(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.slices = nn.ModuleList([
                nn.Sequential(nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU()),
                nn.Sequential(nn.MaxPool2d(3, 2), nn.Conv2d(64, 192, 5, padding=2), nn.ReLU()),
                nn.Sequential(nn.MaxPool2d(3, 2), nn.Conv2d(192, 384, 3, padding=1), nn.ReLU()),
                nn.Sequential(nn.Conv2d(384, 256, 3, padding=1), nn.ReLU()),
                nn.Sequential(nn.Conv2d(256, 256, 3, padding=1), nn.ReLU()),
            ])
            self.heads = nn.ModuleList([nn.Conv2d(c, 1, 1, bias=False)
                                        for c in (64, 192, 384, 256, 256)])

        def features(self, x):
            out = []
            for s in self.slices:
                x = s(x)
                out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
            return out

        def forward(self, x, y):
            fx, fy = self.features(x), self.features(y)
            return sum(h((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
                       for h, a, b in zip(self.heads, fx, fy))

    return Stand().eval()


def make_pair(H, W):
    from skimage import data
    from skimage.transform import resize
    from skimage.util import img_as_float

    from gradfusion.demo import night_proposal

    I = np.clip(resize(img_as_float(data.astronaut()), (H, W), order=1), 0, 1)
    return I, night_proposal(I)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="2048x2048", help="HxW (default %(default)s = 4.2 MP)")
    ap.add_argument("--patch", type=int, default=100)
    ap.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--net", default="alex")
    ap.add_argument("--random-backbone", action="store_true",
                    help="use the AlexNet-shaped stand-in when the real network is unavailable")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import torch

    from gradfusion import metrics

    H, W = map(int, args.size.split("x"))
    I, P = make_pair(H, W)
    try:
        model, kind = metrics._lpips_model(args.net), f"lpips.LPIPS(net={args.net!r})"
    except metrics.LPIPSUnavailableError as exc:
        if not args.random_backbone:
            sys.exit(f"bench_lpips: {exc}\n(use --random-backbone for timings)")
        model, kind = alexnet_lpips_standin(), "AlexNet-shaped stand-in, random weights (timing only)"
    n = len(metrics.patch_slices((H, W), args.patch))
    print(f"{H}x{W} RGB ({H * W / 1e6:.1f} MP), {args.patch}x{args.patch} patches: {n} pairs; "
          f"network: {kind}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'batch':>6}{'time s':>9}{'patches/s':>11}{'peak RSS MB':>13}{'value':>12}")
    rows = []
    for b in args.batch:
        t = time.perf_counter()
        value = metrics.lpips(P, I, patch_size=args.patch, batch_size=b, model=model)
        dt = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append({"batch": b, "time": dt, "patches_per_s": n / dt, "peak_rss_mb": rss,
                     "value": value})
        print(f"{b:>6}{dt:>9.2f}{n / dt:>11.1f}{rss:>13.0f}{value:>12.5f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"size": [H, W], "patch": args.patch, "pairs": n, "network": kind,
                       "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
