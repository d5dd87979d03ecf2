"""First-run benchmark: what a fresh install pays to compile gradfusion's Numba kernels.

Each case runs in a fresh subprocess with an empty ``NUMBA_CACHE_DIR`` (a cold cache, as
after ``pip install``), then once more on the cache that run wrote (warm):

* ``solve float32`` / ``solve float64``: ``gradfusion.solve`` on a ``--size`` photograph pair
  (the first call of each dtype);
* ``demo``: ``gradfusion demo`` (the README's command, after the install).

Per case it reports the wall time and the CPU time of the process (compilation is
single-threaded, so on a machine shared with other jobs the CPU time is the steadier
figure; the load average is printed too), how many kernel signatures were compiled
(Numba's ``numba:compile`` events of gradfusion's kernels; how many of them parallel
twins) and the seconds spent compiling, whether the one-line notice was printed; then the
same for the warm run. ``--policies tiered eager`` runs each case under both parallel
compilation policies (``GRADFUSION_PARALLEL_COMPILE``, :mod:`gradfusion._jit`) side by side.

``--kernels`` prints, from the cold eager demo, each kernel's compile time as a serial and
as a parallel twin (where the run compiled both): the extra cost of a parallel twin that
``gradfusion._jit.PARALLEL_EXTRA_COMPILE`` stands for.

    python bench/bench_first_run.py --json first_run.json
    python bench/bench_first_run.py --cases demo --policies tiered eager --kernels
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

#: the child's code: time the case, count our compilations, print one JSON line
CHILD = r"""
import json, os, sys, time, resource
t_start = time.perf_counter()
from numba.core import event
compiles = []                          # (qualified name, parallel, exclusive seconds)
stack = []
class Count(event.Listener):
    def on_start(self, e):
        stack.append([time.perf_counter(), 0.0])
    def on_end(self, e):
        t0, inner = stack.pop()
        spent = time.perf_counter() - t0
        if stack:
            stack[-1][1] += spent
        d = e.data["dispatcher"]
        mod = getattr(d.py_func, "__module__", "") or ""
        if mod.startswith("gradfusion"):
            compiles.append((mod + "." + d.py_func.__qualname__,
                             bool(d.targetoptions.get("parallel")), spent - inner))
event.register("numba:compile", Count())
case, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import numpy as np
import gradfusion
t_import = time.perf_counter() - t_start
t0 = time.perf_counter()
if case == "demo":
    from gradfusion.demo import run_demo
    run_demo(out, overwrite=True, verbose=False)
else:
    from skimage import data, img_as_float, transform
    I = img_as_float(data.astronaut())
    I = np.clip(transform.resize(I, (size, size), anti_aliasing=True), 0, 1).astype(case)
    gradfusion.solve(I, (0.4 * I ** 2.2).astype(case), 0.7)
t_call = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps(dict(
    import_s=t_import, call_s=t_call, compiles=len(compiles),
    parallel_compiles=sum(p for _, p, _ in compiles),
    compile_s=sum(t for _, _, t in compiles), kernels=compiles,
    cpu_s=ru.ru_utime + ru.ru_stime)))
"""


def run_case(case, size, cache_dir, out_dir, policy="tiered"):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, GRADFUSION_PARALLEL_COMPILE=policy)
    env.pop("GRADFUSION_COMPILE_NOTICE", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, case, str(size), out_dir],
                          capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{proc.stderr}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT "):])
    res["wall_s"] = wall
    res["notice"] = "compiling kernels" in proc.stderr
    return res


def kernel_table(kernels):
    """Rows ``(kernel, serial s, parallel s)`` of the kernels compiled as both twins."""
    times = {}
    for name, parallel, seconds in kernels:
        base = name[:-len("_serial")] if name.endswith("_serial") else name
        times.setdefault(base, {})[parallel] = times.get(base, {}).get(parallel, 0.0) + seconds
    return sorted(((k, t[False], t[True]) for k, t in times.items() if len(t) == 2),
                  key=lambda r: r[1] - r[2])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["float32", "float64", "demo"],
                    choices=["float32", "float64", "demo"])
    ap.add_argument("--policies", nargs="+", default=["tiered"], choices=["tiered", "eager"],
                    help="parallel compilation policies to compare (default: tiered)")
    ap.add_argument("--size", type=int, default=256, help="side of the solve cases' pair")
    ap.add_argument("--kernels", action="store_true",
                    help="print the serial and parallel compile time per kernel (eager demo)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    policies = list(args.policies)
    if args.kernels and "eager" not in policies:
        policies.append("eager")
    cases = list(args.cases)
    if args.kernels and "demo" not in cases:
        cases.append("demo")

    rows = []
    for case in cases:
        for policy in policies:
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
                load = os.getloadavg()[0]
                cold = run_case(case, args.size, cache, out, policy)
                warm = run_case(case, args.size, cache, out, policy)
            name = "demo" if case == "demo" else f"solve {case} {args.size}x{args.size}"
            rows.append(dict(case=name, policy=policy, load=load, cold=cold, warm=warm))
            print(f"{name} ({policy}): cold {cold['wall_s']:.1f} s wall ({cold['cpu_s']:.1f} s "
                  f"CPU, {cold['compiles']} compiles), warm {warm['wall_s']:.1f} s", flush=True)

    print()
    print(f"{'case':24s} {'policy':>6s} {'cold wall':>9s} {'cold CPU':>8s} {'call':>6s} "
          f"{'compiles':>8s} {'parallel':>8s} {'compile s':>9s} {'notice':>6s} {'warm wall':>9s} "
          f"{'warm CPU':>8s} {'load':>5s}")
    for r in rows:
        c, w = r["cold"], r["warm"]
        print(f"{r['case']:24s} {r['policy']:>6s} {c['wall_s']:9.1f} {c['cpu_s']:8.1f} "
              f"{c['call_s']:6.1f} {c['compiles']:8d} {c['parallel_compiles']:8d} "
              f"{c['compile_s']:9.1f} {'yes' if c['notice'] else 'no':>6s} {w['wall_s']:9.1f} "
              f"{w['cpu_s']:8.1f} {r['load']:5.1f}")
    by = {(r["case"], r["policy"]): r for r in rows}
    for r in rows:
        other = by.get((r["case"], "eager"))
        if r["policy"] == "tiered" and other:
            print(f"{r['case']}: cold wall, tiered / eager = "
                  f"{r['cold']['wall_s'] / other['cold']['wall_s']:.2f}")
    if args.kernels:
        demo = by[("demo", "eager")]["cold"]
        table = kernel_table(demo["kernels"])
        print()
        print(f"{'kernel (compiled as both twins, eager demo)':56s} {'serial s':>8s} "
              f"{'parallel s':>10s} {'extra s':>7s}")
        for name, ser, par in table:
            print(f"{name:56s} {ser:8.2f} {par:10.2f} {par - ser:7.2f}")
        extra = sorted(par - ser for _, ser, par in table)
        if extra:
            print(f"extra compile time of a parallel twin: median {extra[len(extra) // 2]:.2f} s, "
                  f"range {extra[0]:.2f}-{extra[-1]:.2f} s over {len(extra)} kernels")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(python=sys.version.split()[0], cores=os.cpu_count(), rows=rows), f,
                      indent=1)
    return rows


if __name__ == "__main__":
    main()
