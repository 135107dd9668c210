"""The FLOP floor of a training step: its matrix products, replayed back to back at this machine's speed.

``record_step(run_step)`` runs one step under a dispatch mode that records
every matrix product (``mm``, ``addmm``, ``bmm``, ``baddbmm``: shapes and
dtype), and counts the step's FLOPs with ``torch.utils.flop_counter``.
Attention is run on PyTorch's math path while recording (its two batched
products then appear as ``bmm``s, with the backward's four), because the
fused CPU kernel is opaque to both; the fused kernel does at least that work.

``replay_seconds(products)`` times the recorded products alone on fresh
random operands with the current thread count (median of ``repeats``):
that is the floor, the time the step would take if everything but its
matrix products were free and the products ran at the speed this machine
gives those exact shapes. ``floor_report`` prints the step's GFLOP, the
replay's GFLOP/s and the floor.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
PRODUCTS = {aten.mm.default: "mm", aten.addmm.default: "addmm", aten.bmm.default: "bmm",
            aten.baddbmm.default: "baddbmm"}


class _ProductRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.products: list[tuple[str, list[tuple[int, ...]], torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            self.products.append((PRODUCTS[func], [tuple(t.shape) for t in tensors], tensors[0].dtype))
        return func(*args, **(kwargs or {}))


def record_step(run_step) -> tuple[list, int]:
    """Run ``run_step()`` once; return (its matrix products, its FLOPs)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    recorder = _ProductRecorder()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, recorder:
        run_step()
    return recorder.products, counter.get_total_flops()


def _flops(kind: str, shapes: list[tuple[int, ...]]) -> int:
    a, b = shapes[-2], shapes[-1]  # the two factors (addmm/baddbmm carry the added term first)
    batch = a[0] if kind in ("bmm", "baddbmm") else 1
    return 2 * batch * a[-2] * a[-1] * b[-1]


def replay_seconds(products: list, repeats: int = 3) -> tuple[float, int]:
    """Median seconds to run every recorded product once, and their FLOPs."""
    operands = []
    for kind, shapes, dtype in products:
        operands.append((kind, [torch.randn(s, dtype=dtype) for s in shapes]))
    call = {"mm": torch.mm, "addmm": torch.addmm, "bmm": torch.bmm, "baddbmm": torch.baddbmm}
    for kind, tensors in operands[: min(len(operands), 20)]:  # warm the library's kernels
        call[kind](*tensors)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for kind, tensors in operands:
            call[kind](*tensors)
        times.append(time.perf_counter() - started)
    return statistics.median(times), sum(_flops(kind, shapes) for kind, shapes, _ in products)


def floor_report(run_step, measured_seconds: float) -> dict:
    """Record one step, replay its products, print and return the floor against ``measured_seconds``."""
    products, step_flops = record_step(run_step)
    seconds, product_flops = replay_seconds(products)
    rate = product_flops / seconds / 1e9
    print(f"  FLOP floor: one step is {step_flops / 1e9:.1f} GFLOP ({product_flops / 1e9:.1f} GFLOP in "
          f"{len(products)} matrix products, attention on the math path included); replayed alone at "
          f"{torch.get_num_threads()} threads they take {seconds:.3f} s ({rate:.0f} GFLOP/s): the floor. "
          f"Measured step / floor = {measured_seconds / seconds:.2f}")
    return {"step_gflop": round(step_flops / 1e9, 2), "product_gflop": round(product_flops / 1e9, 2),
            "floor_seconds": round(seconds, 4), "matmul_gflops_per_second": round(rate, 1),
            "step_over_floor": round(measured_seconds / seconds, 3)}
