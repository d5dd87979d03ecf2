"""Bounded least-squares solvers (private).

``mprgp``: the conjugate-gradient box-QP solver used at every scale;
``coarse_to_fine``: the multiscale warm-start driver.
"""

from .mprgp import STATUS_MESSAGES, QPState, mprgp
from .multiscale import coarse_to_fine

__all__ = ["mprgp", "coarse_to_fine", "QPState", "STATUS_MESSAGES"]
