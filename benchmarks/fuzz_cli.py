"""The CLI fuzzer of ``tests/test_fuzz_cli.py`` at a long budget: random (not derandomised) command lines for as
long as ``--minutes`` allows, with the solvers running for real unless ``--stub-solvers``.

Every failing command line is printed and written to ``--found`` (JSON, the format of ``tests/fuzz_seeds.json``
with absolute paths: copy a case there, with its files, so that it stays a test). Exit 1 if anything was found.

    python -m benchmarks.fuzz_cli --minutes 10 --found fuzz-found.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException
from tests.test_fuzz_cli import (
    check_command,
    command_line,
    make_bases,
    small_file_limits,
    stubbed_work,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to fuzz")
    parser.add_argument("--batch", type=int, default=100, help="examples per Hypothesis run (a new seed each)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; batch i uses seed + i")
    parser.add_argument("--stub-solvers", action="store_true", help="stub solve() as the suite does")
    parser.add_argument("--found", type=Path, default=None, help="write the failing command lines here (JSON)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="nomasplit-fuzz-"))
    bases = make_bases(work)
    found: list[dict[str, object]] = []
    commands: Counter[str] = Counter()
    started = time.monotonic()
    deadline = started + options.minutes * 60
    batch = 0
    with stubbed_work(stub_solvers=options.stub_solvers), small_file_limits():
        while time.monotonic() < deadline:

            @seed(options.seed + batch)
            @settings(max_examples=options.batch, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(data=st.data())
            def run(data: st.DataObject) -> None:
                folder = Path(tempfile.mkdtemp(dir=work))
                args = data.draw(command_line(bases, folder))
                if time.monotonic() > deadline:
                    shutil.rmtree(folder, ignore_errors=True)
                    return
                commands[args[0] if args[0] not in ("scenario", "edge", "device") else " ".join(args[:2])] += 1
                try:
                    check_command(args, folder)
                except AssertionError as exc:
                    found.append({"id": f"found-{len(found)}", "args": args, "failure": str(exc)[:2000]})
                    print(f"FOUND: {args!r}\n{str(exc)[:2000]}\n", flush=True)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)

            try:
                run()
            except HypothesisException as exc:  # e.g. a strategy that drew differently on a replay: next batch
                print(f"batch {batch}: {type(exc).__name__} (batch skipped)", flush=True)
            batch += 1
    elapsed = time.monotonic() - started
    print(
        f"fuzzed {sum(commands.values())} command lines in {elapsed / 60:.1f} min ({batch} batches from seed "
        f"{options.seed}; solvers {'stubbed' if options.stub_solvers else 'real'}): {len(found)} failing"
    )
    print("per command:", ", ".join(f"{name} {count}" for name, count in sorted(commands.items())))
    if options.found is not None:
        options.found.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
