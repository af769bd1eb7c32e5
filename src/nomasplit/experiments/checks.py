"""The language of the paper's claims: how a sweep point is found in a figure's table, and how a stated trend is
checked (means apart by more than :data:`MARGIN`, separate 95% intervals, and the same comparisons seed by seed).

:mod:`nomasplit.experiments.claims` writes the paper's trends in this language; :mod:`nomasplit.experiments.
verdicts` runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nomasplit.experiments.figures import METHOD_LABELS, model_family
from nomasplit.experiments.measures import mean_ci95

Tables = dict[str, pd.DataFrame]

#: Two numbers differ (one is larger, a curve rises or falls, a peak exists) only beyond this relative
#: margin; below it they count as equal (plans equal to Device-Only must not agree by rounding noise).
MARGIN = 0.01


def method_label(method: str) -> str:
    """The method's name in figures and tables (``ECC-NOMA``), or its registry name."""
    return METHOD_LABELS.get(method, method)


def format_number(value: float) -> str:
    """Three significant digits, ``n/a`` for None, NaN or infinity."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}"


def format_interval(mean: float, low: float, high: float) -> str:
    """``mean [low, high]``, or the mean alone without an interval (one seed)."""
    if not math.isfinite(low):
        return format_number(mean)
    return f"{format_number(mean)} [{format_number(low)}, {format_number(high)}]"


def method_series(table: pd.DataFrame, method: str) -> list[tuple[str, float]]:
    """(value, mean) of one method, in the table's order."""
    rows = table[table["algorithm"] == method]
    return [(str(v), float(m)) for v, m in zip(rows["value"], rows["mean"], strict=True)]


def matches_point(value: str, point: str) -> bool:
    """Whether a table's sweep value is the paper's point, however the sweep gave it: numbers by value
    (``"10"`` and ``"10.0"``), models by their zoo family (``nin``, ``nin-in8-a16``, a profile file of NiN)."""
    try:
        return math.isclose(float(value), float(point))
    except ValueError:
        return model_family(value) == point


def table_row(table: pd.DataFrame, value: str, method: str) -> tuple[float, float, float] | None:
    """(mean, low, high) of one point and method; without an interval (one seed) low = high = mean."""
    hit = table[(table["value"].astype(str) == value) & (table["algorithm"] == method)]
    if len(hit) == 0:
        return None
    mean, low, high = (float(hit.iloc[0][column]) for column in ("mean", "ci_low", "ci_high"))
    if not (math.isfinite(low) and math.isfinite(high)):
        low = high = mean
    return mean, low, high


def never_offloads(table: pd.DataFrame, method: str, values: list[str] | None = None) -> bool:
    """True when the table records that ``method`` offloads no user at any of ``values`` (default: all)."""
    if "offloading" not in table.columns or method == "device-only":
        return False
    rows = table[table["algorithm"] == method]
    if values is not None:
        rows = rows[rows["value"].astype(str).isin(values)]
    shares = rows["offloading"].astype(float)
    return bool(len(shares)) and bool(shares.notna().all()) and bool((shares == 0).all())


@dataclass(frozen=True)
class Outcome:
    """A trend check's verdict and evidence, and the verdict of the same comparisons tested seed by seed.

    ``paired``: every method of a (point, seed) runs on the same scenario, so "A above B" can also be tested on
    the per-seed ratio A / B (the 95% t-interval over seeds of its log excludes 0). It is reported beside the
    verdict, which needs separate intervals; None where the check compares no two points (flatness).
    """

    verdict: str
    evidence: str
    paired: str | None = None


Check = Callable[..., Outcome]


def combine(statuses: list[str]) -> str:
    """One verdict of several comparisons: the worst of them."""
    if not statuses or "disagrees" in statuses:
        return "disagrees"
    return "inconclusive" if "inconclusive" in statuses else "agrees"


def _greater(first: tuple[float, float, float], second: tuple[float, float, float]) -> str:
    """Whether ``first`` exceeds ``second``: by MARGIN in the means and with separate 95% intervals."""
    if not first[0] > second[0] * (1 + MARGIN):
        return "disagrees"
    return "agrees" if first[1] > second[2] else "inconclusive"


def _per_seed(ratios: pd.DataFrame, value: str, method: str) -> pd.Series:
    """One method's per-seed ratios at one point, indexed by seed."""
    rows = ratios[(ratios["value"].astype(str) == value) & (ratios["algorithm"] == method)]
    return rows.set_index("seed")["ratio"]


def _greater_paired(ratios: pd.DataFrame | None, first: tuple[str, str], second: tuple[str, str]) -> str | None:
    """Whether ``method`` at ``value`` (``first``) exceeds ``second`` seed by seed: the per-seed ratio of the two
    exceeds 1 + MARGIN in its geometric mean, and the 95% t-interval of its log excludes 0. None without at
    least two common seeds."""
    if ratios is None or len(ratios) == 0:
        return None
    mine, theirs = _per_seed(ratios, first[1], first[0]), _per_seed(ratios, second[1], second[0])
    logs = np.log((mine / theirs).dropna().to_numpy(dtype=np.float64))
    logs = logs[np.isfinite(logs)]
    if logs.size < 2:
        return None
    mean, low, _ = mean_ci95(logs)
    if not mean > math.log(1 + MARGIN):
        return "disagrees"
    return "agrees" if low > 0 else "inconclusive"


def _seeded(ratios: pd.DataFrame | None) -> bool:
    """Whether there are per-seed ratios of at least two seeds (else no test seed by seed)."""
    return ratios is not None and len(ratios) > 0 and ratios["seed"].nunique() >= 2


def _combine_paired(statuses: list[str | None]) -> str | None:
    """:func:`combine` of paired statuses; None if any comparison had no paired test."""
    known = [status for status in statuses if status is not None]
    return combine(known) if statuses and len(known) == len(statuses) else None


@dataclass(frozen=True)
class Trend:
    """One sentence of the paper about a figure, and the check of it on our table (and per-seed ratios)."""

    figure: str
    statement: str
    check: Check
    #: Why this model cannot show the trend under any parameters (None: it can). Stated in the report beside the
    #: verdict and counted in the summary, so that a reader sees which misses are the model's and which the fit's.
    limit: str | None = None

    def run(self, table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        return self.check(table, ratios)


def all_above(methods: tuple[str, ...], threshold: float, above: bool = True) -> Check:
    """Every point of ``methods`` above (below) ``threshold``. Each point's interval is already over the
    per-seed ratio to the figure's baseline, so the seed-by-seed verdict is the same."""

    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        statuses, values = [], []
        line = (threshold, threshold, threshold)
        for method in methods:
            for value, mean in method_series(table, method):
                found = table_row(table, value, method)
                assert found is not None
                statuses.append(_greater(found, line) if above else _greater(line, found))
                values.append((method, value, mean))
        if not values:
            return Outcome("disagrees", "missing points")
        worst = min(values, key=lambda i: i[2]) if above else max(values, key=lambda i: i[2])
        verdict = combine(statuses)
        return Outcome(
            verdict,
            f"{'min' if above else 'max'}: {method_label(worst[0])} at {worst[1]} = {format_number(worst[2])}",
            verdict if _seeded(ratios) else None,
        )

    return check


def beats(better: str, others: tuple[str, ...]) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        statuses, paired, lost, overlap = [], [], [], []
        for other in others:
            for value, mean in method_series(table, other):
                mine, theirs = table_row(table, value, better), table_row(table, value, other)
                if mine is None or theirs is None:
                    continue
                status = _greater(mine, theirs)
                statuses.append(status)
                paired.append(_greater_paired(ratios, (better, value), (other, value)))
                if status == "disagrees":
                    lost.append(f"{method_label(other)} at {value}: {format_number(mean)} vs {format_number(mine[0])}")
                elif status == "inconclusive":
                    overlap.append(f"{method_label(other)} at {value}")
        verdict, by_seed = combine(statuses), _combine_paired(paired)
        if lost:
            text = f"{method_label(better)} not ahead of " + "; ".join(lost[:3]) + ("; ..." if len(lost) > 3 else "")
        elif overlap:
            text = f"{method_label(better)} ahead in the means, intervals overlap: " + ", ".join(overlap[:3])
        else:
            text = f"{method_label(better)} ahead at every point, intervals separate"
        return Outcome(verdict, text, by_seed)

    return check


def decreasing(methods: tuple[str, ...]) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        parts, statuses, paired = [], [], []
        for method in methods:
            series = method_series(table, method)
            if len(series) < 2:
                continue
            first, last = table_row(table, series[0][0], method), table_row(table, series[-1][0], method)
            assert first is not None and last is not None
            statuses.append(_greater(first, last))
            paired.append(_greater_paired(ratios, (method, series[0][0]), (method, series[-1][0])))
            parts.append(f"{method_label(method)} {format_number(first[0])} -> {format_number(last[0])}")
        return Outcome(combine(statuses), "; ".join(parts), _combine_paired(paired))

    return check


def _gap_per_seed(ratios: pd.DataFrame, value: str, method: str, other: str | None) -> dict[int, float]:
    rows = ratios[ratios["value"].astype(str) == value]
    mine = _per_seed(ratios, value, method)
    if other:
        rest = _per_seed(ratios, value, other)
    else:
        others = rows[(rows["algorithm"] != method) & (rows["algorithm"] != "device-only")]
        rest = others.groupby("seed")["ratio"].max()
    gaps = (mine / rest).dropna()
    return {int(seed): float(gap) for seed, gap in gaps.items() if gap > 0}


def gap_changes(method: str, other: str | None, grows: bool) -> Check:
    """The ratio of ``method`` to ``other`` (None: the best other offloading method) grows (or shrinks) from
    the first to the last point: per seed, the change of the log ratio, with a 95% t-interval over seeds."""

    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        values = list(dict.fromkeys(table["value"].astype(str)))
        name = method_label(other) if other else "the best other offloading method"
        if len(values) < 2:
            return Outcome("disagrees", "missing points")
        if ratios is None or len(ratios) == 0:
            means = []
            for value in (values[0], values[-1]):
                rows = table[table["value"].astype(str) == value]
                mine = rows[rows["algorithm"] == method]["mean"]
                rest = (
                    rows[rows["algorithm"] == other]["mean"]
                    if other
                    else rows[(rows["algorithm"] != method) & (rows["algorithm"] != "device-only")]["mean"]
                )
                if len(mine) == 0 or len(rest) == 0:
                    return Outcome("disagrees", "missing points")
                means.append(float(mine.iloc[0]) / float(rest.max()))
            changes = np.array([math.log(means[1] / means[0])])
        else:
            first = _gap_per_seed(ratios, values[0], method, other)
            last = _gap_per_seed(ratios, values[-1], method, other)
            seeds = sorted(set(first) & set(last))
            if not seeds:
                return Outcome("disagrees", "missing points")
            changes = np.array([math.log(last[seed] / first[seed]) for seed in seeds])
        mean, low, high = mean_ci95(changes)
        if not math.isfinite(low):
            low = high = mean
        sign = 1.0 if grows else -1.0
        mean, low, high = sign * mean, min(sign * low, sign * high), max(sign * low, sign * high)
        status = "disagrees" if mean <= math.log(1 + MARGIN) else ("agrees" if low > 0 else "inconclusive")
        factor = math.exp(sign * mean)
        text = (
            f"{method_label(method)} / {name} changes x{format_number(factor)} from {values[0]} to {values[-1]} "
            f"(geometric mean over seeds)"
        )
        return Outcome(status, text, status if _seeded(ratios) else None)

    return check


def interior_peak(method: str) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        series = method_series(table, method)
        means = [mean for _, mean in series]
        index = int(np.argmax(means))
        text = (
            f"peak {format_number(means[index])} at {series[index][0]}; {format_number(means[0])} at {series[0][0]}, "
            f"{format_number(means[-1])} at {series[-1][0]}"
        )
        if not 0 < index < len(series) - 1:
            return Outcome("disagrees", text, "disagrees")
        peak = table_row(table, series[index][0], method)
        first, last = table_row(table, series[0][0], method), table_row(table, series[-1][0], method)
        assert peak is not None and first is not None and last is not None
        top = (method, series[index][0])
        paired = [
            _greater_paired(ratios, top, (method, series[0][0])),
            _greater_paired(ratios, top, (method, series[-1][0])),
        ]
        return Outcome(combine([_greater(peak, first), _greater(peak, last)]), text, _combine_paired(paired))

    return check


def flat(methods: tuple[str, ...], spread: float) -> Check:
    def check(table: pd.DataFrame, ratios: pd.DataFrame | None = None) -> Outcome:
        parts, ok = [], True
        for method in methods:
            means = [mean for _, mean in method_series(table, method)]
            if not means:
                continue
            relative = max(means) / min(means) - 1 if min(means) > 0 else math.inf
            ok &= relative <= spread
            parts.append(f"{method_label(method)} varies {relative:.0%}")
        return Outcome("agrees" if ok else "disagrees", "; ".join(parts) + f" (flat: at most {spread:.0%})")

    return check
