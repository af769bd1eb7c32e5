"""Names the CLI shows without importing torch: the algorithms (name, summary, citation) and the zoo models.

``nomasplit --help``, ``--version`` and ``algorithms`` must answer in well under a second, and importing the
solver registry or the zoo imports torch (about 1-2 s). This module repeats their names and texts as plain
data; ``tests/test_bad_input.py`` checks that it matches :data:`nomasplit.solvers.ALGORITHMS` and
:data:`nomasplit.zoo.MODEL_NAMES` exactly, so a new or renamed algorithm fails the suite until it is listed here.
"""

from __future__ import annotations

from typing import NamedTuple

_PAPER = "'High Efficiency Inference Accelerating Algorithm for NOMA-based Mobile Edge Computing'"


class AlgorithmEntry(NamedTuple):
    """One registered algorithm as ``nomasplit algorithms`` lists it."""

    name: str
    summary: str
    cite: str


#: The file formats ``nomasplit schema`` knows (``nomasplit.data.schemas.SCHEMA_TYPES``).
SCHEMA_NAMES: tuple[str, ...] = ("scenario", "plan", "profile", "evaluation", "measurement", "unit-latency-table")

#: The bundled models (``nomasplit.zoo.MODEL_NAMES``).
ZOO_MODEL_NAMES: tuple[str, ...] = (
    "mobilenet-v2",
    "mobilenet-v2-imagenet",
    "nin",
    "resnet18",
    "resnet18-imagenet",
    "tiny-yolov2",
    "tiny-yolov2-voc",
    "vgg16",
)

_ECC_CITE = "ECC with Li-GD: the paper (Table I); OMA variant as in Section VI ('ECC', without NOMA)"

#: Every registered algorithm, sorted by name (``nomasplit.solvers.ALGORITHMS``).
ALGORITHM_CATALOG: tuple[AlgorithmEntry, ...] = (
    AlgorithmEntry(
        "device-only",
        "every user runs its whole DNN on its device (s_i = F_i)",
        "Device-Only baseline of Section VI (the paper's normalisation reference)",
    ),
    AlgorithmEntry(
        "dnn-surgery",
        "per user, the minimum-latency s-t cut of its layer graph; heavy-load shares the edge",
        "C. Hu, W. Bao, D. Wang, F. Liu, 'Dynamic adaptive DNN surgery for inference acceleration on the edge', "
        "INFOCOM 2019; H. Liang, Q. Sang, C. Hu, D. Cheng, X. Zhou, D. Wang, W. Bao, Y. Wang, 'DNN surgery: "
        "Accelerating DNN inference on the edge through layer partitioning', IEEE TCC 11(3), 2023 (paper ref. [14])",
    ),
    AlgorithmEntry("ecc-noma", "the paper's ECC: Li-GD (registered 'ligd') on the NOMA scenario", _ECC_CITE),
    AlgorithmEntry(
        "ecc-oma", "ECC over OMA: Li-GD on the scenario with K = 1 and no intra-cell interference", _ECC_CITE
    ),
    AlgorithmEntry(
        "edge-only",
        "split 0: raw input up on one OMA subchannel at maximum power, equal edge compute share",
        "Edge-Only baseline of Section VI",
    ),
    AlgorithmEntry(
        "exact",
        "proven global optimum for small instances: subset DP over offloading and subchannels, certified branch "
        "and bound over each subchannel group's powers",
        "this project (docs/exact.md); monotonic optimisation bound as in H. Tuy, 'Monotonic optimization', "
        "SIAM J. Optim. 11(2), 2000",
    ),
    AlgorithmEntry(
        "gd-paper",
        "GD as in the paper: like ligd-paper, but every candidate starts from the same point",
        f"Table I (Li-GD) of {_PAPER} (GD comparison of Section IV-B, Corollary 4)",
    ),
    AlgorithmEntry(
        "ligd",
        "Li-GD made robust (default): box-scaled sign steps, monotone safeguard, relative tolerances",
        f"Table I (Li-GD) of {_PAPER}, with scaled adaptive steps (this project)",
    ),
    AlgorithmEntry(
        "ligd-paper",
        "Li-GD as in Table I: common split, warm-started fixed-step GD per candidate, round, polish",
        f"Table I (Li-GD) of {_PAPER}",
    ),
    AlgorithmEntry(
        "ligd-peruser",
        "Li-GD with a split point per user: best responses alternating with scaled descent",
        f"Table I (Li-GD) of {_PAPER}, extended to per-user split points (this project)",
    ),
    AlgorithmEntry(
        "neurosurgeon",
        "per user, the split minimising its latency (or device energy) on its noise-only OMA rate",
        "Y. Kang, J. Hauswald, C. Gao, A. Rovinski, T. Mudge, J. Mars, L. Tang, 'Neurosurgeon: Collaborative "
        "intelligence between the cloud and mobile edge', ASPLOS 2017 (paper ref. [38])",
    ),
)

ALGORITHM_NAMES: tuple[str, ...] = tuple(entry.name for entry in ALGORITHM_CATALOG)
