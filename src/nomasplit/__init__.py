"""nomasplit: plan and run split DNN inference over NOMA mobile edge networks.

Layers, bottom to top (no import runs back up):

- ``nomasplit.data``: plain validated data (profiles, scenarios, plans, results) that everything reads.
- ``nomasplit.zoo``: DNN definitions and their bundled per-unit profiles.
- ``nomasplit.generate``: scenario generators (topology, channel).
- ``nomasplit.model``: the system model (SINR with SIC, rates, latency, energy, utility) in PyTorch.
- ``nomasplit.measure``: profiles, timings and the fitted ``lambda(r)`` measured from real models on this host.
- ``nomasplit.solvers``: Li-GD, GD, exact, baselines; ``solve(scenario, algorithm)`` returns a plan.
- ``nomasplit.experiments`` / ``nomasplit.runtime``: the paper's evaluation; a real split-inference runtime.
- ``nomasplit.cli``: the thin command-line shell.
"""

__version__ = "0.1.0"
