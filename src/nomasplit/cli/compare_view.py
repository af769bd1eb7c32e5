"""The plan's predicted stages against a measured split inference: a table and its JSON form."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def plan_comparison(assignment: Any, report: Any) -> list[dict[str, Any]]:
    """Per stage: predicted (the plan's system model, one task) and measured seconds, relative error."""
    from nomasplit.runtime.prediction import compare_stages

    if assignment.predicted is None:
        return []
    return [row.model_dump(mode="json") for row in compare_stages(assignment.predicted, report)]


def comparison_table(assignment: Any, report: Any) -> Table:
    """A rich table of :func:`plan_comparison` (the edge queue and "other" are outside eq. 12)."""
    table = Table(title=f"plan of user {assignment.user}: predicted (system model, one task) against measured")
    table.add_column("stage")
    table.add_column("predicted ms", justify="right")
    table.add_column("measured ms", justify="right")
    table.add_column("error", justify="right")
    for row in plan_comparison(assignment, report):
        error = "" if row["error"] is None else f"{row['error']:+.1%}"
        table.add_row(row["stage"], f"{row['predicted_s'] * 1e3:.3f}", f"{row['measured_s'] * 1e3:.3f}", error)
    return table
