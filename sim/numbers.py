"""Numbers as people read them: four significant digits, and no floating-point residue.

A total that should be zero often comes out as -5.7e-14 after summing payoffs in another order; printed as
is, it reads as a result. Anything closer to zero than `NOISE` is printed as 0.
"""

from __future__ import annotations

import math

NOISE = 1e-9


def format_number(value: float | int | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits; residue below `NOISE` as 0, missing values as 'nan'."""
    if value is None:
        return "nan"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) < NOISE:
        return "0"
    return f"{value:.{digits}g}"
