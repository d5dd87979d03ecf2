"""Bounded least-squares solvers (private).

``mprgp``: the conjugate-gradient box-QP solver used at every scale.
"""

from .mprgp import STATUS_MESSAGES, QPState, mprgp

__all__ = ["mprgp", "QPState", "STATUS_MESSAGES"]
