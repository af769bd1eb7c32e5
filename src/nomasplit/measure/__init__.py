"""Measuring models and hosts: profiles (FLOPs, sizes, latencies), timings with ``r`` compute units, the fitted
``lambda(r)``, and putting measurements into a scenario.

One concern per module:

- :mod:`~nomasplit.measure.options`: the accepted options, the seeded profiling input, a profile's ``source``.
- :mod:`~nomasplit.measure.chain`: a model as a chain of split units (``nn.Sequential`` or a ``torch.fx`` chain).
- :mod:`~nomasplit.measure.graph`: DAG models (residual blocks, branches): units, order, live sets, running parts.
- :mod:`~nomasplit.measure.profile`: :func:`profile_model` (a chain) and :func:`profile_network` (either kind).
- :mod:`~nomasplit.measure.timing`: medians on this host; :func:`measure_unit_latencies` with ``r`` threads.
- :mod:`~nomasplit.measure.lambda_fit`: ``lambda(r)`` fitted from those timings.
- :mod:`~nomasplit.measure.apply`: measured tables and ``lambda(r)`` into a scenario
  (``nomasplit scenario apply-measurements``).
- :mod:`~nomasplit.measure.user_model`: a user's model from ``package.module:attr``.
- :mod:`~nomasplit.measure.markdown`: a profile as a Markdown table.

The measured data types are plain data in :mod:`nomasplit.data.measurement` and :mod:`nomasplit.data.profile`.
This package reads :mod:`nomasplit.data` and :mod:`nomasplit.model`; nothing below it imports it.
"""

from nomasplit.measure.apply import apply_measurements, load_device_table, load_measurement
from nomasplit.measure.chain import as_chain, as_network, is_dag
from nomasplit.measure.graph import NotAChainError, profile_graph, trace_graph
from nomasplit.measure.lambda_fit import fit_measured_compensation, pooled_compensation
from nomasplit.measure.markdown import markdown_table
from nomasplit.measure.profile import profile_model, profile_network
from nomasplit.measure.timing import measure_unit_latencies
from nomasplit.measure.user_model import load_user_model

__all__ = [
    "NotAChainError",
    "apply_measurements",
    "as_chain",
    "as_network",
    "fit_measured_compensation",
    "is_dag",
    "load_device_table",
    "load_measurement",
    "load_user_model",
    "markdown_table",
    "measure_unit_latencies",
    "pooled_compensation",
    "profile_graph",
    "profile_model",
    "profile_network",
    "trace_graph",
]
