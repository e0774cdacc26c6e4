"""Memory of a process as Linux counts it, from /proc/PID/status.

``ru_maxrss`` (resource.getrusage) is no good for a process started by ``subprocess``: Linux keeps
it across exec, so a child started from a large process reports the parent's size at the fork as
its own peak (a 13 MiB child of a 313 MiB parent reads 313). ``VmHWM`` is the peak of the
process's own address space, reset by exec."""

from __future__ import annotations

from pathlib import Path


def _status_mib(field: str, pid: int | str) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory now."""
    return _status_mib("VmRSS", pid)


def peak_mib(pid: int | str = "self") -> float:
    """The most resident memory since the process (or its last exec) began."""
    return _status_mib("VmHWM", pid)
