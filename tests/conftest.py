"""Suite-wide setup: under pytest-xdist each worker process computes with one torch thread.

The suite runs on as many worker processes as there are CPUs (``-n auto`` in pyproject.toml); torch's default of
one intra-op thread per CPU in each of them would put CPUs x CPUs threads on the cores.
"""

from __future__ import annotations

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
