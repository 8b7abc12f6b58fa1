"""datadiet: find the training examples that matter, prune the rest, prove the pruned set trains as well.

Convention, stated once for every score in :mod:`datadiet.scores`: **higher score = harder =
more important = kept first** by the default selection strategy.
"""

from datadiet.errors import DataDietError

__version__ = "0.1.0"

__all__ = ["DataDietError", "__version__"]
