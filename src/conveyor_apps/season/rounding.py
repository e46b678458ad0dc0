"""Integer arithmetic the plans rely on: half-up products and exact apportionment.

Quantities are whole units, and a split must add back up to its total exactly, so
every division of units goes through `apportion` (largest-remainder method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal


def round_half_up(quantity: float, factor: float) -> int:
    """`quantity × factor` rounded half away from zero, computed in decimal.

    Decimal arithmetic on the shortest float reprs keeps 8000 × 1.22 at 9760 and
    0.5-cases rounding up, where binary floats and banker's rounding would not.
    """
    product = Decimal(repr(quantity)) * Decimal(repr(factor))
    return int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` units into integers proportional to `weights`, summing exactly.

    Largest-remainder method; ties go to the earlier index. All-zero (or empty of
    positive) weights split evenly.

    Raises:
        ValueError: if `total` or a weight is negative, or `weights` is empty.
    """
    if not weights:
        raise ValueError("apportion needs at least one weight")
    if total < 0 or any(weight < 0 or math.isnan(weight) for weight in weights):
        raise ValueError("apportion needs a non-negative total and weights")
    weight_sum = math.fsum(weights)
    shares = (
        [total * weight / weight_sum for weight in weights]
        if weight_sum > 0
        else [total / len(weights)] * len(weights)
    )
    parts = [math.floor(share) for share in shares]
    remaining = total - sum(parts)
    by_remainder = sorted(
        range(len(shares)), key=lambda index: (parts[index] - shares[index], index)
    )
    for index in by_remainder[:remaining]:
        parts[index] += 1
    return parts
