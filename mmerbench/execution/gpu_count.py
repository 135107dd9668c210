"""How many CUDA (or ROCm) devices this process can use, without importing torch where none can be present.

``torch.cuda.device_count()`` is the answer, but importing torch costs about 1.4 s on this project's
2-core machines — more than a small classical run's jobs together. On Linux a GPU that torch could use
has a device node (``/dev/nvidia0``..., ``/dev/kfd`` for ROCm, ``/dev/dxg`` under WSL 2); with none of
them, no driver can be reached and the count is 0 without asking torch. Everywhere else (and whenever torch
is imported already, e.g. when a test has replaced its count) torch answers.
"""

from __future__ import annotations

import glob
import os
import sys

GPU_DEVICE_NODES = ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")


def no_gpu_device_node() -> bool:
    """True on Linux when no GPU device node exists (then no CUDA or ROCm device is usable)."""
    if not sys.platform.startswith("linux"):
        return False  # another OS names its devices otherwise: let torch look
    return not any(glob.glob(pattern) for pattern in GPU_DEVICE_NODES)


def cuda_device_count() -> int:
    """``torch.cuda.device_count()`` (which honours CUDA_VISIBLE_DEVICES); 0 when torch is not installed."""
    if "torch" not in sys.modules and (os.environ.get("CUDA_VISIBLE_DEVICES") == "" or no_gpu_device_node()):
        return 0
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
    return torch.cuda.device_count()
