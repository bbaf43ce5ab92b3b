"""What a process costs: resident memory, CPU time and context switches (Linux /proc, getrusage).

Standard library only: the workers of both SDKs import it.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any


def status_mib(field: str, pid: int | str = "self") -> float:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM...) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def rss_mib() -> float:
    """Resident set size now, in MiB (VmRSS)."""
    return status_mib("VmRSS")


def usage() -> dict[str, Any]:
    """This process's CPU seconds and context switches so far, every thread included, the ones
    that already ended too (getrusage(RUSAGE_SELF); /proc/<pid>/status counts one thread only).

    A voluntary switch is a thread going to sleep (waiting for I/O, a timer, a lock), so their
    rate is the rate of wake-ups; involuntary ones are preemptions."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "t": time.monotonic(),
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "process_time_s": time.process_time(),
        "voluntary": ru.ru_nvcsw,
        "involuntary": ru.ru_nivcsw,
        "threads": len(os.listdir("/proc/self/task")),
        "rss_mib": rss_mib(),
    }


def thread_switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary switches of the threads of ``pid`` alive now, read from the
    outside (/proc/<pid>/task/*/status); threads that ended are not counted."""
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary
