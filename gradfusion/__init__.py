"""gradfusion: gradient-domain non-negative image synthesis for additive displays.

The eye looking through an optical see-through display sees
``O = alpha * I + R``: the scene ``I`` dimmed by the combiner and a displayed
residual ``0 <= R <= 1 - alpha``. :func:`solve` finds the residual whose
output matches a proposal ``P`` best in the Sobel-gradient domain.
"""

import os as _os

# Numba runs the parallel kernels on GNU OpenMP, whose threads busy-wait at every
# barrier by default. When other processes share the cores, a spinning thread burns
# the time slice its partner needs: the same solve took 38.6 s instead of 5.5 s on a
# loaded 2-core machine (docs/solver.md, "Threads"). Set before Numba starts its
# thread pool; a value chosen by the user wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import baselines, metrics, poisson  # noqa: E402
from .batch import DaskUnavailableError, PairResult, solve_many  # noqa: E402
from ._memory import MemoryLimitError  # noqa: E402
from .evaluation import Evaluation, comparison_figure, evaluate  # noqa: E402
from .objective import gradient_error, paper_loss  # noqa: E402
from .operators import DifferenceFilter, ForwardDifference, SobelGradient  # noqa: E402
from .synthesis import (DEFAULT_BOUNDARY, DEFAULT_LEVEL_WEIGHT, DEFAULT_REG_WEIGHT,  # noqa: E402
                        LEVEL_WEIGHTS, SolveResult, SynthesisResult, solve)
from .sweep import DEFAULT_LEVEL_WEIGHTS, Tradeoff, tradeoff  # noqa: E402
from . import video  # noqa: E402
from .video import FrameResult, solve_sequence  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # gradfusion.BlendResult: a family's result lives in its module (gradfusion.poisson)
    if name == "BlendResult":
        from ._deprecation import REMOVAL, warn
        warn(f"gradfusion.BlendResult is deprecated: use gradfusion.poisson.BlendResult (the "
             f"top-level name will be removed in {REMOVAL})")
        return poisson.BlendResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "solve",
    "SolveResult",
    "SynthesisResult",
    "solve_many",
    "PairResult",
    "DaskUnavailableError",
    "DEFAULT_BOUNDARY",
    "DEFAULT_LEVEL_WEIGHT",
    "DEFAULT_REG_WEIGHT",
    "LEVEL_WEIGHTS",
    "gradient_error",
    "paper_loss",
    "SobelGradient",
    "ForwardDifference",
    "DifferenceFilter",
    "baselines",
    "metrics",
    "evaluate",
    "tradeoff",
    "Tradeoff",
    "DEFAULT_LEVEL_WEIGHTS",
    "Evaluation",
    "comparison_figure",
    "poisson",
    "MemoryLimitError",
    "solve_sequence",
    "FrameResult",
    "video",
    "__version__",
]
