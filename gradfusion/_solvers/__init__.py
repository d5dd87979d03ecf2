"""Bounded least-squares solvers (private).

``active_set_solve``: the primal-dual active-set solver with a multigrid-preconditioned
inner CG; ``mprgp``: the conjugate-gradient box-QP solver (and the active-set solver's
fallback);
``coarse_to_fine``: the multiscale warm-start driver (and the window solve around a local
change, ``window``).
"""

from .active_set import active_set_solve
from .mprgp import STATUS_MESSAGES, QPState, mprgp
from .multiscale import METHODS, coarse_to_fine, resolve_method
from .window import MAX_FRACTION as WINDOW_MAX_FRACTION

__all__ = ["mprgp", "active_set_solve", "coarse_to_fine", "resolve_method", "METHODS",
           "QPState", "STATUS_MESSAGES", "WINDOW_MAX_FRACTION"]
