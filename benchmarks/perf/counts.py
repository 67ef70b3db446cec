"""FLOPs and bytes of a piece of torch code, counted by the profiler, for the roofline of ``benchmarks.perf``.

FLOPs: the profiler's own count (``with_flops``: matrix products). Bytes: a logical-traffic model over every
leaf aten op the profiler saw: each input operand read once and the result written once (float32), with the
result's size from the op (matrix products: rows x columns; reductions: nothing; otherwise the largest input).
Caches can make the real traffic smaller and page faults on fresh buffers make its cost larger, so
bytes/s against the measured stream bandwidth says how close a memory-bound step is to that bound.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from torch.profiler import ProfilerActivity, profile

ELEMENT_BYTES = 4  # float32, the harness's dtype
MATMULS = {"aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::baddbmm_", "aten::addmm_", "aten::mv"}
REDUCTIONS = {"aten::sum", "aten::dot", "aten::mean", "aten::any", "aten::norm", "aten::linalg_vector_norm"}
WRITE_ONLY = {"aten::fill_", "aten::zero_", "aten::empty", "aten::zeros", "aten::ones", "aten::normal_",
              "aten::uniform_"}
VIEWS = {"aten::view", "aten::reshape", "aten::transpose", "aten::permute", "aten::unsqueeze", "aten::squeeze",
         "aten::select", "aten::slice", "aten::expand", "aten::as_strided", "aten::t", "aten::split",
         "aten::unbind", "aten::narrow", "aten::alias", "aten::detach", "aten::_unsafe_view", "aten::empty_like",
         "aten::new_zeros", "aten::new_empty", "aten::resize_", "aten::empty_strided", "aten::lift_fresh"}


def _numel(shape: Any) -> int:
    return math.prod(shape) if isinstance(shape, (list, tuple)) and all(isinstance(d, int) for d in shape) else 0


def op_bytes(name: str, shapes: list[Any]) -> int:
    """Logical bytes one leaf op moves (see the module docstring)."""
    sizes = [_numel(s) for s in shapes if isinstance(s, (list, tuple)) and s]
    if name in VIEWS or not sizes:
        return 0
    if name in WRITE_ONLY:
        return ELEMENT_BYTES * sizes[0]
    if name in MATMULS:
        mats = [s for s in shapes if isinstance(s, (list, tuple)) and len(s) >= 2]
        a, b = mats[-2], mats[-1]
        out = math.prod(a[:-1]) * b[-1]
        reads = sum(_numel(m) for m in mats)
        return ELEMENT_BYTES * (reads + out)
    out = 0 if name in REDUCTIONS else max(sizes)
    return ELEMENT_BYTES * (sum(sizes) + out)


def profile_counts(fn: Callable[[], Any]) -> dict[str, float]:
    """Run ``fn`` once under the profiler; FLOPs and logical bytes of the aten ops it ran (matrix products
    counted whole, other ops at their leaves, so nothing is counted twice)."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        fn()
    totals = {"flop": 0.0, "bytes": 0.0}

    def visit(event: Any) -> None:
        if event.name in MATMULS or not event.cpu_children:
            if event.name.startswith("aten::"):
                totals["flop"] += event.flops or 0
                totals["bytes"] += op_bytes(event.name, event.input_shapes or [])
            return
        for child in event.cpu_children:
            visit(child)

    for event in prof.events():
        if event.cpu_parent is None:
            visit(event)
    totals["top_ops"] = top_ops(prof)
    return totals


def top_ops(prof: Any, n: int = 8) -> list[dict[str, Any]]:
    """Where the time goes: the ``n`` (op, input shapes) groups with the most self CPU time, with their share of
    all self time. Under the profiler every op pays a few microseconds more, so small ops look heavier."""
    groups = [g for g in prof.key_averages(group_by_input_shape=True) if g.self_cpu_time_total > 0]
    total = sum(g.self_cpu_time_total for g in groups) or 1.0
    groups.sort(key=lambda g: g.self_cpu_time_total, reverse=True)
    return [{"op": g.key, "shapes": str(g.input_shapes)[:90], "calls": g.count,
             "self_ms": g.self_cpu_time_total / 1e3, "share": g.self_cpu_time_total / total} for g in groups[:n]]
