"""The numbers and trends the paper states in Section VI, as data the report compares ours against.

Each quoted number names its figure, the method, where it is read (one sweep point, or the range over all
points) and the paper's value or range. Each trend is one sentence of the paper and a check over our tables
(in :mod:`nomasplit.experiments.report`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuotedNumber:
    """A number (or range) the paper quotes.

    Attributes:
        figure: the figure key ("2".."11").
        method: the algorithm it is about.
        point: the sweep value (as in the sweep, e.g. "nin", "10") or None for "the range over all points".
        low, high: the paper's value (low == high) or range.
        quote: the paper's words.
        kind: "ratio" (a figure's measure) or "argmax" (the sweep value where the method's curve peaks).
    """

    figure: str
    method: str
    point: str | None
    low: float
    high: float
    quote: str
    kind: str = "ratio"

    @property
    def key(self) -> str:
        """A stable name: ``fig2-ecc-oma-nin``, ``fig2-ecc-oma-range``, ``fig7-ecc-noma-peak``."""
        where = "peak" if self.kind == "argmax" else (self.point if self.point is not None else "range")
        return f"fig{self.figure}-{self.method}-{where}"


QUOTED_NUMBERS: tuple[QuotedNumber, ...] = (
    QuotedNumber(
        "2",
        "ecc-oma",
        None,
        3.1,
        8.0,
        "without NOMA, the latency speedup of ECC is 3.1 to 8 times higher than the Device-Only approach",
    ),
    QuotedNumber("2", "ecc-oma", "nin", 4.1, 4.1, "in NiN, the latency speedup of ECC without NOMA is 4.1 times"),
    QuotedNumber("2", "ecc-noma", "nin", 6.1, 6.1, "... while it is 6.1 times with NOMA channel"),
    QuotedNumber(
        "3",
        "ecc-oma",
        None,
        0.85,
        0.97,
        "the energy consumption reduction of ECC is 0.85 to 0.97 times [that of] Device-Only",
    ),
    QuotedNumber(
        "5",
        "ecc-oma",
        None,
        1.5,
        1.7,
        "the energy consumption reduction in ECC is 1.5 to 1.7 times larger than Neurosurgeon",
    ),
    QuotedNumber("5", "dnn-surgery", None, 1.3, 1.49, "... which is 1.3 to 1.49 times in DNN surgeon"),
    QuotedNumber("6", "ecc-noma", "10", 7.1, 7.1, "when U=10, the latency speedup of ECC-NOMA ... is 7.1"),
    QuotedNumber("6", "neurosurgeon", "10", 6.3, 6.3, "... and Neurosurgeon ... 6.3"),
    QuotedNumber("6", "ecc-noma", "90", 3.85, 3.85, "when U=90, this becomes 3.85 [ECC-NOMA]"),
    QuotedNumber("6", "neurosurgeon", "90", 1.9, 1.9, "... and 1.9 [Neurosurgeon]"),
    QuotedNumber(
        "7",
        "ecc-noma",
        None,
        4.0,
        6.0,
        "the latency speedup of ECC-NOMA increases first then reduc[es] after M=6 ... when M=4 the "
        "performance of ECC-NOMA is the best",
        kind="argmax",
    ),
)

#: A single quoted value "agrees" when ours is within this relative distance, or our 95% interval contains it;
#: a quoted range agrees when our range over the points lies inside it, widened by this fraction.
AGREEMENT_TOLERANCE = 0.15
