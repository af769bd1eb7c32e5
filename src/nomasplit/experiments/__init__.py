"""The paper's evaluation (Section VI, Figs. 2-11) and our extra figures.

Resumable sweeps, measures, plots, report:

- :mod:`~nomasplit.experiments.figures`: the figures and sweeps as data.
- :mod:`~nomasplit.experiments.presets`: the paper preset (:func:`paper_settings`, :func:`quick_settings`) and
  the calibrated one; :mod:`~nomasplit.experiments.calibration`: the fit behind it (``nomasplit calibrate``).
- :mod:`~nomasplit.experiments.sweep`: tasks, hashes, atomic per-task results, process pool or Dask.
- :mod:`~nomasplit.experiments.measures`: speedup and energy-reduction ratios, 95% intervals over seeds.
- :mod:`~nomasplit.experiments.plots`: one PNG and SVG per figure.
- :mod:`~nomasplit.experiments.claims` (the paper's quoted numbers and trends), :mod:`~nomasplit.experiments.checks`
  (how a trend is checked), :mod:`~nomasplit.experiments.verdicts` (ours against them),
  :mod:`~nomasplit.experiments.reasoning` and :mod:`~nomasplit.experiments.report` (``report.md``).
- :mod:`~nomasplit.experiments.reproduce`: :func:`reproduce`, all of the above into one folder.
"""

from nomasplit.experiments.figures import FigureSpec, ReproductionSettings, SweepSpec
from nomasplit.experiments.measures import figure_table, mean_ci95, per_seed_ratios
from nomasplit.experiments.presets import paper_settings, quick_settings
from nomasplit.experiments.reproduce import ReproductionOutcome, reproduce
from nomasplit.experiments.sweep import Task, build_tasks, load_results, run_sweep

__all__ = [
    "FigureSpec",
    "ReproductionOutcome",
    "ReproductionSettings",
    "SweepSpec",
    "Task",
    "build_tasks",
    "figure_table",
    "load_results",
    "mean_ci95",
    "paper_settings",
    "per_seed_ratios",
    "quick_settings",
    "reproduce",
    "run_sweep",
]
