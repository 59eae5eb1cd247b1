"""How many threads a fill may use, chosen so that they never spin on a shared machine.

OpenMP threads (torch's) and onnxruntime's busy-wait for work by default: on a machine where
another process holds a core, a two-thread fill then spends its time waiting for a thread that
cannot run (a fill went from 0.36 s to 4.5 s beside one busy process). So the entry points
(the CLI, the server, the API on its first model load) call `configure()` before torch is
imported: a passive OpenMP wait policy unless the user chose one, and a thread count from the
CPUs this process may use (`os.sched_getaffinity`) minus those other processes keep busy (the
load average), unless `--threads` or PHOTORECON_THREADS says otherwise. onnxruntime sessions
read the same count (`session_threads`) with spinning off. No torch here.
"""

from __future__ import annotations

import os
import sys

from photorecon.errors import PhotoreconError

ENV = "PHOTORECON_THREADS"
_chosen: int | None = None  # what configure() settled on for this process


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; cgroup quotas aside)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_threads(value: object, where: str) -> int:
    """A thread count from a flag or variable: a positive integer, else one line naming it."""
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        raise PhotoreconError(f"{where} must be a positive whole number, got {text!r}") from None
    if number < 1:
        raise PhotoreconError(f"{where} must be at least 1, got {number}")
    return number


def busy_cpus() -> int:
    """Cores other processes keep busy now: the 1-minute load average, rounded down (0 where
    the system does not report one)."""
    try:
        return int(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0


def default_threads(cpus: int | None = None, busy: int | None = None) -> int:
    """Threads for one fill: the usable CPUs less those already busy, at least 1."""
    cpus = usable_cpus() if cpus is None else cpus
    busy = busy_cpus() if busy is None else busy
    return max(1, min(cpus, cpus - busy))


def requested_threads(flag: object = None) -> int | None:
    """`--threads` if given, else PHOTORECON_THREADS if set, else None (choose by load)."""
    if flag is not None:
        return parse_threads(flag, "--threads")
    if os.environ.get(ENV, "").strip():
        return parse_threads(os.environ[ENV], ENV)
    return None


def configure(flag: object = None, *, share: int = 1) -> int:
    """Settle this process's thread count and wait policy; returns the count.

    `share` divides the threads among that many concurrent workers (a server's fill worker
    and its request handling, say), so together they never oversubscribe the CPUs. Before
    torch is imported this sets OMP_NUM_THREADS and OMP_WAIT_POLICY=PASSIVE (unless the user
    set them); after, it sets torch's intra-op thread count. An explicit request wins over an
    OMP_NUM_THREADS the user left in the environment.
    """
    global _chosen
    asked = requested_threads(flag)
    threads = asked if asked is not None else max(1, default_threads() // max(1, share))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    elif asked is not None or "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    _chosen = threads
    return threads


def session_threads() -> int:
    """Threads for an onnxruntime session: what `configure` chose, else the default now."""
    return _chosen if _chosen is not None else default_threads()


def configure_once() -> int:
    """For the Python API's first model load: `configure()` unless this process already
    settled its threads; a torch the caller imported first keeps the caller's settings."""
    global _chosen
    if _chosen is not None:
        return _chosen
    if "torch" in sys.modules and requested_threads() is None:
        _chosen = int(sys.modules["torch"].get_num_threads())
        return _chosen
    return configure()
