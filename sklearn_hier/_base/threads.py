"""Threads for passes over many rows."""

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where Python can tell)."""
    return getattr(os, "process_cpu_count", os.cpu_count)() or 1
