"""meshfer: facial expression and eye-closeness recognition from MediaPipe face meshes."""
import os

# Spektral 1.3 needs Keras 2 (tf-keras); this must be set before TensorFlow is first imported,
# so it lives here, where every entry point passes first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")
# Nothing leaves the machine: onnxruntime's official builds send usage events to Microsoft and keep a device id
# under ~/.cache/Microsoft unless this is set before onnxruntime initialises (its docs/Privacy.md). Forced, not a
# default: the README promises no outbound traffic whatever the caller's environment says.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.2.0"


def __getattr__(name: str):
    # Lazy so that `import meshfer` stays cheap for the pipeline stages that do not predict.
    if name == "Recognizer":
        from meshfer.recognizer import Recognizer

        return Recognizer
    raise AttributeError(name)
