"""gradfusion: gradient-domain non-negative image synthesis for additive displays.

The eye looking through an optical see-through display sees
``O = alpha * I + R``: the scene ``I`` dimmed by the combiner and a displayed
residual ``0 <= R <= 1 - alpha``. :func:`solve` finds the residual whose
output matches a proposal ``P`` best in the Sobel-gradient domain.
"""

from . import baselines, poisson
from ._memory import MemoryLimitError
from .objective import gradient_error, paper_loss
from .operators import DifferenceFilter, ForwardDifference, SobelGradient
from .poisson import BlendResult
from .synthesis import DEFAULT_REG_WEIGHT, SolveResult, solve

__version__ = "0.1.0"

__all__ = [
    "solve",
    "SolveResult",
    "DEFAULT_REG_WEIGHT",
    "gradient_error",
    "paper_loss",
    "SobelGradient",
    "ForwardDifference",
    "DifferenceFilter",
    "baselines",
    "poisson",
    "BlendResult",
    "MemoryLimitError",
    "__version__",
]
