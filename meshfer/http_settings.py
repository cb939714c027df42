"""What a ``meshfer serve`` worker needs to build its app, and how it travels: the settings (defaults the command line
shows without importing the web stack), passed to uvicorn's worker processes as environment variables."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

LOOPBACK = "127.0.0.1"
SETTINGS_ENV = "MESHFER_SERVE_"  # worker processes get their settings from the environment, one variable per field
READY_DIR_ENV = "MESHFER_SERVE_READY_DIR"  # each worker leaves a file there once its models are loaded
TOKEN_ENV = "MESHFER_TOKEN"  # the token's better way in: a --token shows in the process list


@dataclass(frozen=True)
class ServiceSettings:
    """What a worker process needs to build its app; strings and numbers only, so they travel as env variables."""

    approach: str = ""  # "": the models folder's default
    models_dir: str = ""  # "": the models bundled with meshfer
    num_faces: int = 4  # the most a request may ask for
    token: str = ""  # "": no authentication
    max_upload_bytes: int = 10 << 20
    max_pixels: int = 40_000_000
    max_batch: int = 16  # images in one multipart request
    # requests that may wait for the inference thread, per worker, besides the one it runs: 16 keep-alive clients
    # get no 503 (bench/http.py's queue_choice; 8 refused most of theirs), and their uploads are bounded with it
    queue: int = 16
    cors_origin: str = ""
    metrics: int = 1  # 0: no counting and no /metrics (to measure what counting costs)
    host: str = LOOPBACK  # the address listened on: with localhost's names, the only Host a request may name
    read_timeout: float = 30.0  # seconds an upload may go without sending a byte before it gets 408
    # requests and streams open at once per worker; more get 503. Each holds at most two uploads' worth, so with
    # the upload and pixel limits a worker's worst case stays under 2 GiB (bench/http.py's memory_bound)
    max_connections: int = 32

    def to_env(self) -> dict[str, str]:
        return {f"{SETTINGS_ENV}{k.upper()}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls, environ=os.environ) -> "ServiceSettings":
        values = {}
        for f in fields(cls):
            raw = environ.get(f"{SETTINGS_ENV}{f.name.upper()}")
            if raw is not None:
                values[f.name] = {"int": int, "float": float}.get(str(f.type), str)(raw)
        return cls(**values)
