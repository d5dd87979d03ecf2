"""Batch benchmark: pairs per second through gradfusion.solve_many against a plain loop.

Per size (RGB float64 pairs cut from the scikit-image photographs, each with a
night-like proposal), ``--repeat`` times, alternating the configurations:

* ``loop``: ``for I, P in pairs: solve(I, P)`` in this process (all cores to
  each solve) - the yardstick;
* ``threads xW`` / ``processes xW``: ``solve_many(pairs, workers=W,
  backend=...)``, end to end (a process pool's start-up included: each call
  starts its own pool);
* ``dask x2``: ``solve_many(pairs, client=...)`` on a 2-worker ``LocalCluster``
  (one thread each) started once beforehand (its start-up reported apart).

It prints the median pairs per second of each and its ratio to the loop, the
median per-pair overhead of ``threads x1`` against the loop (the target: at
most 10% of a 256x256 pair), the speed-up of 2 workers over 1, the Numba
threading layer and the load average. On a machine shared with other jobs the
numbers are noisy: take medians of several repeats, and read the load average.

    python bench/bench_batch.py --sizes 256x256 1024x928 --pairs 12 4 --repeat 3 --json out.json
"""

import argparse
import json
import os
import statistics
import time

# timed calls run compiled code only: the parallel twins of the kernels compile on their first
# use, not once they pay as by default (gradfusion._jit); set before gradfusion is imported
# (and inherited by child processes)
os.environ.setdefault("GRADFUSION_PARALLEL_COMPILE", "eager")

import numpy as np

ALPHA = 0.7


def make_pairs(shape, n):
    from skimage import data, img_as_float, transform

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    pairs = []
    for k in range(n):
        I = img_as_float(photos[k % len(photos)])
        I = np.clip(transform.resize(I, shape, anti_aliasing=True), 0, 1)
        I = np.ascontiguousarray(np.roll(I, 9 * k, axis=1))
        pairs.append((I, 0.4 * I ** 2.2))
    return pairs


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256x256", "1024x928"])
    ap.add_argument("--pairs", nargs="+", type=int, default=[12, 4],
                    help="pairs per size (one number per size, or one for all)")
    ap.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--backends", nargs="+", default=["threads", "processes"])
    ap.add_argument("--no-dask", action="store_true", help="skip the LocalCluster case")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)

    import gradfusion
    from gradfusion._threads import threading_layer

    client = cluster = None
    dask_start = None
    if not args.no_dask:
        try:
            from distributed import Client, LocalCluster

            dask_start, (cluster, client) = timed(lambda: _cluster(LocalCluster, Client))
        except ImportError:
            print("dask.distributed not installed: no dask row (pip install 'gradfusion[dask]')")
    counts = args.pairs * len(args.sizes) if len(args.pairs) == 1 else args.pairs
    rows = []
    try:
        for size, n in zip(args.sizes, counts):
            h, w = (int(x) for x in size.split("x"))
            pairs = make_pairs((h, w), n)
            gradfusion.solve(*pairs[0], ALPHA)                   # JIT caches loaded
            configs = [("loop", None, None)]
            configs += [(b, b, k) for b in args.backends for k in args.workers]
            if client is not None:
                configs.append(("dask", "dask", 2))
            times = {}
            for _ in range(args.repeat):
                for name, backend, k in configs:
                    if backend is None:
                        t, _ = timed(lambda: [gradfusion.solve(I, P, ALPHA) for I, P in pairs])
                    elif backend == "dask":
                        t, res = timed(lambda: gradfusion.solve_many(pairs, ALPHA, client=client))
                        assert all(r.ok for r in res), [r.error for r in res]
                    else:
                        t, res = timed(lambda: gradfusion.solve_many(pairs, ALPHA, workers=k,
                                                                     backend=backend))
                        assert all(r.ok for r in res), [r.error for r in res]
                    times.setdefault((name, k), []).append(t)
            loop = statistics.median(times[("loop", None)])
            for (name, k), ts in times.items():
                med = statistics.median(ts)
                rows.append(dict(size=size, pairs=n, config=name if k is None else f"{name} x{k}",
                                 median_s=med, pairs_per_s=n / med, vs_loop=loop / med,
                                 times=ts))
            one = times.get(("threads", 1))
            if one:
                per_pair = [(a - b) / n for a, b in zip(one, times[("loop", None)])]
                rows.append(dict(size=size, pairs=n, config="threads x1 overhead per pair",
                                 overhead_s=statistics.median(per_pair),
                                 overhead_share=statistics.median(per_pair) / (loop / n)))
    finally:
        if client is not None:
            client.close()
            cluster.close()
    layer = threading_layer()
    print(f"threading layer {layer}, load average {os.getloadavg()}, "
          f"cores {len(os.sched_getaffinity(0))}" +
          (f", LocalCluster start {dask_start:.1f} s" if dask_start else ""))
    print(f"{'size':>10} {'pairs':>5} {'config':<16} {'median s':>9} {'pairs/s':>8} {'vs loop':>8}")
    for r in rows:
        if "overhead_s" in r:
            print(f"{r['size']:>10} {r['pairs']:>5} threads x1 overhead {1e3 * r['overhead_s']:.1f} ms "
                  f"a pair ({100 * r['overhead_share']:.1f}% of a looped solve)")
        else:
            print(f"{r['size']:>10} {r['pairs']:>5} {r['config']:<16} {r['median_s']:9.2f} "
                  f"{r['pairs_per_s']:8.2f} {r['vs_loop']:8.2f}")
    for size in args.sizes:
        sel = {r["config"]: r for r in rows if r["size"] == size and "pairs_per_s" in r}
        for b in args.backends:
            if f"{b} x1" in sel and f"{b} x2" in sel:
                print(f"{size}: {b} x2 / x1 = "
                      f"{sel[f'{b} x2']['pairs_per_s'] / sel[f'{b} x1']['pairs_per_s']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(layer=layer, load=os.getloadavg(), rows=rows), fh, indent=1)


def _cluster(LocalCluster, Client):
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return cluster, Client(cluster)


if __name__ == "__main__":
    main()
