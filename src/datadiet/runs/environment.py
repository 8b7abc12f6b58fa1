"""What a run's numbers depend on beyond its config: library versions, threads, CPU kernels.

Training is bit-for-bit deterministic for a given config only on the same software stack, the same
number of intra-op threads and the same CPU kernel family (PyTorch picks AVX2 / AVX-512 kernels at
run time, and reductions split differently across threads). Every run records this next to its
result, so two results can be compared knowing whether they should agree to the last digit.
"""

from __future__ import annotations

import platform


def runtime_info() -> dict:
    """Versions, thread count and CPU capability of this process (JSON-able)."""
    import numpy as np
    import torch

    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - older torch: not recorded rather than failing a run
        capability = "unknown"
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": int(torch.get_num_threads()),
        "cpu_capability": str(capability),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "device": "cpu",
    }


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
