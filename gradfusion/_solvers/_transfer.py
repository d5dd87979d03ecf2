"""The coarse-to-fine driver's grid transfers: :func:`downsample` and :func:`upsample`.

They are the cell-centred transfers of the shared multigrid package
(:mod:`gradfusion._multigrid.transfer`, where the kernels live and are documented),
imported here under the names the driver uses.
"""

from .._multigrid.transfer import downsample, upsample

__all__ = ["downsample", "upsample"]
