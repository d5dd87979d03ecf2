"""Poisson blending benchmark: gradfusion.poisson.blend against a DST yardstick, OpenCV and fpie.

For each masked-region size (megapixels of the mask, a disk) and method it
clones an RGB source into a larger target and reports, from one run:

* ``gradfusion``: :func:`gradfusion.poisson.blend` (exact Perez system on the
  mask, multigrid-preconditioned CG to a relative residual of 1e-6): time,
  iterations, residual;
* ``dst``: the fast-transform yardstick, a Dirichlet Poisson solve over the
  mask's bounding box (grown to a fast transform length) by ``scipy.fft.dstn``
  (DST-II, one transform pair for all channels on all cores, timed without
  building its right-hand side; boundary values from the target on the box,
  the source Laplacian inside).
  It solves a different problem when the mask is not its box (the region
  between them follows the source too), so it is a speed reference;
* ``cv2 NORMAL/MIXED``: ``cv2.seamlessClone`` (opencv-python-headless, uint8
  in and out) when importable;
* ``fpie``: the fpie package's CPU backends (Jacobi, ``--fpie-iters`` sweeps)
  when importable.

Installing fpie (bench only, in its own environment: it pulls in taichi). Its
source release builds its C++ backends (``gcc``, ``openmp``) with CMake and
fetches pybind11 with ``git clone``; without network access to GitHub that
step fails silently and only the Python backends (``numpy``, ``numba``,
``taichi-cpu``) remain. Place pybind11's source release in the source tree
first (cmake and a C++ compiler are needed)::

    python -m venv /tmp/fpievenv && /tmp/fpievenv/bin/pip install fpie opencv-python-headless
    pip download fpie pybind11 --no-binary :all: --no-deps -d /tmp/src && cd /tmp/src
    tar xzf fpie-*.tar.gz && tar xzf pybind11-*.tar.gz && mv pybind11-*/ fpie-*/pybind11
    /tmp/fpievenv/bin/pip install --no-deps --force-reinstall ./fpie-*/
    /tmp/fpievenv/bin/pip install -e /path/to/gradfusion
    /tmp/fpievenv/bin/fpie --check-backend      # [..., 'gcc', 'openmp', ...]

With ``--repeat N`` gradfusion, the yardstick and OpenCV report the median of N
runs (fpie runs once). Every row reports wall and process-CPU seconds (the latter is less sensitive
to other jobs on the machine; it sums threads) and the PSNR of its output
against gradfusion's inside the mask (inf when identical). Missing packages
are reported and skipped.

With ``--dtypes float64 float32`` gradfusion also runs on float32 copies of the images (its
output is then float32; the system is solved in float64 either way); the other solvers run once,
on the first dtype's images, and are compared with gradfusion's output in that dtype.

    python bench/bench_poisson.py --sizes 0.1 1 [--methods normal mixed] [--dtypes float64 float32]
        [--json out.json]
"""

import argparse
import json
import math
import os
import sys
import time

# timed calls run compiled code only: the parallel twins of the kernels compile on their first
# use, not once they pay as by default (gradfusion._jit); set before gradfusion is imported
# (and inherited by child processes)
os.environ.setdefault("GRADFUSION_PARALLEL_COMPILE", "eager")

import numpy as np


def make_case(mp, seed=0):
    """Source, target, boolean disk mask of about ``mp`` megapixels, and the offset."""
    from skimage import data
    from skimage.transform import resize
    from skimage.util import img_as_float

    d = int(math.ceil(math.sqrt(mp * 1e6 / (math.pi / 4))))
    side = d + 4 + d // 16                  # room to grow the DST box to a fast length
    src = resize(img_as_float(data.coffee()), (side, side, 3), order=1, anti_aliasing=True)
    margin = max(32, side // 8)
    tgt = resize(img_as_float(data.astronaut()), (side + 2 * margin, side + 2 * margin + 17, 3),
                 order=1, anti_aliasing=True)
    yy, xx = np.mgrid[:side, :side]
    c = (side - 1) / 2
    mask = (yy - c) ** 2 + (xx - c) ** 2 <= (d / 2) ** 2
    return src.clip(0, 1), tgt.clip(0, 1), mask, (margin, margin + 5)


def psnr_in_mask(a, b, mask_t):
    err = np.mean((a[mask_t] - b[mask_t]) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(1.0 / err))


def target_mask(mask, offset, shape):
    m = np.zeros(shape[:2], bool)
    dy, dx = offset
    m[dy:dy + mask.shape[0], dx:dx + mask.shape[1]] = mask
    return m


class _Clock:
    """Wall and process-CPU seconds of a block (CPU time is robust to a busy machine)."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w
        self.cpu = time.process_time() - self.c


def _median_run(fn, repeat):
    """``(median wall s, median process-CPU s, last result)`` of ``repeat`` calls of ``fn``
    (``fn`` returns ``(seconds it reports, output)``; the reported seconds are the wall time)."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        with _Clock() as ck:
            t, out = fn()
        walls.append(t)
        cpus.append(ck.cpu)
    return float(np.median(walls)), float(np.median(cpus)), out


def dst_box(src, tgt, mask, offset):
    """Dirichlet Poisson solve over the mask's bounding box by DST-II (the yardstick).

    All channels in one transform pair on all cores (``workers=-1``, channels
    first and contiguous), the box grown to a fast transform length; the
    Dirichlet values of the box's frame enter at half a pixel (DST-II's
    symmetry), the source's 5-point Laplacian is the guidance. A rectangle,
    not the mask: a speed reference. The time is that of the solve (the
    transform pair and the division), as the issue quotes it; building the
    right-hand side and writing the output back (NumPy, one thread) are not
    timed.
    """
    import scipy.fft

    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h = scipy.fft.next_fast_len(y1 - y0, real=True)        # DST-II of n: a real FFT of ~n
    w = scipy.fft.next_fast_len(x1 - x0, real=True)
    y0 = max(0, min(y0 - (h - (y1 - y0)) // 2, src.shape[0] - h))
    x0 = max(0, min(x0 - (w - (x1 - x0)) // 2, src.shape[1] - w))
    y1, x1 = y0 + min(h, src.shape[0]), x0 + min(w, src.shape[1])
    h, w = y1 - y0, x1 - x0
    dy, dx = offset
    g = np.pad(src, ((1, 1), (1, 1), (0, 0)), mode="edge")[y0:y1 + 2, x0:x1 + 2]
    rhs = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    T = tgt[y0 + dy - 1:y1 + dy + 1, x0 + dx - 1:x1 + dx + 1]
    rhs[0] += 2 * T[0, 1:-1]
    rhs[-1] += 2 * T[-1, 1:-1]
    rhs[:, 0] += 2 * T[1:-1, 0]
    rhs[:, -1] += 2 * T[1:-1, -1]
    rhs = np.ascontiguousarray(np.moveaxis(rhs, -1, 0))
    ky = 4 * np.sin(np.pi * np.arange(1, h + 1) / (2 * h)) ** 2
    kx = 4 * np.sin(np.pi * np.arange(1, w + 1) / (2 * w)) ** 2
    lam = ky[:, None] + kx[None, :]
    t0 = time.perf_counter()
    coef = scipy.fft.dstn(rhs, type=2, axes=(1, 2), workers=-1)
    coef /= lam
    f = scipy.fft.idstn(coef, type=2, axes=(1, 2), workers=-1)
    elapsed = time.perf_counter() - t0
    out = tgt.copy()
    region = out[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
    inside = mask[y0:y1, x0:x1]
    region[inside] = np.moveaxis(f, 0, -1)[inside]
    return elapsed, out.clip(0, 1)


def run_cv2(src, tgt, mask, offset, method):
    import cv2

    s8 = np.round(src * 255).astype(np.uint8)
    t8 = np.round(tgt * 255).astype(np.uint8)
    m8 = mask.astype(np.uint8) * 255
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    center = (int(cols[0] + offset[1] + w // 2), int(rows[0] + offset[0] + h // 2))
    flag = cv2.NORMAL_CLONE if method == "normal" else cv2.MIXED_CLONE
    t0 = time.perf_counter()
    out = cv2.seamlessClone(s8[..., ::-1].copy(), t8[..., ::-1].copy(), m8, center, flag)
    return time.perf_counter() - t0, out[..., ::-1] / 255.0


def run_fpie(src, tgt, mask, offset, method, backend, iters):
    from fpie.process import EquProcessor

    s8 = np.round(src * 255).astype(np.uint8)
    t8 = np.round(tgt * 255).astype(np.uint8)
    m8 = mask.astype(np.uint8) * 255
    proc = EquProcessor("src" if method == "normal" else "max", backend, 2, 1, 1024)
    t0 = time.perf_counter()
    proc.reset(s8, m8, t8, (0, 0), tuple(offset))
    proc.sync()
    out, _ = proc.step(iters)
    return time.perf_counter() - t0, out / 255.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[0.1, 1.0],
                    help="masked-region sizes in megapixels (default %(default)s)")
    ap.add_argument("--methods", nargs="+", default=["normal", "mixed"],
                    choices=["normal", "mixed"])
    ap.add_argument("--dtypes", nargs="+", default=["float64"], choices=["float64", "float32"],
                    help="dtypes of the images given to gradfusion (default %(default)s); the other "
                         "solvers run on the first")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per case (median time) of gradfusion, the DST yardstick and cv2; "
                         "fpie's 5000 sweeps run once")
    ap.add_argument("--fpie-iters", type=int, default=5000)
    ap.add_argument("--fpie-backends", nargs="+", default=["openmp", "gcc", "taichi-cpu"],
                    help="fpie backends to run (default %(default)s; numpy and numba take minutes per megapixel)")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)

    import gradfusion.poisson as gp

    have = {}
    for name in ("cv2", "fpie"):
        try:
            __import__(name)
            have[name] = True
        except ImportError:
            have[name] = False
            print(f"skipping {name}: package not importable"
                  + (" (pip install opencv-python-headless)" if name == "cv2" else
                     " (pip install fpie)"), flush=True)
    small = make_case(0.001)
    for dtype in args.dtypes:                          # compile the kernels outside the timing
        gp.blend(*(a.astype(dtype) for a in small[:2]), small[2], small[3])
    rows = []
    print(f"{'MP':>5} {'method':>6} {'dtype':>7} {'solver':>16} {'time s':>8} {'cpu s':>7} "
          f"{'x gradfusion':>12} {'nit':>4} {'rel.res':>8} {'PSNR vs gf (dB)':>15}", flush=True)
    for mp in args.sizes:
        src64, tgt64, mask, off = make_case(mp)
        mt = target_mask(mask, off, tgt64.shape)
        for method in args.methods:
            entries, t_gf, ref = [], None, None
            for dtype in args.dtypes:
                src, tgt = src64.astype(dtype), tgt64.astype(dtype)
                times, cpus, res = [], [], None
                for _ in range(args.repeat):
                    with _Clock() as ck:
                        res = gp.blend(src, tgt, mask, off, guidance=method)
                    times.append(res.time)
                    cpus.append(ck.cpu)
                if ref is None:
                    t_gf, ref = float(np.median(times)), res.output
                entries.append(dict(solver="gradfusion", dtype=dtype, time=float(np.median(times)),
                                    cpu=float(np.median(cpus)), nit=res.nit,
                                    residual=res.system_residual,
                                    psnr=psnr_in_mask(res.output.astype(np.float64), ref, mt)))
            src, tgt, dtype = src64.astype(args.dtypes[0]), tgt64.astype(args.dtypes[0]), args.dtypes[0]
            if method == "normal":
                td, cd, out_d = _median_run(lambda: dst_box(src, tgt, mask, off), args.repeat)
                entries.append(dict(solver="dst (bbox)", dtype=dtype, time=td, cpu=cd,
                                    psnr=psnr_in_mask(out_d, ref, mt)))
            if have["cv2"]:
                tc, cc, out_c = _median_run(lambda: run_cv2(src, tgt, mask, off, method),
                                            args.repeat)
                entries.append(dict(solver=f"cv2 {method.upper()}", dtype=dtype, time=tc, cpu=cc,
                                    psnr=psnr_in_mask(out_c, ref, mt)))
            if have["fpie"]:
                for backend in args.fpie_backends:
                    try:
                        with _Clock() as ck:
                            tf, out_f = run_fpie(src, tgt, mask, off, method, backend,
                                                 args.fpie_iters)
                    except Exception as exc:         # a backend not built in this install
                        print(f"skipping fpie {backend}: {exc}", flush=True)
                        continue
                    entries.append(dict(solver=f"fpie {backend}", dtype=dtype, time=tf,
                                        cpu=ck.cpu, psnr=psnr_in_mask(out_f, ref, mt)))
            for e in entries:
                row = dict(mp=float(mask.sum() / 1e6), method=method, **e)
                row["ratio"] = row["time"] / t_gf
                rows.append(row)
                nit = f"{row['nit']:4d}" if "nit" in row else "    "
                rr = f"{row['residual']:8.1e}" if "residual" in row else " " * 8
                print(f"{row['mp']:5.2f} {method:>6} {row['dtype']:>7} {row['solver']:>16} "
                      f"{row['time']:8.3f} {row['cpu']:7.3f} {row['ratio']:12.2f} {nit} {rr} "
                      f"{row['psnr']:15.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
