"""``nomasplit calibrate``: the parameters the paper leaves open, fitted inside the declared box of the
``calibrated`` preset (:mod:`nomasplit.experiments.presets.calibrated`) to a declared few of its quoted numbers;
the rest are held out.

- :func:`calibrate`: coordinate search over the grid of
  :data:`~nomasplit.experiments.presets.calibrated.CALIBRATION_BOX` (one parameter at a time, every candidate
  value, keep the best; rounds until nothing improves or ``max_rounds``), from one or more starts (the declared
  one by default), keeping the lowest loss over the starts. Each evaluation is an ordinary resumable sweep
  (Figs. 2, 3 and 5's per-model sweep on the quick network), so a calibration interrupted and started again
  computes only what is missing. The loss is the sum over the fitted quotes of squared log distances
  (:func:`calibration_loss`).
- :func:`write_parameters` writes the settings file (:class:`~nomasplit.experiments.presets.calibrated.
  CalibratedParameters`) that ``nomasplit reproduce --preset calibrated --calibration FILE`` reads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from nomasplit.experiments.claims import QUOTED_NUMBERS, QuotedNumber
from nomasplit.experiments.figures import (
    PAPER_MODELS,
    USERS_PER_SUBCHANNEL,
    FigureSpec,
    ReproductionSettings,
    SweepSpec,
    model_family,
)
from nomasplit.experiments.fingerprint import code_fingerprint
from nomasplit.experiments.measures import figure_table
from nomasplit.experiments.presets.calibrated import (
    CALIBRATED_USER_PLACEMENT,
    CALIBRATION_BOX,
    FITTED_QUOTES,
    PAPER_SUBCHANNEL_HZ,
    CalibratedParameters,
    ParameterRange,
)
from nomasplit.io import write_json

#: The network of a calibration evaluation: the quick preset's per-model sweep (3 APs, 20 users per AP, 40 kHz
#: subchannels; M follows the overload reading).
CALIBRATION_NETWORK: dict[str, Any] = {
    "num_aps": 3,
    "users_per_ap": 20,
    "num_subchannels": 20,
    "uplink_bandwidth_hz": 20 * PAPER_SUBCHANNEL_HZ,
    "downlink_bandwidth_hz": 20 * PAPER_SUBCHANNEL_HZ,
}

#: Where the search starts: the hand search of issue 9 (1 GFLOP/s, 1 nJ/FLOP device, 1.1 nJ/FLOP edge, Amdahl
#: lambda, 8-bit camera input), with one user per subchannel, no edge limit and DNN Surgery assuming one unit per
#: user.
CALIBRATION_START: dict[str, Any] = {
    "device_flops_per_s": 1e9,
    "device_energy_per_flop_j": 1e-9,
    "edge_energy_per_flop_j": 1.1e-9,
    "amdahl_parallel_fraction": 0.9,
    "input_bits": 8,
    "activation_bits": 32,
    "edge_units_per_user": None,
    "users_per_subchannel": 1.0,
    "dnn_surgery_units_per_user": 1.0,
    "latency_weight": 0.5,
    "user_placement": CALIBRATED_USER_PLACEMENT,
}

#: The methods a calibration evaluation runs (what the fitted quotes need).
CALIBRATION_METHODS: tuple[str, ...] = ("device-only", "neurosurgeon", "dnn-surgery", "ecc-oma", "ecc-noma")


def evaluation_settings(
    values: dict[str, Any],
    *,
    num_seeds: int = 1,
    network: dict[str, Any] | None = None,
    algorithm_settings: dict[str, dict[str, Any]] | None = None,
) -> ReproductionSettings:
    """The sweep of one calibration evaluation: Figs. 2-3's and 5's per-model sweep with these parameter values.

    ``algorithm_settings`` replace, per method, the settings the preset would run with these values
    (:meth:`CalibratedParameters.algorithm_settings`)."""
    parameters = CalibratedParameters(**values)
    sweep = SweepSpec(
        name="models",
        parameter="model",
        values=tuple(parameters.model_name(model) for model in PAPER_MODELS),
        methods=CALIBRATION_METHODS,
        overrides={
            **(CALIBRATION_NETWORK if network is None else network),
            USERS_PER_SUBCHANNEL: values.get("users_per_subchannel", 1.0),
        },
        label="DNN model",
    )

    def models_figure(key: str, measure: Literal["latency", "energy"], baseline: str, *methods: str) -> FigureSpec:
        return FigureSpec(key=key, title=key, sweep="models", measure=measure, baseline=baseline, methods=methods)

    figures = (
        models_figure("2", "latency", "device-only", "ecc-oma", "ecc-noma"),
        models_figure("3", "energy", "device-only", "ecc-oma"),
        models_figure("5", "energy", "neurosurgeon", "dnn-surgery", "ecc-oma"),
    )
    run_with = {
        method: settings
        for method, settings in parameters.algorithm_settings().items()
        if method in CALIBRATION_METHODS
    }
    return ReproductionSettings(
        preset="custom",
        base=parameters.base(),
        sweeps=(sweep,),
        figures=figures,
        num_seeds=num_seeds,
        algorithm_settings={**run_with, **(algorithm_settings or {})},
    )


def _matches(value: str, point: str) -> bool:
    try:
        return math.isclose(float(value), float(point))
    except ValueError:
        return model_family(value) == point


#: A candidate must lower the loss by more than this fraction to replace the incumbent. The loss is estimated on
#: a few Monte-Carlo seeds (2 by default), so smaller changes are within its noise and would let the search
#: drift between nearly equal points (a refit moved w_T from 0.9 to 0.7 for a 0.2 % lower loss).
MIN_IMPROVEMENT = 0.01

#: Loss of a quoted number whose point was not run (finite, so that the settings file stays strict JSON).
MISSING_LOSS = 1e6


def calibration_loss(tables: dict[str, pd.DataFrame], quotes: tuple[QuotedNumber, ...]) -> dict[str, float]:
    """Squared log distance of ours to each quoted number (a range: mean over its points of the squared log
    distance to the range, 0 inside). A missing point counts :data:`MISSING_LOSS`."""
    losses = {}
    for quoted in quotes:
        table = tables.get(quoted.figure)
        rows = table[table["algorithm"] == quoted.method] if table is not None and len(table) else None
        if rows is None or len(rows) == 0:
            losses[quoted.key] = MISSING_LOSS
            continue
        if quoted.point is None:
            distances = [
                max(0.0, math.log(quoted.low / mean), math.log(mean / quoted.high)) ** 2 for mean in rows["mean"]
            ]
            losses[quoted.key] = float(np.mean(distances))
        else:
            hit = rows[[_matches(str(value), quoted.point) for value in rows["value"]]]
            losses[quoted.key] = math.log(float(hit["mean"].iloc[0]) / quoted.low) ** 2 if len(hit) else MISSING_LOSS
    return losses


class Evaluation(BaseModel):
    """One point of the search: parameter values, loss per fitted quote, total loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: dict[str, Any]
    losses: dict[str, float]
    loss: float


def calibrate(
    out_dir: str | Path,
    *,
    box: dict[str, ParameterRange] | None = None,
    start: dict[str, Any] | list[dict[str, Any] | None] | None = None,
    fitted: tuple[str, ...] = FITTED_QUOTES,
    num_seeds: int = 1,
    max_rounds: int = 2,
    min_improvement: float = MIN_IMPROVEMENT,
    confirm_seeds: int | None = None,
    network: dict[str, Any] | None = None,
    algorithm_settings: dict[str, dict[str, Any]] | None = None,
    workers: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[CalibratedParameters, list[Evaluation]]:
    """Fit the open parameters to the fitted quotes by coordinate search over the box's grid.

    Args:
        out_dir: the resumable store of the evaluations (``results/<hash>/``, as for ``reproduce``).
        box: parameter -> candidate values (default :data:`CALIBRATION_BOX`); parameters outside it keep
            ``start``'s value.
        start: the first point (default :data:`CALIBRATION_START`; None in a list is that point too), or a list of
            them: the search runs from each in turn (sharing evaluations) and keeps the lowest loss (the first
            start on a tie; with ``confirm_seeds``, the lowest confirmed loss). Coordinate search is local: a
            second start catches a better point that needs two parameters to move together (a refit from the
            previous fit kept a finite edge server that the declared start, with lambda changed first, did
            without).
        fitted: keys of the quoted numbers to fit (default :data:`FITTED_QUOTES`).
        num_seeds: Monte-Carlo seeds per evaluation.
        max_rounds: at most this many passes over the parameters; a pass that improves nothing ends the search.
        min_improvement: a candidate replaces the incumbent only when it lowers the loss by more than this
            fraction (default :data:`MIN_IMPROVEMENT`): the loss is a Monte-Carlo estimate over a few seeds.
        confirm_seeds: when given (more than ``num_seeds``), each start's end point is evaluated again with this
            many seeds and the lowest of those losses chooses the point (the first start on a tie), so that the
            choice between starts is not made by the noise of a few seeds; ``fit`` records both losses.
        network: the evaluation network (default :data:`CALIBRATION_NETWORK`).
        algorithm_settings: settings per method (e.g. a solver's time budget) that replace those the preset
            would run with each candidate (:meth:`CalibratedParameters.algorithm_settings`: the reproduction's
            own, DNN Surgery's server sized by the candidate), so that by default the fit sees the solvers the
            preset runs.
        workers: process-pool size of each batch (0: this process).
        progress: progress bars. log: called with one line per parameter pass.

    Returns:
        The best parameters (with the evidence in ``fit``) and every evaluation, in order.
    """
    from nomasplit.experiments.reproduce import check_algorithm_settings
    from nomasplit.experiments.sweep import build_tasks, load_results, run_sweep

    check_algorithm_settings(algorithm_settings or {}, "algorithm_settings")  # before any evaluation runs
    started = time.perf_counter()
    box = CALIBRATION_BOX if box is None else box
    starts = [{**CALIBRATION_START, **(item or {})} for item in (start if isinstance(start, list) else [start])]
    quotes = tuple(quoted for quoted in QUOTED_NUMBERS if quoted.key in fitted)
    unknown = set(fitted) - {quoted.key for quoted in quotes}
    if unknown:
        raise ValueError(f"unknown quoted numbers to fit: {sorted(unknown)}")
    if confirm_seeds is not None and confirm_seeds <= num_seeds:
        raise ValueError(f"confirm_seeds ({confirm_seeds}) must exceed num_seeds ({num_seeds})")
    cache: dict[str, Evaluation] = {}
    history: list[Evaluation] = []

    def key_of(values: dict[str, Any], seeds: int = num_seeds) -> str:
        return repr((seeds, sorted(values.items())))

    def evaluate_batch(candidates: list[dict[str, Any]], seeds: int = num_seeds) -> list[Evaluation]:
        new = {key_of(values, seeds): values for values in candidates if key_of(values, seeds) not in cache}
        todo = list(new.values())
        settings_list = [
            evaluation_settings(values, num_seeds=seeds, network=network, algorithm_settings=algorithm_settings)
            for values in todo
        ]
        tasks = [task for settings in settings_list for task in build_tasks(settings)]
        if tasks:
            run_sweep(tasks, out_dir, workers=workers, progress=progress)
        for values, settings in zip(todo, settings_list, strict=True):
            results = load_results(build_tasks(settings), out_dir)
            tables = {
                figure.key: figure_table(results, figure, [str(v) for v in settings.sweeps[0].values])
                for figure in settings.figures
            }
            losses = calibration_loss(tables, quotes)
            evaluation = Evaluation(values=values, losses=losses, loss=float(sum(losses.values())))
            cache[key_of(values, seeds)] = evaluation
            if seeds == num_seeds:
                history.append(evaluation)
        return [cache[key_of(values, seeds)] for values in candidates]

    def search(first: dict[str, Any]) -> tuple[Evaluation, int]:
        best = evaluate_batch([first])[0]
        rounds = 0
        for rounds in range(1, max_rounds + 1):
            improved = False
            for name, parameter_range in box.items():
                candidates = [{**best.values, name: value} for value in parameter_range.values]
                for evaluation in evaluate_batch(candidates):
                    if evaluation.loss < best.loss * (1 - min_improvement) - 1e-12:
                        best, improved = evaluation, True
                if log is not None:
                    log(f"round {rounds}, {name}: best {best.values[name]!r}, loss {best.loss:.4g}")
            if not improved:
                break
        return best, rounds

    outcomes = []
    for index, first in enumerate(starts):
        if log is not None and len(starts) > 1:
            log(f"start {index + 1} of {len(starts)}")
        outcomes.append(search(first))
    confirmed = (
        evaluate_batch([outcome.values for outcome, _ in outcomes], seeds=confirm_seeds)
        if confirm_seeds is not None
        else [outcome for outcome, _ in outcomes]
    )
    if log is not None and confirm_seeds is not None:
        log(f"confirmed with {confirm_seeds} seeds: " + ", ".join(f"{item.loss:.4g}" for item in confirmed))
    chosen = min(range(len(starts)), key=lambda index: (confirmed[index].loss, index))
    best, rounds = outcomes[chosen]
    fit = {
        "method": "coordinate search over the grid of CALIBRATION_BOX (every candidate of one parameter with "
        "the others fixed, keep the best if it lowers the loss by more than min_improvement; passes until none "
        "improves), from each of 'starts'; the lowest loss is kept (with confirm_seeds: the lowest loss of "
        "each start's end point evaluated again with that many seeds)",
        "fitted": list(fitted),
        "targets": {quoted.key: [quoted.low, quoted.high] for quoted in quotes},
        "losses": best.losses,
        "loss": best.loss,
        "rounds": rounds,
        "min_improvement": min_improvement,
        "confirm_seeds": confirm_seeds,
        "confirmed_losses": confirmed[chosen].losses if confirm_seeds is not None else None,
        "confirmed_loss": confirmed[chosen].loss if confirm_seeds is not None else None,
        "evaluations": len(history),
        "num_seeds": num_seeds,
        "algorithm_settings": evaluation_settings(
            best.values, network=network, algorithm_settings=algorithm_settings
        ).algorithm_settings,
        "solver_settings_replaced": algorithm_settings or {},
        "network": network if network is not None else CALIBRATION_NETWORK,
        "box": {name: list(parameter_range.values) for name, parameter_range in box.items()},
        "start": starts[chosen],
        "starts": [
            {
                "start": first,
                "loss": outcome.loss,
                "confirmed_loss": check.loss if confirm_seeds is not None else None,
                "values": outcome.values,
                "rounds": outcome_rounds,
            }
            for first, (outcome, outcome_rounds), check in zip(starts, outcomes, confirmed, strict=True)
        ],
        "code": code_fingerprint(),
        "wall_time_s": time.perf_counter() - started,
    }
    return CalibratedParameters(**best.values, fit=fit), history


def write_parameters(path: str | Path, parameters: CalibratedParameters) -> Path:
    """Write the settings file atomically."""
    write_json(path, parameters.model_dump(mode="json"))
    return Path(path)
