"""Memory measurement shared by the benchmarks (Linux)."""

from __future__ import annotations

from pathlib import Path


def status_mib(field: str) -> float:
    """A memory figure of this process from ``/proc/self/status``, in MiB.

    ``VmHWM`` (peak resident set) is used rather than ``getrusage``'s ``ru_maxrss``, which Linux
    carries over ``execve`` and so would include the peak of the parent that started this child.
    ``VmRSS`` is the current resident set.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")
