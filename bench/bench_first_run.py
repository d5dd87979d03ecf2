"""First-run benchmark: what a fresh install pays to compile gradfusion's Numba kernels.

Each case runs in a fresh subprocess with an empty ``NUMBA_CACHE_DIR`` (a cold cache, as
after ``pip install``), then once more on the cache that run wrote (warm):

* ``solve float32`` / ``solve float64``: ``gradfusion.solve`` on a ``--size`` photograph pair
  (the first call of each dtype);
* ``demo``: ``gradfusion demo`` (the README's command, after the install).

Per case it reports the wall time and the CPU time of the process (compilation is
single-threaded, so on a machine shared with other jobs the CPU time is the steadier
figure; the load average is printed too), how many kernel signatures were compiled
(Numba's ``numba:compile`` events of gradfusion's kernels), and whether the one-line
notice was printed; then the same for the warm run.

    python bench/bench_first_run.py --json first_run.json
    python bench/bench_first_run.py --cases demo            # only the demo
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
count = [0]
class Count(event.Listener):
    def on_start(self, e):
        mod = getattr(e.data["dispatcher"].py_func, "__module__", "") or ""
        count[0] += mod.startswith("gradfusion")
    def on_end(self, e):
        pass
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
print("RESULT " + json.dumps(dict(import_s=t_import, call_s=t_call, compiles=count[0],
                                  cpu_s=ru.ru_utime + ru.ru_stime)))
"""


def run_case(case, size, cache_dir, out_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["float32", "float64", "demo"],
                    choices=["float32", "float64", "demo"])
    ap.add_argument("--size", type=int, default=256, help="side of the solve cases' pair")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    rows = []
    for case in args.cases:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            load = os.getloadavg()[0]
            cold = run_case(case, args.size, cache, out)
            warm = run_case(case, args.size, cache, out)
        name = "demo" if case == "demo" else f"solve {case} {args.size}x{args.size}"
        rows.append(dict(case=name, load=load, cold=cold, warm=warm))
        print(f"{name}: cold {cold['wall_s']:.1f} s wall ({cold['cpu_s']:.1f} s CPU, "
              f"{cold['compiles']} compiles), warm {warm['wall_s']:.1f} s", flush=True)

    print()
    print(f"{'case':24s} {'cold wall':>9s} {'cold CPU':>9s} {'call':>7s} {'compiles':>8s} "
          f"{'notice':>6s} {'warm wall':>9s} {'warm CPU':>8s} {'load':>5s}")
    for r in rows:
        c, w = r["cold"], r["warm"]
        print(f"{r['case']:24s} {c['wall_s']:9.1f} {c['cpu_s']:9.1f} {c['call_s']:7.1f} "
              f"{c['compiles']:8d} {'yes' if c['notice'] else 'no':>6s} {w['wall_s']:9.1f} "
              f"{w['cpu_s']:8.1f} {r['load']:5.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(python=sys.version.split()[0], cores=os.cpu_count(), rows=rows), f,
                      indent=1)
    return rows


if __name__ == "__main__":
    main()
