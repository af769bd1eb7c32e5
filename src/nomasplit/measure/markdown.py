"""A profile as a Markdown table (docs/profiles.md prints the bundled ones with it)."""

from __future__ import annotations

from nomasplit.data.profile import ModelProfile


def markdown_table(profile: ModelProfile) -> str:
    """The profile as a Markdown table: split point ``s``, unit, output shape, FLOPs, ``D(s)``, ``w(s)``.

    Row ``s = 0`` is the raw input; the last column is the size in bits of the tensor sent up when splitting
    after unit ``s`` (the result ``m`` for ``s = F``, which is sent down instead). A DAG profile adds the
    units whose outputs make up that live set (0: the input); a latency column is added when the profile was
    measured.
    """
    measured = any(layer.measured_latency_s is not None for layer in profile.layers)
    graph = profile.graph
    header = ["s", "unit", "output shape", "MFLOPs f_s", "device MFLOPs D(s)", "output bits w(s)"]
    if graph is not None:
        header.append("sent (units)")
    if measured:
        header.append("latency ms")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---:", ":---", ":---", *["---:"] * (len(header) - 3)]) + "|",
    ]
    shape = "x".join(map(str, profile.input_shape or []))
    first = ["0", "(input)", shape, "", "0", f"{profile.input_bits:.0f}"]
    if graph is not None:
        first.append("0")
    lines.append("| " + " | ".join(first + ([""] if measured else [])) + " |")
    cumulative = profile.cumulative_flops()
    for index, layer in enumerate(profile.layers, start=1):
        row = [
            str(index),
            f"`{layer.name}`",
            "x".join(map(str, layer.output_shape or [])),
            f"{layer.flops / 1e6:.3f}",
            f"{cumulative[index] / 1e6:.3f}",
            f"{layer.output_bits:.0f}",
        ]
        if graph is not None:
            row.append(", ".join(map(str, graph.live_units(index))))
        if measured:
            latency_s = layer.measured_latency_s
            row.append("" if latency_s is None else f"{latency_s * 1e3:.3f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
