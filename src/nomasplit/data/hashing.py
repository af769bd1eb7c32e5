"""Content hashes of data objects (a plan records the hash of the scenario it was made for)."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel


def sha256_of(obj: BaseModel) -> str:
    """SHA-256 of the canonical JSON form (sorted keys, no whitespace) of a pydantic model."""
    canonical = json.dumps(obj.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
