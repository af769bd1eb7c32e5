"""Property-based fuzzing of every command (issue 28): hostile files and option values, generated from the file
formats' JSON Schemas and from the CLI's own option list.

The property, for any command line: the exit code is 0, 1 or 2; no traceback; a failure is one ``error:`` line
on stderr and never an "internal error"; every file that existed before is unchanged afterwards (inputs, and
paths given as outputs that are inputs, links or special files). The work itself (a reproduction, a fit, a
solve, a served edge) is replaced by a stub that first runs the same up-front checks as the real one, so each
example stays fast: the fuzzer tests the boundaries, not the solvers.

``FUZZ_SEEDS`` (``tests/fuzz_seeds.json``) keeps every command line that once failed, replayed as a test; the
suite runs a short budget (``FUZZ_SUITE_EXAMPLES``, derandomised) and ``benchmarks/fuzz_cli.py`` a long one.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nomasplit.cli.main import app
from nomasplit.errors import SolverError

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs" / "schemas"
FUZZ_SEEDS = Path(__file__).with_name("fuzz_seeds.json")
#: Examples the suite runs (deterministic: ``derandomize``); the benchmark runs as many as its time allows.
FUZZ_SUITE_EXAMPLES = 250
TOKEN = "fuzz-token-0123456789abcdef"
WORK_REACHED = "fuzz: the command reached its work"

runner = CliRunner()


# --- the commands and their options, from the CLI itself -----------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter of a command: how it is typed on the command line and what it takes."""

    name: str  # the Python parameter name
    flag: str | None  # "--out" for an option, None for an argument
    kind: str  # "int", "float", "str", "path", "bool"
    multiple: bool
    required: bool


def _kind(annotation: Any) -> tuple[str, bool]:
    """The value kind of a parameter annotation and whether it repeats (``list[...]``)."""
    multiple = typing.get_origin(annotation) is list
    args = typing.get_args(annotation) if multiple else (annotation,)
    flat: list[Any] = []
    for arg in args:
        flat += [item for item in typing.get_args(arg) if item is not type(None)] or [arg]
    for kind, python_type in (("bool", bool), ("int", int), ("float", float), ("path", Path), ("str", str)):
        if python_type in flat:
            return kind, multiple
    return "str", multiple


def command_table() -> dict[str, list[Param]]:
    """Every leaf command (``"scenario generate"``) with its parameters, read from the Typer app."""
    root = typer.main.get_command(app)
    table: dict[str, list[Param]] = {}

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        function = command.callback
        while hasattr(function, "__wrapped__"):
            function = function.__wrapped__
        hints = typing.get_type_hints(function)
        params = []
        for param in command.params:
            kind, multiple = _kind(hints.get(param.name, str))
            flag = next((opt for opt in param.opts if opt.startswith("--")), None)
            params.append(Param(param.name, flag, kind, multiple, bool(param.required)))
        table[" ".join(path)] = params

    walk(root, [])
    return table


COMMANDS = command_table()

#: Output options (their values come from the output pool); every other path is an input.
OUTPUT_FLAGS = {"--out", "--json", "--timings", "--store"}
#: The file format an input option reads (others get a file of any format: a wrong file is hostile too).
INPUT_FORMATS = {
    "scenario_path": "scenario",
    "--scenario": "scenario",
    "plan_path": "plan",
    "--plan": "plan",
    "--initial-plan": "plan",
    "config_path": "config",
    "--settings": "settings",
    "--calibration": "settings",
    "--compensation-from": "measurement",
    "--edge": "measurement",
}


# --- hostile values -------------------------------------------------------------------------------------------------

INTS = [0, 1, -1, 2, 3, 9, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]
FLOATS = ["nan", "inf", "-inf", "0", "-0.0", "1e308", "-1e308", "5e-324", "1e400", "0.5", "1e-300", "2"]
TEXTS = [
    "", " ", "nin", "ligd", "device-only", "cpu", "cuda", "noma", "oma", "1,3,32,32", "0", "-1", "a\nb",
    "error: forged\nerror: twice", "\x1b[2J", "[bold]x[/]", "x" * 5000, "é", "max_iterations=5",
    "max_iterations=" + "[" * 200, "nonsense=1", "=", "{}", '{"ecc-noma": {"ligd": {"max_iterations": "x"}}}',
    '{"ecc-noma": {}, "ecc-noma": {}}', "[1,2]", "tcp://127.0.0.1:1", "http://127.0.0.1:9", "declared",
    "2,3", "latency_weight", "nin=/dev/null", "1", "1,2", "float16", "min-live", "program", "static",
]  # fmt: skip


def _hostile_value(kind: str) -> st.SearchStrategy[Any]:
    """Values of a parameter kind: about half of them sane, so that later checks are reached too."""
    if kind == "int":
        return st.one_of(st.integers(0, 12), st.sampled_from(INTS), st.integers(-5, 40))
    if kind == "float":
        return st.one_of(
            st.sampled_from(["0.5", "1", "10", "1e-4", "1e6"]),
            st.sampled_from(FLOATS),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
        )
    return st.sampled_from(TEXTS) | st.text(max_size=12)


def _schema_types(schema: dict[str, Any], node: dict[str, Any]) -> set[str]:
    """The JSON types a schema node allows (``$ref`` and ``anyOf`` followed one level)."""
    if "$ref" in node:
        return {"object"}
    types = set(node["type"] if isinstance(node.get("type"), list) else [node.get("type")] if "type" in node else [])
    for option in node.get("anyOf", []) + node.get("oneOf", []):
        types |= _schema_types(schema, option)
    return types or {"object"}


WRONG_VALUES: dict[str, list[Any]] = {
    "string": ["", "x" * 10_000, "\n", 1, None, [], {}],
    "integer": [2**64, -(2**63) - 1, -1, 0, 1.5, "3", True, None, [], 10**400],
    "number": [1e308, -1e308, 0, -0.0, 5e-324, "1", True, None, [[1.0]]],
    "boolean": [1, "true", None],
    "array": [[], [None], [[[[]]]], {}, "[]", [1e308] * 3, None],
    "object": [{}, [], None, "{}", {"unknown": 1}],
    "null": [0, "", []],
}


@st.composite
def hostile_document(draw: st.DrawFn, base: dict[str, Any], schema: dict[str, Any]) -> str:
    """A file of a format made hostile at one place chosen from its schema's properties, as JSON text."""
    document = json.loads(json.dumps(base))
    properties = schema.get("properties", {})
    mutation = draw(st.sampled_from(["wrong", "wrong", "delete", "unknown", "duplicate", "deep", "valid"]))
    name = draw(st.sampled_from(sorted(properties))) if properties else "x"
    if mutation == "wrong":
        types = _schema_types(schema, properties.get(name, {}))
        candidates = [value for kind, values in WRONG_VALUES.items() for value in values if kind not in types]
        candidates += [value for kind in types for value in WRONG_VALUES.get(kind or "", [])]
        document[name] = draw(st.sampled_from(candidates))
    elif mutation == "delete":
        document.pop(name, None)
    elif mutation == "unknown":
        document["unknown_" + name] = 1
    elif mutation == "deep":
        depth = draw(st.sampled_from([63, 65, 1000, 5000]))
        return json.dumps(document)[:-1] + f', "{name}_deep": ' + "[" * depth + "]" * depth + "}"
    text = json.dumps(document, allow_nan=False, default=str) if mutation != "valid" else json.dumps(base)
    if mutation == "duplicate" and name in document:
        text = text[:-1] + f', "{name}": ' + json.dumps(document[name]) + "}"
    return text


# --- one example's folder: valid bases, hostile files, outputs ------------------------------------------------------


@dataclass
class Bases:
    """Valid documents of every format (made once), and each format's schema."""

    documents: dict[str, dict[str, Any]]
    schemas: dict[str, dict[str, Any]]


def make_bases(folder: Path) -> Bases:
    """A small scenario, its plan, a profile, a measurement, a generator config, reproduction settings."""
    from nomasplit.data.files import save
    from nomasplit.experiments import quick_settings
    from nomasplit.generate.config import ScenarioConfig
    from nomasplit.solvers import solve
    from nomasplit.zoo import load_bundled_profile
    from tests.factories import random_scenario

    scenario = random_scenario(0, num_users=4)
    save(folder / "scenario.json", scenario)
    documents = {
        "scenario": json.loads((folder / "scenario.json").read_text(encoding="utf-8")),
        "plan": solve(scenario, "device-only").model_dump(mode="json"),
        "profile": load_bundled_profile("nin").model_dump(mode="json"),
        "config": {"num_aps": 1, "users_per_ap": 2, "num_subchannels": 2, "model": "nin"},
        "settings": quick_settings(num_seeds=1).select_figures(["2"]).model_dump(mode="json"),
        "measurement": {"model": "nin"},
    }
    schemas = {name: json.loads((SCHEMAS / f"{name}.schema.json").read_text()) for name in ("scenario", "plan")}
    schemas["profile"] = json.loads((SCHEMAS / "profile.schema.json").read_text())
    schemas["measurement"] = json.loads((SCHEMAS / "measurement.schema.json").read_text())
    schemas["config"] = ScenarioConfig.model_json_schema()
    schemas["settings"] = type(quick_settings()).model_json_schema()
    return Bases(documents, schemas)


@st.composite
def input_file(draw: st.DrawFn, bases: Bases, folder: Path, fmt: str | None) -> str:
    """A path to an input: a hostile (or valid) file of ``fmt`` (any format if None), or a special path."""
    special = draw(st.sampled_from(["file"] * 8 + ["missing", "folder", "dev-null", "dev-zero", "link", "bytes"]))
    index = len(list(folder.iterdir()))
    if special == "missing":
        return str(folder / "missing.json")
    if special == "folder":
        return str(folder)
    if special == "dev-null":
        return "/dev/null"
    if special == "dev-zero":
        return "/dev/zero"
    fmt = fmt or draw(st.sampled_from(sorted(bases.documents)))
    suffix = draw(st.sampled_from([".json", ".json", ".yaml", ".json.gz"]))
    path = folder / f"in{index}-{fmt}{suffix}"
    if special == "bytes":
        path.write_bytes(draw(st.sampled_from([b"", b"\xff\xfe\x00", b"\x1f\x8b\x08garbage", b"{" * 3])))
    else:
        text = draw(hostile_document(bases.documents[fmt], bases.schemas[fmt]))
        path.write_bytes(gzip.compress(text.encode()) if suffix == ".json.gz" else text.encode())
    if special == "link":
        link = folder / f"link{index}{suffix}"
        link.symlink_to(path)
        return str(link)
    return str(path)


@st.composite
def output_path(draw: st.DrawFn, folder: Path, inputs: list[str]) -> str:
    """A path for an output option: new names mostly, else an input, a link, a FIFO, a folder, a bad place."""
    choice = draw(st.sampled_from(["new"] * 4 + ["input", "link", "fifo", "folder", "missing-folder", "proc"]))
    index = len(list(folder.iterdir()))
    if choice == "input" and inputs:
        return draw(st.sampled_from(inputs))
    if choice == "link":
        target = folder / f"target{index}.json"
        target.write_text("keep", encoding="utf-8")
        (folder / f"out-link{index}.json").symlink_to(target)
        return str(folder / f"out-link{index}.json")
    if choice == "fifo":
        os.mkfifo(folder / f"fifo{index}.json")
        return str(folder / f"fifo{index}.json")
    if choice == "folder":
        return str(folder)
    if choice == "missing-folder":
        return str(folder / "no" / "such" / "out.json")
    if choice == "proc":
        return "/proc/nomasplit-fuzz.json"
    return str(folder / "outputs" / f"out{index}{draw(st.sampled_from(['.json', '.json.gz', '', '.txt']))}")


@st.composite
def command_line(draw: st.DrawFn, bases: Bases, folder: Path) -> list[str]:
    """A command and hostile values for a random subset of its parameters (every required one given)."""
    name = draw(st.sampled_from(sorted(COMMANDS)))
    args = name.split()
    inputs: list[str] = []
    chosen = [param for param in COMMANDS[name] if param.required or draw(st.integers(0, 2)) == 0]
    chosen.sort(key=lambda param: param.flag in OUTPUT_FLAGS)  # inputs first: an output may name one of them
    for param in chosen:
        count = draw(st.integers(1, 2)) if param.multiple else 1
        for _ in range(count):
            if param.kind == "bool":
                if param.flag is not None:
                    args.append(param.flag)
                continue
            if param.kind == "path" and param.flag in OUTPUT_FLAGS:
                value = draw(output_path(folder, inputs))
            elif param.kind == "path" or (param.kind == "str" and param.name in ("start", "device", "model")):
                key = param.flag if param.flag in INPUT_FORMATS else param.name
                value = draw(input_file(bases, folder, INPUT_FORMATS.get(key)) | _hostile_value("str"))
                inputs.append(value)
            else:
                value = str(draw(_hostile_value(param.kind)))
            args += [param.flag, value] if param.flag is not None else [value]
    return args


# --- running one command line and checking the property ---------------------------------------------------------


def _reached(*args: Any, **kwargs: Any) -> Any:
    raise SolverError(WORK_REACHED)


def _stubbed_reproduce(settings: Any, *args: Any, compare: Any = None, **kwargs: Any) -> Any:
    from nomasplit.experiments.reproduce import check_algorithm_settings
    from nomasplit.experiments.sweep import build_tasks

    check_algorithm_settings(settings.algorithm_settings, "algorithm_settings")
    build_tasks(settings)  # the real reproduce's checks before any work
    raise SolverError(WORK_REACHED)


def _stubbed_calibrate(*args: Any, algorithm_settings: Any = None, **kwargs: Any) -> Any:
    from nomasplit.experiments.reproduce import check_algorithm_settings

    check_algorithm_settings(algorithm_settings or {}, "algorithm_settings")
    raise SolverError(WORK_REACHED)


def _stubbed_solve(scenario: Any, algorithm: str, *, settings: Any = None, **kwargs: Any) -> Any:
    from nomasplit.data.files import validate_as
    from nomasplit.solvers import get_algorithm

    validate_as(get_algorithm(algorithm).settings_type, dict(settings or {}), f"settings of {algorithm!r}")
    raise SolverError(WORK_REACHED)


#: (module, attribute, stub): the work of each command. ``solve`` only with ``stub_solvers``.
STUBS: list[tuple[str, str, Callable[..., Any]]] = [
    ("nomasplit.experiments", "reproduce", _stubbed_reproduce),
    ("nomasplit.experiments.calibration", "calibrate", _stubbed_calibrate),
    ("nomasplit.experiments.online", "run_online", _reached),
    ("nomasplit.runtime.server", "serve", _reached),
    ("nomasplit.runtime.models", "load_zoo_models", _reached),
    ("nomasplit.runtime.replay", "run_replay", _reached),
    ("nomasplit.runtime.loadtest", "run_load_test", _reached),
    ("nomasplit.generate", "generate_to_file", _reached),
    ("nomasplit.measure.profile", "profile_network", _reached),
    ("nomasplit.measure.profile", "profile_model", _reached),
    ("nomasplit.cli.profile_cmd", "measure_with_units", _reached),
]


@contextlib.contextmanager
def stubbed_work(*, stub_solvers: bool) -> Iterator[None]:
    """Replace each command's work by its stub (and restore torch's thread count, which --threads sets)."""
    import importlib

    import torch

    threads = torch.get_num_threads()
    stubs = STUBS + ([("nomasplit.solvers", "solve", _stubbed_solve)] if stub_solvers else [])
    saved = []
    for module_name, attribute, stub in stubs:
        module = importlib.import_module(module_name)
        saved.append((module, attribute, getattr(module, attribute, None)))
        setattr(module, attribute, stub)
    try:
        yield
    finally:
        for module, attribute, original in saved:
            if original is None:
                delattr(module, attribute)
            else:
                setattr(module, attribute, original)
        torch.set_num_threads(threads)


@contextlib.contextmanager
def small_file_limits() -> Iterator[None]:
    """``FILE_LIMITS`` at 1 MiB, so that /dev/zero and large hostile files are refused in milliseconds."""
    import nomasplit.io as nio

    saved = nio.FILE_LIMITS
    nio.FILE_LIMITS = saved._replace(max_file_bytes=2**20, max_decompressed_bytes=2**20)
    try:
        yield
    finally:
        nio.FILE_LIMITS = saved


def _snapshot(folder: Path) -> dict[str, tuple[str, bytes | str]]:
    state: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            state[str(path)] = ("link", os.readlink(path))
        elif path.is_fifo():
            state[str(path)] = ("fifo", b"")
        elif path.is_file():
            state[str(path)] = ("file", path.read_bytes())
    return state


def check_command(args: list[str], folder: Path) -> None:
    """Run ``nomasplit ARGS`` and assert the property (see the module docstring)."""
    before = _snapshot(folder)
    (folder / "outputs").mkdir(exist_ok=True)
    result = runner.invoke(app, args, env={"NOMASPLIT_TOKEN": TOKEN})
    shown = f"{args!r}\n{result.output}"
    assert result.exit_code in (0, 1, 2), shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (repr(result.exception), shown)
    assert "Traceback" not in result.output, shown
    if result.exit_code in (1, 2) and result.stderr.strip():
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
        if result.exit_code == 2 and lines and lines[0].startswith("Usage:"):
            pass  # a usage error of the option parser (a missing or malformed option): Typer's own message
        else:
            assert len(lines) == 1 and lines[0].startswith(("error:", "task failed:")), shown
            assert "internal error" not in lines[0], shown
    after = _snapshot(folder)
    for path, state in before.items():
        assert after.get(path) == state, f"{path} was changed or removed\n{shown}"


def load_seeds() -> list[dict[str, Any]]:
    """The command lines kept in ``tests/fuzz_seeds.json`` (``{dir}``: the example's folder, with the bases)."""
    return json.loads(FUZZ_SEEDS.read_text(encoding="utf-8"))


def write_base_files(bases: Bases, folder: Path) -> None:
    """The valid documents as files, named ``<format>.json`` (``config.yaml``), for the seed command lines."""
    for name, document in bases.documents.items():
        suffix = ".yaml" if name == "config" else ".json"
        (folder / f"{name}{suffix}").write_text(json.dumps(document), encoding="utf-8")


# --- the tests ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> Bases:
    return make_bases(tmp_path_factory.mktemp("fuzz-bases"))


def test_the_fuzzer_knows_every_command_and_option() -> None:
    assert {"solve", "evaluate", "reproduce", "calibrate", "edge replay", "device run", "schema"} <= set(COMMANDS)
    flags = {param.flag for params in COMMANDS.values() for param in params}
    assert {"--out", "--json", "--timings", "--store", "--settings", "--solver-settings", "--rtol"} <= flags
    kinds = {param.name: param.kind for param in COMMANDS["device run"]}
    assert kinds["rtol"] == "float" and kinds["split"] == "int" and kinds["plan_path"] == "path"


@pytest.mark.parametrize("seed", load_seeds(), ids=[seed["id"] for seed in load_seeds()])
def test_seed_command_lines(seed: dict[str, Any], bases: Bases, tmp_path: Path) -> None:
    write_base_files(bases, tmp_path)
    args = [arg.replace("{dir}", str(tmp_path)) for arg in seed["args"]]
    with stubbed_work(stub_solvers=True), small_file_limits():
        check_command(args, tmp_path)


@pytest.mark.slow
def test_fuzz_every_command(bases: Bases, tmp_path_factory: pytest.TempPathFactory) -> None:
    @settings(
        max_examples=FUZZ_SUITE_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        folder = tmp_path_factory.mktemp("fuzz")
        args = data.draw(command_line(bases, folder))
        check_command(args, folder)

    with stubbed_work(stub_solvers=True), small_file_limits():
        run()


# --- what the long runs found (benchmarks/fuzz_cli.py), one test each -------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reproduce", "--scheduler", "max_iterations=[[[", "--out", "{dir}/r"], "--scheduler 'max_iterations=[[['"),
        (["calibrate", "--start", "a\x00b", "--out", "{dir}/fit.json"], "holds a NUL character"),
        (["scenario", "generate", "--model", "x" * 5000, "--out", "{dir}/s.json"], "unknown model"),
        (["scenario", "show", "{dir}/huge-int.json"], "beyond a signed 64-bit integer"),
        (["scenario", "generate", "{dir}/huge-int.yaml", "--out", "{dir}/s.json"], "beyond a signed 64-bit integer"),
    ],
    ids=["scheduler-invalid-ipv6", "nul-in-option", "name-too-long", "json-int", "yaml-int"],
)
def test_what_the_long_fuzz_runs_found(args: list[str], message: str, tmp_path: Path) -> None:
    """Each was an internal error (exit 1, 'please report it') before its fix; now exit 2 with one line."""
    (tmp_path / "huge-int.json").write_text('{"workload_tasks": 1' + "0" * 400 + "}", encoding="utf-8")
    (tmp_path / "huge-int.yaml").write_text("model: nin\nnum_aps: 1" + "0" * 400 + "\n", encoding="utf-8")
    result = runner.invoke(app, [arg.replace("{dir}", str(tmp_path)) for arg in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "internal error" not in lines[0], result.stderr


def test_an_integer_beyond_float_range_in_a_scenario_array_is_refused(tmp_path: Path) -> None:
    """workload_tasks = 10**400 reached numpy's float conversion (OverflowError) through `edge replay`."""
    scenario = json.loads((ROOT / "src" / "nomasplit" / "examples" / "small-scenario.json").read_text())
    text = json.dumps(scenario).replace('"workload_tasks": [', '"workload_tasks": [1' + "0" * 400 + ", ", 1)
    (tmp_path / "s.json").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "s.json"), str(tmp_path / "s.json")])
    assert result.exit_code == 2 and "beyond a signed 64-bit integer" in result.stderr, result.output
