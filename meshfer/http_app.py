"""The HTTP service behind ``meshfer serve``: a Starlette app over one :class:`~meshfer.recognizer.Recognizer`.

Routes: ``GET /`` the web page (``/static/*`` its files; ``/device/*`` the models and landmarker its device mode runs
in the browser: meshfer.device_site), ``GET /healthz``, ``GET /v1/models``, ``POST /v1/predict``
(one image, or a batch as several multipart ``image`` fields; or base64 in JSON: meshfer/json_body.py),
``WS /v1/stream`` (frames in, one JSON message per frame out), ``GET /metrics`` (Prometheus: meshfer/service_metrics.py)
and ``GET /openapi.json`` (meshfer/openapi.py). Schemas: ``meshfer/schemas/api.schema.json``.

Safe by construction: the request is the only input (no URL is fetched, no server path read from it); the body is
limited before it is read whole and an image's pixels from its header before it is decoded; uploads stay in memory;
every error is ``{"error": "one line"}`` with its status, never a traceback. Inference runs on one thread per process
(MediaPipe's landmarker takes one image at a time); a bounded number of requests wait for it and the rest get 503
with ``Retry-After``. Needs ``pip install "meshfer[serve]"``; the plain install never imports this module.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from meshfer import __version__
from meshfer.guard import Guard
from meshfer.json_body import JsonBodyError, json_images
from meshfer.openapi import openapi_document
from meshfer.http_settings import READY_DIR_ENV, ServiceSettings
from meshfer.service_metrics import CountRequests, NoMetrics, service_metrics

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "assets" / "web"
# Reachable without the token (with the page's files under /static/ and device mode's under /device/). /metrics is
# not: it tells how busy the service is and which routes fail, and Prometheus sends a bearer token (its scrape
# config's `authorization`).
OPEN_PATHS = ("/", "/healthz", "/openapi.json")
PREDICT_PARAMS = {"approach", "eyes", "num_faces", "mesh"}


class ApiError(Exception):
    """A request the service refuses: the status and a one-line message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def busy(message: str) -> ApiError:
    return ApiError(503, message, {"Retry-After": "1"})


# --- the inference side: one thread per process, a bounded wait -------------------------------------------------
class Engine:
    """Holds this process's Recognizer (loaded in the background, so /healthz can say 503 until it is ready) and
    runs every image through one inference thread, with at most ``settings.queue`` requests waiting."""

    def __init__(self, settings: ServiceSettings, metrics: NoMetrics | None = None):
        self.settings = settings
        self.metrics = metrics or NoMetrics()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="meshfer-inference")
        self._waiting = 0  # requests running or waiting; the event loop's thread alone changes it
        self._variants: dict[tuple[str, bool], Any] = {}
        self.recognizer = None
        self.load_error = ""
        self.approaches: list[str] = []
        self.default_approach = ""

    @property
    def ready(self) -> bool:
        return self.recognizer is not None

    def load(self) -> None:
        """Build the Recognizer (a second or two); runs on the inference thread."""
        from meshfer.recognizer import Recognizer
        from meshfer.runtime import available_approaches

        try:
            rec = Recognizer(approach=self.settings.approach or None, models_dir=self.settings.models_dir or None,
                             eyes=True, num_faces=self.settings.num_faces)
        except Exception as err:  # noqa: BLE001 - reported by /healthz and the log, the process keeps answering
            self.load_error = f"models could not be loaded: {err}"
            log.error(self.load_error)
            return
        self.approaches = available_approaches(rec.models_dir)
        self.default_approach = rec.approach
        self._variants[(rec.approach, True)] = rec
        self.recognizer = rec
        self.metrics.models_loaded(len(self._variants))
        ready_dir = os.environ.get(READY_DIR_ENV)
        if ready_dir and Path(ready_dir).is_dir():
            (Path(ready_dir) / str(os.getpid())).touch()

    def start_loading(self) -> None:
        asyncio.get_running_loop().run_in_executor(self._thread, self.load)

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self.recognizer is not None:
            self.recognizer.close()

    def refuse_if_full(self) -> None:
        """503 when the models are not loaded yet or too many requests are in progress."""
        if not self.ready:
            raise busy(self.load_error or "the models are still loading")
        if self._waiting > self.settings.queue:
            raise busy(f"server busy ({self._waiting} requests in progress); retry shortly")

    @contextlib.contextmanager
    def place(self):
        """A place among the requests in progress, or 503 at once (``refuse_if_full``). An upload takes its place
        before its body is read, so the queue bounds the bodies held in memory too (at most ``queue + 1`` per
        worker, each within the upload limit)."""
        self.refuse_if_full()
        self._waiting += 1
        self.metrics.waiting(+1)
        try:
            yield
        finally:
            self._waiting -= 1
            self.metrics.waiting(-1)

    async def infer(self, work, *args):
        """``work(*args)`` on the inference thread (the caller holds a place)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def run(self, work, *args):
        """``work(*args)`` on the inference thread, in a place of its own."""
        with self.place():
            return await self.infer(work, *args)

    def variant(self, approach: str, eyes: bool):
        """The Recognizer for this request's choices (inference thread only: it may load a model)."""
        key = (approach, eyes)
        if key not in self._variants:
            self._variants[key] = self.recognizer.variant(approach, eyes)
            self.metrics.models_loaded(len(self._variants))
        return self._variants[key]

    def analyse(self, data: bytes, name: str, options: dict) -> dict:
        """One encoded image -> the response's body fields (inference thread)."""
        from meshfer.imageio import decode_image

        rgb = decode_image(data, name, self.settings.max_pixels)
        faces = self.variant(options["approach"], options["eyes"]).predict_faces(rgb)
        return {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
                "faces": faces.records(options["mesh"])[:options["num_faces"]]}

    def analyse_many(self, images: list[tuple[str, bytes]], options: dict) -> list[dict]:
        """A batch: each image's faces or its own error, so one bad image never fails the others."""
        from meshfer.imageio import ImageReadError

        results = []
        for name, data in images:
            try:
                results.append({"name": name, **self.analyse(data, name, options)})
            except ImageReadError as err:
                results.append({"name": name, "error": err.reason})
        return results


# --- reading a request -------------------------------------------------------------------------------------------
def parse_options(query, engine: Engine) -> dict:
    """The query's choices, checked: 400 names the parameter."""
    unknown = sorted(set(query) - PREDICT_PARAMS)
    if unknown:
        raise ApiError(400, f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(PREDICT_PARAMS))}")
    approach = query.get("approach") or engine.default_approach
    if approach not in engine.approaches:
        raise ApiError(400, f"approach {approach!r} is not served; choose one of {', '.join(engine.approaches)}")
    num_faces = query.get("num_faces", str(engine.settings.num_faces))
    if not num_faces.isdigit() or not 1 <= int(num_faces) <= engine.settings.num_faces:
        raise ApiError(400, f"num_faces must be a whole number from 1 to {engine.settings.num_faces}, "
                            f"not {num_faces!r}")
    return {"approach": approach, "num_faces": int(num_faces), "eyes": _flag(query, "eyes", True),
            "mesh": _flag(query, "mesh", False)}


def _flag(query, name: str, default: bool) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ApiError(400, f"{name} must be true or false, not {raw!r}")


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` (from Content-Length before
    anything is read, else while it streams in), and with 408 when the client sends nothing for ``timeout``
    seconds (a stalled upload would hold its connection and buffer for ever)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "bad Content-Length")
        if int(declared) > limit:
            await discard_body(request, limit)
            raise ApiError(413, f"body too large ({int(declared) / 2**20:.1f} MiB, limit {limit / 2**20:g} MiB)")
    chunks, size, stream = [], 0, request.stream()
    while True:
        try:
            chunk = await asyncio.wait_for(anext(stream), timeout)
        except StopAsyncIteration:
            break
        except TimeoutError:
            log.warning("upload stalled: nothing for %g s after %d bytes; cut off", timeout, size)
            raise ApiError(408, f"the upload stalled (nothing received for {timeout:g} s)",
                           {"Connection": "close"}) from None
        size += len(chunk)
        if size > limit:
            await discard_body(request, limit)
            raise ApiError(413, f"body too large (over the {limit / 2**20:g} MiB limit)")
        chunks.append(chunk)
    return b"".join(chunks)


# How much of a refused upload is read (and dropped) so that its client gets the answer: up to this many times the
# upload limit, within DISCARD_SECONDS, each chunk within DISCARD_PAUSE_S. Beyond, the connection just closes.
DISCARD_LIMITS = 4
DISCARD_SECONDS = 5.0
DISCARD_PAUSE_S = 2.0


async def discard_body(request: Request, upload_limit: int) -> None:
    """Read and drop what is left of the body of a refused request (503 busy, 400, 413 too large), so that the
    client gets the answer: a server that closes with unread bytes makes the kernel send a reset, and a client still
    sending its upload then sees "connection reset" or "broken pipe" instead of the status and its message. The
    lingering close of nginx and Apache, bounded the same way (see DISCARD_*); nothing is kept."""
    size, stream = 0, request.stream()
    deadline = time.monotonic() + DISCARD_SECONDS
    # RuntimeError: Starlette's "stream consumed", the body was read to its end already
    with contextlib.suppress(StopAsyncIteration, TimeoutError, ClientDisconnect, RuntimeError):
        while size <= DISCARD_LIMITS * upload_limit and (left := deadline - time.monotonic()) > 0:
            size += len(await asyncio.wait_for(anext(stream), min(DISCARD_PAUSE_S, left)))


def multipart_files(body: bytes, content_type: str, field: str = "image") -> list[tuple[str, bytes]]:
    """(file name, bytes) of every part named ``field`` of a multipart/form-data body, in order. A small splitter
    (bytes.find on the boundary) rather than a general parser: uploads stay in memory and are never spooled to
    disk, and a 10 MB body splits in milliseconds."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not boundary:
        raise ApiError(400, "multipart body without a boundary")
    delimiter = b"--" + str(boundary).encode("latin-1")
    files = []
    for n, part in enumerate(body.split(delimiter)[1:], start=1):
        if part.startswith(b"--"):  # the closing delimiter
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, f"multipart part {n} has no header end")
        disposition = Message()
        for line in head.decode("latin-1").split("\r\n"):
            if ":" in line:
                key, value = line.split(":", 1)
                disposition[key.strip()] = value.strip()
        if disposition.get_param("name", header="content-disposition") == field:
            name = disposition.get_param("filename", header="content-disposition") or f"{field}{len(files) + 1}"
            files.append((str(name), content[:-2] if content.endswith(b"\r\n") else content))
    return files


async def uploaded_images(request: Request, settings: ServiceSettings) -> tuple[list[tuple[str, bytes]], bool]:
    """The request's images and whether it is a batch (several multipart ``image`` fields, or a JSON ``images``)."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if not (kind.startswith("image/") or kind in ("application/octet-stream", "multipart/form-data",
                                                  "application/json")):
        raise ApiError(415, "send one image as the body (Content-Type: image/...), as multipart field 'image', "
                            "or as base64 in JSON ({\"image\": ...})")
    body = await read_body(request, settings.max_upload_bytes, settings.read_timeout)
    if kind == "application/json":
        try:
            files, batch = json_images(body)
        except JsonBodyError as err:
            raise ApiError(400, str(err)) from None
    elif kind == "multipart/form-data":
        files = multipart_files(body, content_type)
        if not files:
            raise ApiError(400, "no multipart field named 'image'")
        batch = len(files) > 1
    else:
        return [("image", body)], False
    if len(files) > settings.max_batch:
        raise ApiError(413, f"{len(files)} images in one request; the limit is {settings.max_batch}")
    return files, batch


# --- routes ------------------------------------------------------------------------------------------------------
async def page(request: Request) -> Response:
    return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    if engine.ready:
        return JSONResponse({"status": "ok", "version": __version__})
    return JSONResponse({"status": engine.load_error or "loading", "version": __version__}, status_code=503,
                        headers={"Retry-After": "1"})


async def models(request: Request) -> Response:
    from meshfer.card import read_card, sha256_of
    from meshfer.labels import EXPRESSIONS, EYE_STATES

    engine: Engine = request.app.state.engine
    if not engine.ready:
        raise busy(engine.load_error or "the models are still loading")
    root = engine.recognizer.models_dir
    approaches = []
    for name in engine.approaches:
        card_path = root / name / "card.json"
        card = read_card(card_path)
        approaches.append({"name": name, "labels": list(card.labels), "metrics": _headline(card.metrics),
                           "card_sha256": sha256_of(card_path), "model_sha256": card.file_sha256 or None})
    return JSONResponse({"version": __version__, "default": engine.default_approach, "approaches": approaches,
                         "expressions": list(EXPRESSIONS), "eye_states": list(EYE_STATES),
                         "max_faces": engine.settings.num_faces, "max_upload_bytes": engine.settings.max_upload_bytes,
                         "max_pixels": engine.settings.max_pixels, "max_batch": engine.settings.max_batch})


async def device_file(request: Request) -> Response:
    """Device mode's files (meshfer.device_site): the models index, the model files and the landmarker, by name only."""
    from meshfer import device_site

    engine: Engine = request.app.state.engine
    if not engine.ready:
        raise busy(engine.load_error or "the models are still loading")
    rec, path = engine.recognizer, request.path_params["path"]
    if path == f"models/{device_site.INDEX_FILE}":
        return JSONResponse(device_site.models_index(rec.models_dir))
    found = device_site.device_files(rec.models_dir, rec.landmarker.model_path).get(path)
    if found is None:
        raise ApiError(404, "no such device-mode file")
    return FileResponse(found)


def _headline(metrics: dict) -> dict:
    """A card's accuracy figures by split (val, test, unseen), whatever else the card holds."""
    return {split: values["acc"] for split, values in metrics.items() if isinstance(values, dict) and "acc" in values}


async def predict(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    started = time.perf_counter()
    try:
        engine.refuse_if_full()
        options = parse_options(request.query_params, engine)
    except ApiError:
        await discard_body(request, engine.settings.max_upload_bytes)
        raise
    with engine.place():  # no await since refuse_if_full: the place is still free
        return await answer_upload(request, engine, options, started)


async def answer_upload(request: Request, engine: Engine, options: dict, started: float) -> Response:
    images, batch = await uploaded_images(request, engine.settings)
    if batch:
        results = await engine.infer(engine.analyse_many, images, options)
        return JSONResponse({"approach": options["approach"], "results": results, "ms": _ms(started)})
    from meshfer.imageio import ImageReadError, ImageTooLargeError

    try:
        body = await engine.infer(engine.analyse, images[0][1], images[0][0], options)
    except ImageTooLargeError as err:
        raise ApiError(413, err.reason) from None
    except ImageReadError as err:
        raise ApiError(415, err.reason) from None
    return JSONResponse({"approach": options["approach"], **body, "ms": _ms(started)})


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def scrape(request: Request) -> Response:
    body, content_type = request.app.state.engine.metrics.exposition()
    return Response(body, media_type=content_type)


async def stream(ws: WebSocket) -> None:
    """Frames in (binary JPEG/PNG), one JSON message per frame out, in order. The server works on the newest frame:
    one that arrives while another waits replaces it, and the replaced one is counted in ``dropped``."""
    engine: Engine = ws.app.state.engine
    await ws.accept()
    try:
        if not authorised(ws.app.state.settings, ws.headers, ws.query_params.get("token")):
            raise ApiError(401, "missing or wrong token")
        if not engine.ready:
            raise busy(engine.load_error or "the models are still loading")
        options = parse_options({k: v for k, v in ws.query_params.items() if k != "token"}, engine)
    except ApiError as err:
        log.info("WS /v1/stream refused %d: %s", err.status, err.message)
        await ws.send_json({"error": err.message, "status": err.status})
        await ws.close(code=close_code(err.status), reason=close_reason(err.message))
        return
    session, started = FrameStream(ws, engine, options), time.perf_counter()
    log.info("WS /v1/stream opened")
    try:
        await session.run()
    finally:
        log.info("WS /v1/stream closed: %d frames, %d dropped, %.1f s", session.received, session.dropped,
                 time.perf_counter() - started)


def close_code(status: int) -> int:
    """The WebSocket close code for a refusal: 1013 "try again later" when busy, else 1008 "policy violation"."""
    return 1013 if status == 503 else 1008


def close_reason(message: str) -> str:
    """A close frame's reason holds 123 bytes at most (RFC 6455): the message, cut on a character if longer."""
    return message.encode()[:123].decode(errors="ignore")


class FrameStream:
    """One client's stream: a receiver keeps only the newest frame, a worker analyses it and replies."""

    def __init__(self, ws: WebSocket, engine: Engine, options: dict):
        self.ws, self.engine, self.options = ws, engine, options
        self.newest: tuple[int, bytes] | None = None
        self.received = self.dropped = 0
        self.arrived = asyncio.Event()
        self.closed = False

    async def run(self) -> None:
        receiver = asyncio.create_task(self.receive())
        try:
            while True:
                await self.arrived.wait()
                self.arrived.clear()
                if self.newest is None:
                    if self.closed:
                        break
                    continue
                (frame, data), self.newest = self.newest, None
                await self.ws.send_json(await self.answer(frame, data))
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()

    async def receive(self) -> None:
        limit = self.engine.settings.max_upload_bytes
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None or len(data) > limit:
                    data = b""  # answered with an error for this frame, the stream goes on
                if self.newest is not None:
                    self.drop()
                self.newest = (self.received, data)
                self.received += 1
                self.arrived.set()
        finally:
            self.closed = True
            self.arrived.set()

    def drop(self) -> None:
        self.dropped += 1
        self.engine.metrics.frame_dropped()

    async def answer(self, frame: int, data: bytes) -> dict:
        from meshfer.imageio import ImageReadError

        started = time.perf_counter()
        head = {"frame": frame, "dropped": self.dropped}
        if not data:
            return {**head, "error": "send each frame as one binary message, an encoded image within the limit"}
        try:
            body = await self.engine.run(self.engine.analyse, data, f"frame {frame}", self.options)
        except ImageReadError as err:
            return {**head, "error": err.reason}
        except ApiError as err:  # saturated: this frame is dropped, the client sends the next
            self.drop()
            return {**head, "dropped": self.dropped, "error": err.message}
        return {**head, **body, "ms": _ms(started)}


# --- cross-cutting: token, errors, one log line per request ------------------------------------------------------
def authorised(settings: ServiceSettings, headers, query_token: str | None = None) -> bool:
    """No token set, or the request's ``Authorization: Bearer T`` (WebSocket: or ``?token=T``, since a browser
    cannot set headers there) matches it, compared in constant time."""
    if not settings.token:
        return True
    given = headers.get("authorization", "")
    given = given[7:] if given.lower().startswith("bearer ") else (query_token or "")
    return hmac.compare_digest(given.encode(), settings.token.encode())


class AccessAndAuth:
    """Pure ASGI middleware: the token check for HTTP routes and one log line per request (method, path, status,
    ms; never the query or the body)."""

    def __init__(self, app, settings: ServiceSettings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [0]

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope["path"]
        open_path = path in OPEN_PATHS or path.startswith(("/static/", "/device/")) or scope["method"] == "OPTIONS"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            if open_path or authorised(self.settings, headers):
                await self.app(scope, receive, send_and_note)
            else:
                await error_response(ApiError(401, "missing or wrong token (send Authorization: Bearer TOKEN)"),
                                     {"WWW-Authenticate": "Bearer"})(scope, receive, send_and_note)
        finally:
            log.info("%s %s %d %.1f ms", scope["method"], path, status[0], (time.perf_counter() - started) * 1000)


def error_response(err: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": err.message}, status_code=err.status, headers={**err.headers, **(headers or {})})


async def on_api_error(request: Request, err: ApiError) -> Response:
    return error_response(err)


async def on_http_error(request: Request, err: HTTPException) -> Response:
    return JSONResponse({"error": str(err.detail)}, status_code=err.status_code, headers=err.headers)


async def on_unexpected(request: Request, err: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error (logged on the server)"}, status_code=500)


# --- the app -----------------------------------------------------------------------------------------------------
def create_app(settings: ServiceSettings | None = None) -> Starlette:
    """The ASGI app. Its Recognizer loads in the background once the app starts (``/healthz`` says when)."""
    from contextlib import asynccontextmanager

    settings = settings or ServiceSettings()
    metrics = service_metrics(bool(settings.metrics))
    engine = Engine(settings, metrics)

    @asynccontextmanager
    async def lifespan(app):
        engine.start_loading()
        yield
        engine.close()
        metrics.close()

    middleware = [Middleware(Guard, settings=settings), Middleware(AccessAndAuth, settings=settings)]
    if settings.cors_origin:
        middleware.append(Middleware(CORSMiddleware, allow_origins=[settings.cors_origin],
                                     allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"]))
    middleware.insert(0, Middleware(CountRequests, metrics=metrics))  # outermost: refusals are counted too
    app = Starlette(
        routes=[Route("/", page), Route("/healthz", healthz), Route("/v1/models", models),
                Route("/v1/predict", predict, methods=["POST"]), WebSocketRoute("/v1/stream", stream),
                Route("/device/{path:path}", device_file),
                Route("/openapi.json", openapi), *([Route("/metrics", scrape)] if metrics.enabled else []),
                Mount("/static", StaticFiles(directory=WEB_DIR), name="static")],
        middleware=middleware,
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_unexpected},
        lifespan=lifespan)
    app.state.engine, app.state.settings = engine, settings
    return app


def app_from_env() -> Starlette:
    """The app a ``meshfer serve`` worker process runs (uvicorn's factory): settings from the environment."""
    from meshfer.process_setup import prepare_own_process

    prepare_own_process()
    return create_app(ServiceSettings.from_env())
