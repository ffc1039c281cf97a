"""``trainer.precision: auto``: the fastest numerically safe precision for this machine.

Measured on 2-core cloud CPUs (``benchmarks/precision.py``): ``mixed_bfloat16`` trains 1.2-1.4x faster
than ``float32`` where the CPU has AVX512_BF16 or AMX instructions, at the
same accuracy, and is emulated (slower) elsewhere; ``mixed_float16`` is
about 5x slower on CPUs and is never picked.
"""

from __future__ import annotations

from pathlib import Path

#: CPU flags (as in /proc/cpuinfo) that give bfloat16 a hardware path.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Policies a user may ask for (for a GPU) that CPUs only emulate, and what that costs; the run warns.
SLOW_ON_CPUS = {"mixed_float16": "on a CPU float16 is emulated, about 5x slower than float32 (use auto or mixed_bfloat16)"}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo does not exist (macOS, Windows)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def choose_precision(requested: str, flags: set[str] | None = None) -> tuple[str, str]:
    """The Keras dtype policy to train with, and why.

    Args:
        requested: ``trainer.precision``: ``auto`` or a Keras policy name.
        flags: The CPU flags (default: this machine's).

    Returns:
        ``(policy, reason)``; the reason is logged and tagged with the run.
    """
    if requested in SLOW_ON_CPUS:
        return requested, f"set by trainer.precision; {SLOW_ON_CPUS[requested]}"
    if requested != "auto":
        return requested, "set by trainer.precision"
    found = sorted(set(BF16_FLAGS) & (cpu_flags() if flags is None else flags))
    if found:
        return "mixed_bfloat16", f"auto: the CPU has {', '.join(found)} (bfloat16 in hardware, 1.2-1.4x faster)"
    return "float32", "auto: the CPU has neither avx512_bf16 nor amx_bf16 (bfloat16 would be emulated, slower)"
