"""A fingerprint of the code that decides a result, so that results of older code are never reused.

It hashes the source of the layers below the experiments (data, zoo with its shipped profiles, generate,
model, solvers) and the package version. Editing a docstring changes it too: that errs on the side of
recomputing.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from nomasplit import __version__

#: Sub-packages and modules of ``nomasplit`` whose source decides a result.
RESULT_SOURCES: tuple[str, ...] = ("data", "zoo", "generate", "model", "solvers", "units.py", "io.py")


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) over the version and the result-deciding source files, in path order."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(__version__.encode("utf-8"))
    for name in RESULT_SOURCES:
        path = root / name
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and file.suffix in (".py", ".json"):
                digest.update(file.relative_to(root).as_posix().encode("utf-8"))
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
