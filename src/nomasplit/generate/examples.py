"""Locate the example configs and scenarios bundled in ``nomasplit/examples/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nomasplit.errors import InputError

EXAMPLE_SUFFIXES = (".yaml", ".json")


def examples_dir() -> Path:
    """The folder holding the bundled examples."""
    return Path(str(resources.files("nomasplit") / "examples"))


def list_examples() -> list[str]:
    """File names of the bundled examples, sorted."""
    folder = examples_dir()
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(EXAMPLE_SUFFIXES))


def example_path(name: str) -> Path:
    """Path of a bundled example, by file name or stem: ``"paper"``, ``"small"``, ``"small-scenario"``.

    A stem finds the ``.yaml`` config first, then the ``.json`` file.

    Raises:
        InputError: no such example (the message lists the available ones).
    """
    folder = examples_dir()
    candidates = [name] if name.endswith(EXAMPLE_SUFFIXES) else [name + suffix for suffix in EXAMPLE_SUFFIXES]
    for candidate in candidates:
        path = folder / candidate
        if path.is_file():
            return path
    raise InputError(f"no bundled example {name!r}; available: {', '.join(list_examples())}")
