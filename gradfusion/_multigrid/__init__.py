"""One geometric multigrid for both of gradfusion's problems (private).

Both the synthesis solver's inner linear systems (the free block ``A_FF`` of the box
QP's Hessian, :mod:`gradfusion._solvers`) and Poisson blending (the masked Laplacian,
:mod:`gradfusion.poisson`) are solved by conjugate gradients preconditioned with one
multigrid V-cycle on a 2-D grid. This package is what they share; each problem
supplies its levels:

================== ====================================================================
module             job
================== ====================================================================
``hierarchy``      the set-up half: the :class:`~.hierarchy.Level` protocol (operator,
                   smoother, restriction, prolongation; fused composite steps as
                   optional overrides), :class:`~.hierarchy.Hierarchy` (levels,
                   coarsest solver, coarse arrays) and its ``aspreconditioner()``
                   (``M(r)`` and a SciPy ``LinearOperator``), in the manner of pyamg
``cycle``          the apply half: the V-cycle, once for every hierarchy
``coarsest``       coarsest-level solvers: a masked dense pseudo-inverse per channel
                   (synthesis), a sparse LU shared by the channels (Poisson)
``pcg``            the one preconditioned conjugate-gradient loop (scalar recurrences,
                   stopping, breakdown), its vector work done by hooks that a problem
                   may fuse
``transfer``       the cell-centred grid transfers (Numba kernels) of the synthesis
                   hierarchy and of the coarse-to-fine driver
================== ====================================================================

The levels themselves are the problems' own: :mod:`gradfusion._solvers.multigrid`
(cell-centred, rediscretised coarse operators on the free set, one Richardson step,
fused passes) and :mod:`gradfusion._poisson.levels` (vertex-centred, Galerkin coarse
operators, Gauss-Seidel, the fine level fused into the conjugate gradients). Why the
two keep different coarse operators: docs/development.md, "One multigrid for both
problems".
"""

from .hierarchy import Hierarchy, Level, Preconditioner

__all__ = ["Hierarchy", "Level", "Preconditioner"]
