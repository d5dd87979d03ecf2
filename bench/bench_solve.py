"""Solver benchmark: gradfusion.solve beside a fast-transform solve and the authors' Adam.

Per case (an RGB pair of a given size, float64 and float32), in a fresh process
each (honest peak memory), it times the calls users make: the default call
``solve(I, P, alpha)`` of every ``--methods`` solver and, beside it, the first
method's tuned call at ``--tol`` (a looser relative gap), all alternating
``--repeat`` times in the same process (medians). Per call: time, its ratio to
the yardstick, iterations (inner / outer at full resolution and over all
scales), the objective, the gap the solve reported and the relative objective
gap to a tight float64 solve (``--ref-tol``), optimality. Per case: peak
resident memory (and the interpreter+imports baseline), and, measured in the
same run, the time of an unconstrained solve of the same-size problem by FFT
(bounds dropped: divide ``b = A t`` by the symbol of ``A``; ``scipy.fft`` real
transforms on all cores in the images' dtype, ``b`` built beforehand; once untimed
for its plans, then after every round of the calls, so that a slow spell of the
machine hits both) - the yardstick no solver of this objective can beat by much. The table's first line
is the first method's default call, the lines below it every call.

``--pairs DIR`` adds the real pairs of a folder (``*_input.png`` and its
proposals, e.g. ``../shared/data/hidt_interp``) at their own size, the default and
tuned calls per pair. ``--warm`` adds the sequence case: a frame solved from the
previous frame's residual (the next frame of a slowly moving, re-lit scene).
``--adam N`` adds, when torch is installed, the authors' optimisation (Adam, lr
1e-2, their loss: recon of the clipped output + 10 mean|clip(R) - R|, initialised
at ``R = P - alpha I``) on the first size: the time it needs to reach
gradfusion's loss, or the loss it reaches in N iterations, with the ratio, and
the time gradfusion needs to reach Adam's final loss (a callback evaluates the
loss at each full-resolution iteration; that evaluation is not counted).
``--target LOSS`` times only the latter, for a recorded Adam loss.

Pairs: ``--image PHOTO`` (e.g. ../shared/data/hidt_daytime/000040140007.jpg)
resized to each size with a proposal (``--look``: the demo's night look, or issue
17's ``clip(0.35 I^1.6 [0.8, 0.9, 1.2])``) at ``--alpha``; without it the
scikit-image astronaut. Prints a table; ``--json FILE`` writes the rows.

    python bench/bench_solve.py --image ../shared/data/hidt_daytime/000040140007.jpg \\
        --look issue17 --alpha 0.5 --methods auto --sizes 4134x1496 1024x928 1280x720 \\
        --json solve.json
    python bench/bench_solve.py --sizes --pairs ../shared/data/hidt_interp
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# timed calls run compiled code only: the parallel twins of the kernels compile on their first
# use, not once they pay as by default (gradfusion._jit); set before gradfusion is imported
# (and inherited by child processes)
os.environ.setdefault("GRADFUSION_PARALLEL_COMPILE", "eager")

import numpy as np

ALPHA = 0.7

#: proposals (``--look``): the demo's night look, or issue 17's darker tinted one
LOOKS = ("night", "issue17")


def look_proposal(I, look):
    """The proposal of ``look`` for the RGB float image ``I``."""
    if look == "issue17":
        return np.clip(0.35 * I ** 1.6 * np.array([0.8, 0.9, 1.2]), 0, 1)
    from gradfusion.demo import night_proposal
    return night_proposal(I)


def make_pair(shape, image_path=None, dtype=np.float64, shift=0, gain=1.0, look="night"):
    """(I, P) of ``shape`` (H, W): the photo resized, and its proposal (``look``).

    ``shift`` (pixels, along x) and ``gain`` make the "next frame" of a sequence.
    """
    from skimage.transform import resize
    from skimage.util import img_as_float

    from gradfusion.demo import load_sample

    if image_path:
        from gradfusion.io import read_image
        src = img_as_float(read_image(image_path))
    else:
        src = load_sample("astronaut")
    I = resize(src, shape + (3,), order=1, anti_aliasing=True)
    if shift:
        I = np.roll(I, shift, axis=1)
    I = np.clip(gain * I, 0, 1)
    return I.astype(dtype), look_proposal(I, look).astype(dtype)


def fft_solve(I, P, alpha, reg_weight):
    """Unconstrained minimiser by FFT (periodic boundary, bounds dropped): the yardstick.

    Timed: the symbol of ``A`` and one ``A x = b`` solve by real FFTs
    (``scipy.fft``, all cores, in the images' dtype). Not timed: the right-hand
    side ``b = A t`` (built as the solver builds it). Returns ``(seconds, x)``.
    """
    import scipy.fft as sfft

    from gradfusion._problem import ResidualProblem
    from gradfusion._validation import prepare_pair

    Ic, Pc, a, _, _ = prepare_pair(I, P, alpha, -1)
    b = ResidualProblem(Ic, Pc, a, reg_weight=reg_weight).b
    _, H, W = b.shape
    t0 = time.perf_counter()
    wy = 2 * np.pi * sfft.fftfreq(H)[:, None]
    wx = 2 * np.pi * sfft.rfftfreq(W)[None, :]
    sym = (4 * np.sin(wx) ** 2 * (2 + 2 * np.cos(wy)) ** 2
           + 4 * np.sin(wy) ** 2 * (2 + 2 * np.cos(wx)) ** 2
           + reg_weight * (16 * np.sin(wx / 2) ** 4 + 16 * np.sin(wy / 2) ** 4))
    sym[sym < 1e-12] = np.inf
    inv = (1.0 / sym).astype(b.dtype)
    x = sfft.irfft2(sfft.rfft2(b, workers=-1) * inv, s=(H, W), workers=-1)
    return time.perf_counter() - t0, x


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _solve_methods(I, P, methods, repeat, **kwargs):
    """Each method ``repeat`` times, alternating (so that a slow spell of the machine hits
    all alike); returns ``{method: (median time, last result)}``."""
    import gradfusion

    times = {m: [] for m in methods}
    last = {}
    for _ in range(repeat):
        for m in methods:
            last[m] = gradfusion.solve(I, P, ALPHA, method=m, **kwargs)
            times[m].append(last[m].time)
    return {m: (statistics.median(times[m]), last[m]) for m in methods}


def _compared(runs, methods, ref_fun=None):
    """The other methods' time, iterations and objective gap, and their time over the first's."""
    t0 = runs[methods[0]][0]
    out = {}
    for m in methods[1:]:
        t, r = runs[m]
        out[m] = dict(time=t, nit=r.nit, objective=r.fun, ratio_to_first=t / t0,
                      rel_gap=None if ref_fun is None else (r.fun - ref_fun) / ref_fun)
    return out


def _calls(methods, tol):
    """The timed calls: every method's default call (no ``tol``), then the first method's
    tuned call (``tol``) when one is given."""
    calls = [dict(label="default", method=m, tol=None) for m in methods]
    if tol is not None:
        calls.append(dict(label=f"tol={tol:g}", method=methods[0], tol=tol))
    return calls


def _run_calls(I, P, calls, repeat, yardstick=None):
    """Every call ``repeat`` times, alternating, and ``yardstick()`` (which returns its own
    time) after each round, so that a slow spell of the machine hits both; returns
    ``([(times, last result)], yardstick times)``."""
    import gradfusion

    times = [[] for _ in calls]
    last = [None] * len(calls)
    yard = []
    for _ in range(repeat):
        for k, c in enumerate(calls):
            kwargs = {} if c["tol"] is None else {"tol": c["tol"]}
            last[k] = gradfusion.solve(I, P, ALPHA, method=c["method"], **kwargs)
            times[k].append(last[k].time)
        if yardstick is not None:
            yard.append(yardstick())
    return list(zip(times, last)), yard


def _call_row(call, times, res, fft_time, ref_fun):
    t = statistics.median(times)
    return dict(call, time=t, times=times, ratio=t / fft_time, nit=res.nit,
                outer=res.steps["newton"], nit_all_scales=sum(lv["nit"] for lv in res.levels),
                nmatvec=res.nmatvec, objective=res.fun, gap=res.get("gap", float("nan")),
                rel_gap=None if ref_fun is None else (res.fun - ref_fun) / ref_fun,
                optimality=res.optimality, success=bool(res.success), ran=res.method)


def run_case(shape, dtype, repeat, image_path, tol, ref_tol, methods, look="night"):
    """One size and dtype: every call of :func:`_calls` alternating, the FFT yardstick in
    the same process, and the objective gap to a tight float64 solve. The row's top-level
    fields are the first call's (the first method's default call)."""
    import gradfusion

    I, P = make_pair(shape, image_path, dtype, look=look)
    for m in methods:                                           # compile outside the timing
        gradfusion.solve(I[:300, :300], P[:300, :300], ALPHA, method=m)
    base = _rss_mb()
    calls = _calls(methods, tol)
    fft_solve(I, P, ALPHA, gradfusion.DEFAULT_REG_WEIGHT)          # the FFT's plans, untimed
    runs, fft_times = _run_calls(
        I, P, calls, repeat, lambda: fft_solve(I, P, ALPHA, gradfusion.DEFAULT_REG_WEIGHT)[0])
    peak = _rss_mb()
    tf = statistics.median(fft_times)
    ref_fun = None
    if ref_tol:      # the reference in float64: float32 rounding cannot reach a tight tol
        ref = gradfusion.solve(I.astype(np.float64), P.astype(np.float64), ALPHA, tol=ref_tol)
        ref_fun = ref.fun
    rows = [_call_row(c, times, res, tf, ref_fun) for c, (times, res) in zip(calls, runs)]
    first, res = rows[0], runs[0][1]
    return dict(case="solve", shape=f"{shape[1]}x{shape[0]}", dtype=np.dtype(dtype).name,
                look=look, method=methods[0], calls=rows, tol=first["tol"], time=first["time"],
                fft_time=tf, fft_times=fft_times, ratio=first["ratio"], nit=res.nit,
                steps=res.steps, nit_all_scales=first["nit_all_scales"], nmatvec=res.nmatvec,
                objective=res.fun, bare_objective=res.bare_objective,
                rel_gap=first["rel_gap"], gap=first["gap"], optimality=res.optimality,
                success=bool(res.success), peak_rss_mb=peak, baseline_rss_mb=base,
                time_per_mpixel=first["time"] / (shape[0] * shape[1] / 1e6))


def _real_pairs(folder):
    """``(name, input, proposal)`` of every ``*_input.png`` with its proposals in ``folder``
    (the ``hidt_interp`` layout: ``scene0_input.png``, ``scene0_night.png``, ...)."""
    import glob
    import os

    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*_input.png"))):
        stem = path[:-len("_input.png")]
        for prop in sorted(glob.glob(stem + "_*.png")):
            if prop != path:
                out.append((os.path.basename(prop)[:-4], path, prop))
    return out


def run_pairs(folder, dtype, repeat, tol, ref_tol):
    """The real pairs of ``folder`` (alpha 0.7, the file's own size): per pair the default
    call and the tuned one alternating, the FFT yardstick, the gap to a tight solve."""
    import gradfusion
    from gradfusion.io import read_image

    rows = []
    calls = _calls(["auto"], tol)
    for name, a, b in _real_pairs(folder):
        I = (read_image(a) / 255.0).astype(dtype)
        P = (read_image(b) / 255.0).astype(dtype)
        gradfusion.solve(I[:32, :32], P[:32, :32], ALPHA)
        fft_solve(I, P, ALPHA, gradfusion.DEFAULT_REG_WEIGHT)
        runs, fft_times = _run_calls(
            I, P, calls, repeat, lambda: fft_solve(I, P, ALPHA, gradfusion.DEFAULT_REG_WEIGHT)[0])
        tf = statistics.median(fft_times)
        ref_fun = None
        if ref_tol:
            ref_fun = gradfusion.solve(I.astype(np.float64), P.astype(np.float64), ALPHA,
                                       tol=ref_tol).fun
        rows.append(dict(pair=name, shape=f"{I.shape[1]}x{I.shape[0]}", fft_time=tf,
                         calls=[_call_row(c, t, r, tf, ref_fun)
                                for c, (t, r) in zip(calls, runs)]))
    return dict(case="pairs", folder=folder, dtype=np.dtype(dtype).name, pairs=rows,
                total={c["label"]: sum(p["calls"][k]["time"] for p in rows)
                       for k, c in enumerate(calls)})


def run_warm(shape, dtype, repeat, image_path, tol, methods):
    import gradfusion

    I1, P1 = make_pair(shape, image_path, dtype)
    I2, P2 = make_pair(shape, image_path, dtype, shift=1, gain=1.02)
    for m in methods:
        gradfusion.solve(I1[:300, :300], P1[:300, :300], ALPHA, method=m)
    first = gradfusion.solve(I1, P1, ALPHA, tol=tol)
    runs = _solve_methods(I2, P2, methods, repeat, tol=tol, x0=first.residual)
    t, res = runs[methods[0]]
    cold = gradfusion.solve(I2, P2, ALPHA, tol=tol, method=methods[0])
    tf = fft_solve(I2, P2, ALPHA, gradfusion.DEFAULT_REG_WEIGHT)[0]
    return dict(case="warm", shape=f"{shape[1]}x{shape[0]}", dtype=np.dtype(dtype).name,
                method=methods[0], compared=_compared(runs, methods, cold.fun),
                tol=tol, time=t, cold_time=cold.time, fft_time=tf, ratio=t / tf,
                nit=res.nit, cold_nit=cold.nit, objective=res.fun,
                rel_gap=(res.fun - cold.fun) / cold.fun, optimality=res.optimality,
                success=bool(res.success), peak_rss_mb=_rss_mb())


def time_to_loss(I, P, target):
    """Seconds gradfusion needs (default solve) until its full-resolution iterate's
    loss (the authors' loss: the bare objective of a feasible residual) is at most
    ``target``; the loss evaluations in the callback are not counted."""
    import gradfusion
    from gradfusion import gradient_error

    Ic, Pc = np.moveaxis(I, -1, 0), np.moveaxis(P, -1, 0)
    spent, hit = [0.0], []

    def callback(info):
        t = time.perf_counter()
        if info.residual.shape == Ic.shape:
            loss = gradient_error(Pc, ALPHA * Ic + info.residual, channel_axis=0)
            if loss <= target:
                hit.append((info.nit, loss))
        spent[0] += time.perf_counter() - t
        return bool(hit)

    t0 = time.perf_counter()
    res = gradfusion.solve(I, P, ALPHA, callback=callback)
    elapsed = time.perf_counter() - t0 - spent[0]
    if not hit:
        return dict(reached=False, time=elapsed, fine_nit=res.nit)
    return dict(reached=True, time=elapsed, fine_nit=hit[0][0], loss=hit[0][1])


def run_target(shape, image_path, target):
    """Only gradfusion's time to a given loss (e.g. a recorded Adam result)."""
    import gradfusion

    I, P = make_pair(shape, image_path, np.float32)
    gradfusion.solve(I[:32, :32], P[:32, :32], ALPHA)
    times = [time_to_loss(I, P, target) for _ in range(3)]
    best = sorted(times, key=lambda r: r["time"])[1]
    return dict(case="target", shape=f"{shape[1]}x{shape[0]}", target=target, **best)


def run_adam(shape, image_path, iters, tol):
    """The authors' method re-implemented in PyTorch (CPU), timed against gradfusion."""
    try:
        import torch
    except ImportError:
        return dict(case="adam", skipped="torch is not installed (pip install torch==2.13.0)")
    import gradfusion
    from gradfusion import paper_loss

    I, P = make_pair(shape, image_path, np.float32)
    gradfusion.solve(I[:32, :32], P[:32, :32], ALPHA)
    ours = gradfusion.solve(I, P, ALPHA, tol=tol)
    our_loss = paper_loss(I, P, ours.residual, ALPHA)

    kx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    weight = torch.stack([kx, kx.T])[:, None].repeat(3, 1, 1, 1)      # (6, 1, 3, 3)
    It = torch.from_numpy(np.moveaxis(I, -1, 0)[None].copy())
    Pt = torch.from_numpy(np.moveaxis(P, -1, 0)[None].copy())
    gP = torch.nn.functional.conv2d(Pt, weight, padding=1, groups=3)
    R = (Pt - ALPHA * It).clone().requires_grad_(True)
    opt = torch.optim.Adam([R], lr=1e-2)

    def loss_fn():
        Rc = R.clamp(0.0, 1.0 - ALPHA)
        O = ALPHA * It + Rc
        recon = ((torch.nn.functional.conv2d(O, weight, padding=1, groups=3) - gP) ** 2).mean()
        return recon + 10.0 * (Rc - R).abs().mean()

    t0 = time.perf_counter()
    reached_at, loss = None, None
    for k in range(1, iters + 1):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if reached_at is None and loss.item() <= our_loss:
            reached_at = (k, time.perf_counter() - t0)
    total = time.perf_counter() - t0
    final = float(paper_loss(I, P, np.moveaxis(R.detach().numpy()[0], 0, -1), ALPHA))
    adam_time = reached_at[1] if reached_at else total
    to_adam = time_to_loss(I, P, final)
    return dict(case="adam", shape=f"{shape[1]}x{shape[0]}", iterations=iters,
                adam_time=total, adam_time_per_iter=total / iters, adam_final_loss=final,
                adam_reached_ours_at=reached_at, gradfusion_time=ours.time,
                gradfusion_loss=our_loss, speedup=adam_time / ours.time,
                gradfusion_time_to_adam_loss=to_adam["time"],
                speedup_to_adam_loss=total / to_adam["time"],
                note=("time for Adam to reach gradfusion's loss" if reached_at else
                      f"Adam did not reach gradfusion's loss in {iters} iterations; "
                      "speedup uses its total time (a lower bound)"))


def _print(r):
    if r.get("skipped"):
        print(f"{r['case']}: skipped: {r['skipped']}")
    elif r["case"] == "solve":
        gap = "-" if r["rel_gap"] is None else f"{r['rel_gap']:.1e}"
        print(f"{r['shape']:>10} {r['dtype']:>8} {r['time']:8.2f} {r['fft_time']:7.3f} "
              f"{r['ratio']:7.1f} {r['nit']:5d} {r['nit_all_scales']:5d} {r['objective']:.6e} "
              f"{gap:>8} {r['optimality']:8.1e} {r['peak_rss_mb']:7.0f} {r['baseline_rss_mb']:7.0f} "
              f"{r['time_per_mpixel']:7.2f}", flush=True)
        for c in r.get("calls", []):
            tol = "default" if c["tol"] is None else f"tol={c['tol']:g}"
            print(f"{'':>10} {'':>8} {c['method']:>10} {tol:>10}: {c['time']:7.2f} s "
                  f"{c['ratio']:6.1f}x fft, {c['nit']:3d} it ({c['outer']} outer), objective "
                  f"{c['objective']:.9e}, gap {c['gap']:.1e}, to tight {_fmt_gap(c['rel_gap'])}"
                  f"{'' if c['success'] else ', FAILED'}", flush=True)
        _print_compared(r)
    elif r["case"] == "pairs":
        for p in r["pairs"]:
            for c in p["calls"]:
                print(f"{p['pair']:>16} {p['shape']:>9} {r['dtype']:>8} {c['label']:>10} "
                      f"{c['time']:7.3f} s {c['ratio']:6.1f}x fft ({p['fft_time']:.4f} s) "
                      f"{c['nit']:4d} it {c['outer']:2d} outer  objective {c['objective']:.9e} "
                      f"gap {c['gap']:.1e} to tight {_fmt_gap(c['rel_gap'])}", flush=True)
        print("total: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["total"].items()), flush=True)
    elif r["case"] == "warm":
        print(f"warm start {r['shape']} {r['dtype']}: {r['time']:.3f} s ({r['nit']} it; cold "
              f"{r['cold_time']:.2f} s, {r['cold_nit']} it; fft {r['fft_time']:.3f} s), "
              f"objective gap to cold {r['rel_gap']:.1e}", flush=True)
        _print_compared(r)
    elif r["case"] == "target":
        print(f"target {r['shape']}: gradfusion reaches loss <= {r['target']:.6e} in "
              f"{r['time']:.2f} s (median of 3; {r['fine_nit']} full-resolution iterations; "
              f"reached: {r['reached']})", flush=True)
    else:
        print(f"adam {r['shape']}: {r['iterations']} it in {r['adam_time']:.1f} s "
              f"({1e3 * r['adam_time_per_iter']:.0f} ms/it), final loss {r['adam_final_loss']:.6e}; "
              f"gradfusion {r['gradfusion_time']:.2f} s, loss {r['gradfusion_loss']:.6e}; "
              f"speedup {r['speedup']:.0f}x ({r['note']}); gradfusion reaches Adam's final "
              f"loss in {r['gradfusion_time_to_adam_loss']:.2f} s: "
              f"{r['speedup_to_adam_loss']:.0f}x", flush=True)


def _fmt_gap(g):
    return "-" if g is None else f"{g:.1e}"


def _print_compared(r):
    for m, c in r.get("compared", {}).items():
        gap = "-" if c["rel_gap"] is None else f"{c['rel_gap']:.1e}"
        print(f"{'':>10} {'':>8} {m}: {c['time']:.2f} s = {c['ratio_to_first']:.2f}x "
              f"{r['method']}'s time, {c['nit']} it, objective {c['objective']:.6e}, "
              f"gap {gap}", flush=True)


HEADER = (f"{'shape':>10} {'dtype':>8} {'time s':>8} {'fft s':>7} {'ratio':>7} {'nit':>5} "
          f"{'all':>5} {'objective':>12} {'rel gap':>8} {'optim.':>8} {'peakMB':>7} "
          f"{'baseMB':>7} {'s/MPix':>7}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", default=["256x256", "1024x928"],
                    help="WIDTHxHEIGHT cases (default %(default)s)")
    ap.add_argument("--dtypes", nargs="*", default=["float64", "float32"],
                    help="dtypes of the solve cases (none: only --warm/--adam)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="tolerance (relative objective gap) of the tuned call timed beside "
                         "the default call (default %(default)s; 0: only the default call)")
    ap.add_argument("--ref-tol", type=float, default=1e-12,
                    help="tolerance of the float64 reference solve for the objective gap "
                         "(default %(default)s; 0: skip)")
    ap.add_argument("--look", choices=LOOKS, default="night",
                    help="the proposal: the demo's night look or issue 17's (default %(default)s)")
    ap.add_argument("--alpha", type=float, default=0.7,
                    help="combiner transmission (default %(default)s)")
    ap.add_argument("--pairs", metavar="DIR",
                    help="also time the real pairs of DIR (*_input.png and its proposals, "
                         "e.g. ../shared/data/hidt_interp) at their own size")
    ap.add_argument("--warm", metavar="WxH", help="also run the warm-start case at this size")
    ap.add_argument("--adam", type=int, metavar="N", default=0,
                    help="also run the authors' Adam for N iterations at the first size (torch)")
    ap.add_argument("--target", type=float, metavar="LOSS",
                    help="also time gradfusion until its loss reaches LOSS at the first size "
                         "(e.g. a recorded Adam result, without rerunning Adam)")
    ap.add_argument("--methods", nargs="+", default=["active-set", "mprgp"],
                    help="solve methods, run alternately in the same process; the table "
                         "shows the first, the others as ratios (default %(default)s)")
    ap.add_argument("--image", help="source photograph for the pairs")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--one", help=argparse.SUPPRESS)   # internal: run one case, print JSON
    args = ap.parse_args(argv)
    global ALPHA
    ALPHA = args.alpha
    tol = args.tol or None

    def size(text):
        w, h = (int(s) for s in text.split("x"))
        return h, w

    if args.one:
        kind, sz, dtype = args.one.split(":")
        if kind == "solve":
            row = run_case(size(sz), np.dtype(dtype), args.repeat, args.image, tol,
                           args.ref_tol, args.methods, args.look)
        elif kind == "pairs":
            row = run_pairs(args.pairs, np.dtype(dtype), args.repeat, tol, args.ref_tol)
        elif kind == "target":
            row = run_target(size(sz), args.image, float(dtype))
        elif kind == "warm":
            row = run_warm(size(sz), np.dtype(dtype), args.repeat, args.image, tol,
                           args.methods)
        else:
            row = run_adam(size(sz), args.image, int(dtype), tol)
        print(json.dumps(row))
        return 0
    jobs = [f"solve:{s}:{d}" for s in args.sizes for d in args.dtypes]
    if args.pairs:
        jobs += [f"pairs:-:{d}" for d in args.dtypes]
    if args.warm:
        jobs += [f"warm:{args.warm}:{d}" for d in args.dtypes]
    if args.adam:
        jobs.append(f"adam:{args.sizes[0]}:{args.adam}")
    if args.target:
        jobs.append(f"target:{args.sizes[0]}:{args.target!r}")
    print(HEADER)
    rows = []
    for job in jobs:
        cmd = [sys.executable, __file__, "--one", job, "--repeat", str(args.repeat),
               "--tol", str(args.tol), "--ref-tol", str(args.ref_tol), "--look", args.look,
               "--alpha", str(args.alpha), "--methods", *args.methods]
        if args.image:
            cmd += ["--image", args.image]
        if args.pairs:
            cmd += ["--pairs", args.pairs]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"{job}: failed: {out.stderr.strip().splitlines()[-1]}", flush=True)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        _print(rows[-1])
    solves = [r for r in rows if r["case"] == "solve"]
    if len(solves) > 1:
        per = [r["time_per_mpixel"] for r in solves if r["dtype"] == "float64"]
        if per:
            print(f"float64 time per megapixel: {min(per):.2f} .. {max(per):.2f} s "
                  f"(max/min {max(per) / min(per):.2f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
