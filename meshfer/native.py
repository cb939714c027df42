"""Native libraries, imported quietly: MediaPipe (without the TensorFlow import it makes only for API docs) and
the capture of what C++ code prints straight to stderr.

MediaPipe imports TensorFlow, when it is installed, only for doc decorators
(``mediapipe.tasks.python.core.optional_dependencies``): 4 s and hundreds of MB per process. Before the first
MediaPipe import, this registers the no-op stand-in MediaPipe uses itself when TensorFlow is absent. Where
TensorFlow is already loaded, nothing changes.

MediaPipe's wheel also posts usage statistics to ``https://play.googleapis.com/log`` from a thread of its native
library (``mediapipe::tasks::core::logging::google_internal::CurlClient`` over a libcurl linked into
``libmediapipe.so``). Neither the Tasks API (``BaseOptions``) nor an environment variable turns that off: the open
source ``CreateTasksLogger`` returns a no-op logger, the published wheel's build does not. Its libcurl does honour
``https_proxy``, so before MediaPipe loads in a meshfer command, the C environment's ``https_proxy`` names a SOCKS
proxy on a Unix socket that cannot exist: the post fails at once, without a DNS lookup or a packet. It is set with
libc's ``setenv``, not through ``os.environ``: Python's own HTTP clients (urllib, requests, websockets) read
``os.environ``, a copy taken when the interpreter started, so an application that embeds meshfer keeps its own proxy
settings; only native code and child processes started without an ``env`` of their own see the change.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import tempfile
import types

_DOCS_MODULE = "mediapipe.tasks.python.core.optional_dependencies"
# /dev/null is a file, so nothing can ever be listening at a path below it; socks5h: curl would let the proxy
# resolve the name, so it never looks it up itself
NOWHERE_PROXY = "socks5h://localhost/dev/null/meshfer-sends-nothing"


@functools.cache  # once per process, before MediaPipe's logging thread starts reading the environment
def keep_mediapipe_offline() -> None:
    """Called by meshfer's own entry points (the command line, a `meshfer serve` worker) before MediaPipe loads.
    Not by the library on import: a child process started without an ``env`` of its own inherits the C
    environment, and a program embedding meshfer may start pip or curl, which would then find no way out."""
    if os.name == "posix":
        ctypes.CDLL(None).setenv(b"https_proxy", NOWHERE_PROXY.encode(), 1)
    else:  # no libc setenv to call: the variable goes through os.environ instead
        os.environ["https_proxy"] = NOWHERE_PROXY


def _skip_docgen_tensorflow_import() -> None:
    if _DOCS_MODULE in sys.modules or "tensorflow" in sys.modules:
        return
    stand_in = types.ModuleType(_DOCS_MODULE, "meshfer's stand-in: MediaPipe's doc decorators as no-ops")
    stand_in.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda obj: obj)
    sys.modules[_DOCS_MODULE] = stand_in


def mediapipe():
    """The ``mediapipe`` package."""
    _skip_docgen_tensorflow_import()
    import mediapipe as mp

    return mp


def vision():
    """``mediapipe.tasks.python.vision``: the Tasks API (FaceLandmarker, RunningMode, connections)."""
    _skip_docgen_tensorflow_import()
    from mediapipe.tasks.python import vision as tasks_vision

    return tasks_vision


@contextlib.contextmanager
def quiet_native_logs():
    """Native code (MediaPipe's tasks starting, TensorFlow loading) writes INFO/WARNING lines straight to file
    descriptor 2, whatever the logging environment says. Catch them; replay them only if the block fails (and
    catch nothing with MESHFER_LOG=DEBUG)."""
    if os.environ.get("MESHFER_LOG", "").upper() == "DEBUG":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
