"""Solver benchmark: gradfusion.solve against a fast-transform unconstrained solve.

For each case (an RGB pair of a given size, float64 and float32) it reports the
median time of ``--repeat`` solves, peak resident memory of a fresh process,
iterations, objective and optimality, and, measured in the same run, the time of an
unconstrained solve of the same-size problem by FFT (bounds dropped: divide
``A t`` by the symbol of ``A``), the yardstick no solver of this objective can
beat by much. Prints a table; ``--json FILE`` writes the rows.

Pairs: ``--image PATH`` (a photograph, e.g. ../shared/data/hidt_daytime/*.jpg)
resized to each case with a night-like proposal derived from it; without it the
scikit-image astronaut is used.

    python bench/bench_solve.py --sizes 256x256 1024x928 --image ../shared/data/hidt_daytime/000040140007.jpg
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def make_pair(shape, image_path=None, dtype=np.float64):
    from skimage.transform import resize
    from skimage.util import img_as_float

    from gradfusion.demo import load_sample, night_proposal

    if image_path:
        from gradfusion.io import read_image
        src = img_as_float(read_image(image_path))
    else:
        src = load_sample("astronaut")
    I = resize(src, shape + (3,), order=1, anti_aliasing=True).clip(0, 1)
    return I.astype(dtype), night_proposal(I).astype(dtype)


def fft_solve(I, P, alpha, reg_weight):
    """Unconstrained minimiser by FFT (periodic boundary): the yardstick."""
    from gradfusion._problem import ResidualProblem
    from gradfusion._validation import prepare_pair

    t0 = time.perf_counter()
    Ic, Pc, a, _, _ = prepare_pair(I, P, alpha, -1)
    prob = ResidualProblem(Ic, Pc, a, reg_weight=reg_weight)
    _, H, W = Ic.shape
    wy = 2 * np.pi * np.fft.fftfreq(H)[:, None]
    wx = 2 * np.pi * np.fft.rfftfreq(W)[None, :]
    sym = (4 * np.sin(wx) ** 2 * (2 + 2 * np.cos(wy)) ** 2
           + 4 * np.sin(wy) ** 2 * (2 + 2 * np.cos(wx)) ** 2
           + reg_weight * (16 * np.sin(wx / 2) ** 4 + 16 * np.sin(wy / 2) ** 4))
    sym[sym < 1e-12] = np.inf
    x = np.fft.irfft2(np.fft.rfft2(prob.b) / sym, s=(H, W))
    return time.perf_counter() - t0, x


def run_case(shape, dtype, repeat, image_path):
    import gradfusion

    I, P = make_pair(shape, image_path, dtype)
    gradfusion.solve(I[:32, :32], P[:32, :32], 0.7)          # compile outside the timing
    times, res = [], None
    for _ in range(repeat):
        res = gradfusion.solve(I, P, 0.7)
        times.append(res.time)
    fft_times = [fft_solve(I, P, 0.7, gradfusion.DEFAULT_REG_WEIGHT)[0] for _ in range(repeat)]
    t, tf = statistics.median(times), statistics.median(fft_times)
    return dict(shape=f"{shape[1]}x{shape[0]}", dtype=np.dtype(dtype).name, time=t,
                fft_time=tf, ratio=t / tf, nit=res.nit, nmatvec=res.nmatvec,
                objective=res.fun, bare_objective=res.bare_objective,
                optimality=res.optimality, success=bool(res.success),
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256x256", "1024x928"],
                    help="WIDTHxHEIGHT cases (default %(default)s)")
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--image", help="source photograph for the pairs")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--one", help=argparse.SUPPRESS)   # internal: run one case, print JSON
    args = ap.parse_args(argv)
    if args.one:
        size, dtype = args.one.split(":")
        w, h = (int(s) for s in size.split("x"))
        print(json.dumps(run_case((h, w), np.dtype(dtype), args.repeat, args.image)))
        return 0
    rows = []
    for size in args.sizes:
        for dtype in args.dtypes:
            cmd = [sys.executable, __file__, "--one", f"{size}:{dtype}", "--repeat", str(args.repeat)]
            if args.image:
                cmd += ["--image", args.image]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))   # fresh process: honest peak memory
            r = rows[-1]
            print(f"{r['shape']:>10} {r['dtype']:>8} time {r['time']:8.3f} s  fft {r['fft_time']:7.3f} s  "
                  f"ratio {r['ratio']:6.1f}  nit {r['nit']:5d}  objective {r['objective']:.6e}  "
                  f"optimality {r['optimality']:.1e}  peak {r['peak_rss_mb']:7.0f} MB", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
