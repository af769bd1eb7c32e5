"""The numbers and trends the paper states in Section VI, as data the report compares ours against.

Each quoted number names its figure, the method, where it is read (one sweep point, or the range over all
points) and the paper's value or range. Each trend is one sentence of the paper and a check over our tables,
written in the language of :mod:`nomasplit.experiments.checks`; :mod:`nomasplit.experiments.verdicts` runs both.
"""

from __future__ import annotations

from dataclasses import dataclass

from nomasplit.experiments.checks import Trend, all_above, beats, decreasing, flat, gap_changes, interior_peak


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


#: The methods that offload, and the baselines ECC-NOMA is set against.
OFFLOADERS = ("edge-only", "neurosurgeon", "dnn-surgery", "ecc-noma")
BASELINES = ("edge-only", "neurosurgeon", "dnn-surgery")

#: Why Figs. 8/11's "the advantage grows with the workload" cannot hold in this model.
LIMIT_LINEAR_WORKLOAD = (
    "every cost of the model scales linearly with the workload k, so every method makes the same choices at "
    "every k and every ratio between methods is the same at every k"
)
#: Why Fig. 7's "Edge-Only, Neurosurgeon and DNN Surgery are not affected by M" cannot hold in this model.
LIMIT_OMA_BY_M = (
    "with the bandwidth fixed, each subchannel has B/M Hz and an OMA method serves at most M users per AP, so "
    "every OMA method's rates and the number it serves change with M"
)


#: Every trend the paper states about Figs. 2-11, in figure order.
TRENDS: tuple[Trend, ...] = (
    Trend("2", "ECC and Edge-Only are faster than Device-Only", all_above(("ecc-oma", "edge-only"), 1.0)),
    Trend("2", "ECC (OMA) is faster than Edge-Only", beats("ecc-oma", ("edge-only",))),
    Trend("2", "ECC-NOMA is faster than ECC (OMA)", beats("ecc-noma", ("ecc-oma",))),
    Trend(
        "3",
        "ECC and Edge-Only spend more energy than Device-Only (reduction < 1)",
        all_above(("ecc-oma", "edge-only"), 1.0, above=False),
    ),
    Trend("3", "ECC-NOMA spends more energy than ECC (OMA)", beats("ecc-oma", ("ecc-noma",))),
    Trend(
        "4",
        "ECC (OMA) and DNN Surgery are a little slower than Neurosurgeon",
        all_above(("ecc-oma", "dnn-surgery"), 1.0, above=False),
    ),
    Trend("4", "ECC-NOMA is faster than Neurosurgeon", all_above(("ecc-noma",), 1.0)),
    Trend(
        "5",
        "ECC (OMA) has the best energy reduction",
        beats("ecc-oma", ("ecc-noma", "dnn-surgery", "neurosurgeon")),
    ),
    Trend("5", "DNN Surgery spends less energy than Neurosurgeon", all_above(("dnn-surgery",), 1.0)),
    Trend(
        "5",
        "ECC-NOMA spends less than Neurosurgeon and DNN Surgery",
        beats("ecc-noma", ("dnn-surgery", "neurosurgeon")),
    ),
    Trend(
        "6",
        "the speedup of every offloading method falls as the user density grows",
        decreasing(OFFLOADERS),
    ),
    Trend("6", "ECC-NOMA has the best speedup at every density", beats("ecc-noma", BASELINES)),
    Trend(
        "6",
        "ECC-NOMA's advantage over Neurosurgeon grows with the density",
        gap_changes("ecc-noma", "neurosurgeon", grows=True),
    ),
    Trend("7", "ECC-NOMA's speedup first rises with M, then falls", interior_peak("ecc-noma")),
    Trend(
        "7",
        "Edge-Only, Neurosurgeon and DNN Surgery are not affected by M",
        flat(BASELINES, 0.10),
        limit=LIMIT_OMA_BY_M,
    ),
    Trend("8", "latency grows with the workload for every method (speedup falls)", decreasing(OFFLOADERS)),
    Trend("8", "ECC-NOMA has the best speedup at every workload", beats("ecc-noma", BASELINES)),
    Trend(
        "8",
        "ECC-NOMA's advantage grows with the workload",
        gap_changes("ecc-noma", None, grows=True),
        limit=LIMIT_LINEAR_WORKLOAD,
    ),
    Trend(
        "9",
        "the energy reduction of the offloading methods falls as the density grows",
        decreasing(OFFLOADERS),
    ),
    Trend("9", "ECC-NOMA has the best energy reduction at every density", beats("ecc-noma", BASELINES)),
    Trend("9", "ECC-NOMA's advantage shrinks as the density grows", gap_changes("ecc-noma", None, grows=False)),
    Trend("10", "ECC-NOMA's energy reduction changes only slightly with M", flat(("ecc-noma",), 0.20)),
    Trend(
        "10",
        "Device-Only spends the least energy (every other method < 1)",
        all_above(OFFLOADERS, 1.0, above=False),
    ),
    Trend("11", "ECC-NOMA has the best energy reduction at every workload", beats("ecc-noma", BASELINES)),
    Trend(
        "11",
        "ECC-NOMA's advantage grows with the workload",
        gap_changes("ecc-noma", None, grows=True),
        limit=LIMIT_LINEAR_WORKLOAD,
    ),
)


def trend_key(index: int) -> str:
    """Stable name of the ``index``-th trend of :data:`TRENDS`: ``fig6-t2`` (the second trend of Fig. 6)."""
    trend = TRENDS[index]
    number = sum(1 for other in TRENDS[: index + 1] if other.figure == trend.figure)
    return f"fig{trend.figure}-t{number}"
