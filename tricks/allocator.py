"""Keep freed tensor memory in the process instead of handing it back to the kernel.

With glibc's default malloc, a training process on the CPU frees and re-requests the same
large blocks (activations, gradients, evaluation batches) every step: blocks above the
mmap threshold are unmapped on free, and freed memory at the top of the heap is trimmed
(``brk``) as soon as it passes the trim threshold. Each new request then faults in fresh,
zeroed pages. In a long search process this kernel work reached a third of the CPU time
(measured: ``brk`` about 200 times a second). PyTorch's CPU performance guide makes the
same point and suggests jemalloc or tcmalloc through ``LD_PRELOAD``; raising glibc's two
thresholds with ``mallopt(3)`` gets the reuse without a preload.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["OPT_OUT", "keep_freed_memory"]

OPT_OUT = "TRICKSEARCH_GLIBC_MALLOC"  # set to 1 to leave glibc's malloc as it is
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
MMAP_THRESHOLD = 512 << 20  # blocks below this come from the heap and are reused
TRIM_THRESHOLD = 1 << 30  # up to this much freed memory stays in the process
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if they were set.

    Does nothing off Linux, with another allocator preloaded (jemalloc, tcmalloc), when
    the user set glibc's malloc tunables themselves, or with ``TRICKSEARCH_GLIBC_MALLOC=1``.
    The cost: a process keeps up to 1 GiB of freed memory for its next allocations
    rather than returning it.
    """
    if not sys.platform.startswith("linux") or os.environ.get(OPT_OUT) == "1":
        return False
    if "malloc" in os.environ.get("LD_PRELOAD", "") or any(map(os.environ.get, _USER_SETTINGS)):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap_ok and trim_ok)
