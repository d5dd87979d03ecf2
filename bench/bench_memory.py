"""Peak memory of gradfusion.solve against its estimate (the calibration in docs/errors.md).

Each case runs in a fresh process: imports and Numba compilation happen first
(on a small problem), the inputs are made, the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs``, Linux), then one solve runs. The measured peak is
the high-water RSS minus the RSS just before the solve (the inputs are not
counted: they are the caller's), beside the estimate
``gradfusion._memory.estimate_solve_bytes`` and their ratio.

    python bench/bench_memory.py --sizes 512x512 1024x1024 --dtypes float64 float32
    python bench/bench_memory.py --sizes 2048x1024 --maxiter 200 --kinds multiscale x0 uint8
"""

import argparse
import json
import os
import subprocess
import sys

# timed calls run compiled code only: the parallel twins of the kernels compile on their first
# use, not once they pay as by default (gradfusion._jit); set before gradfusion is imported
# (and inherited by child processes)
os.environ.setdefault("GRADFUSION_PARALLEL_COMPILE", "eager")


def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def run_case(height, width, channels, dtype, kind, maxiter):
    """One measurement (in this process); returns a dict."""
    import numpy as np

    import gradfusion
    from gradfusion import _memory
    from gradfusion._validation import float_dtype

    rng = np.random.default_rng(0)
    for dt in (np.float64, np.float32):                      # compile both kernels' variants
        small = rng.random((40, 40, 3)).astype(dt)
        gradfusion.solve(small, (0.5 * small).astype(dt), 0.7, maxiter=5)
    shape = (height, width, channels) if channels > 1 else (height, width)
    if kind == "uint8":
        I = rng.integers(0, 256, shape, dtype=np.uint8)
        P = I // 2
    else:
        I = rng.random(shape).astype(dtype)
        P = (0.5 * I).astype(dtype)
    x0 = np.full(shape, 0.1, dtype=I.dtype if I.dtype.kind == "f" else np.float64) \
        if kind == "x0" else None
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")                                        # reset the peak-RSS mark
    before = _status("VmRSS:")
    res = gradfusion.solve(I, P, 0.7, x0=x0, multiscale=kind != "single", maxiter=maxiter)
    peak = _status("VmHWM:") - before
    work = float_dtype(I.dtype)
    estimate = _memory.estimate_solve_bytes((channels, height, width), work)
    return dict(shape=f"{channels}x{height}x{width}", dtype=np.dtype(work).name, kind=kind,
                nit=res.nit, measured_mib=peak / 2**20, estimated_mib=estimate / 2**20,
                ratio=estimate / peak)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["512x512", "1024x1024"], help="WxH")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--dtypes", nargs="+", default=["float64"], choices=("float64", "float32"))
    p.add_argument("--kinds", nargs="+", default=["multiscale"],
                   choices=("multiscale", "single", "x0", "uint8"))
    p.add_argument("--maxiter", type=int, default=20000)
    p.add_argument("--json", help="write the rows to this file")
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:                                            # the child process
        print(json.dumps(run_case(*json.loads(args.case))))
        return
    rows = []
    print(f"{'shape':>14} {'dtype':>8} {'kind':>10} {'nit':>6} {'measured':>10} "
          f"{'estimate':>10} {'est/meas':>9}")
    for size in args.sizes:
        w, h = (int(s) for s in size.split("x"))
        for dtype in args.dtypes:
            for kind in args.kinds:
                case = json.dumps([h, w, args.channels, dtype, kind, args.maxiter])
                out = subprocess.run([sys.executable, __file__, "--case", case],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(r)
                print(f"{r['shape']:>14} {r['dtype']:>8} {r['kind']:>10} {r['nit']:>6} "
                      f"{r['measured_mib']:>8.0f} M {r['estimated_mib']:>8.0f} M "
                      f"{r['ratio']:>9.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
