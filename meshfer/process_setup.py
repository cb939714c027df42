"""What meshfer's own entry points (the command line, each ``meshfer serve`` worker) do to the process they own,
before anything loads. The library never does this on import: a program embedding meshfer owns its process."""
from __future__ import annotations


def prepare_own_process() -> None:
    """MediaPipe kept from posting usage statistics, and freed memory given back to the system."""
    from meshfer.native import keep_mediapipe_offline

    keep_mediapipe_offline()
    return_freed_memory_to_the_system()


def return_freed_memory_to_the_system() -> None:
    """Fix glibc's threshold for giving freed heap memory back. By default it grows with the first large block
    freed, so the memory that parsing the model files passes through stays with the process: ~70 MB of a
    prediction's peak. (The command owns its process; the library leaves malloc alone.) A no-op off glibc."""
    import ctypes
    import ctypes.util

    M_TRIM_THRESHOLD = -1
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(M_TRIM_THRESHOLD, 8 << 20)
    except (OSError, AttributeError, TypeError):
        pass
