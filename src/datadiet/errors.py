"""The one exception type for bad input.

Every user-facing check raises :class:`DataDietError`, a ``ValueError`` whose message is a single
line naming the parameter and the value received. The CLI prints that line on stderr and exits 2.
"""


class DataDietError(ValueError):
    """Bad input (unknown name, wrong shape, NaN, out-of-range value, corrupt or missing file)."""
