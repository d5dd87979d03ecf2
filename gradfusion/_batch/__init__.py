"""Private machinery of :func:`gradfusion.solve_many` and ``gradfusion batch``.

``_tasks``: what runs in a worker (one pair, arrays or files);
``_local``: the local process/thread pool; ``_dask``: a ``dask.distributed`` client;
``_folder``: pairing files by name and the resumable manifest of the command line.
The Numba threading layer and thread counts are the package's (``gradfusion._threads``).
"""
