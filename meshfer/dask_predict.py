"""`meshfer predict --dask`: the images and videos of many files predicted on a Dask cluster.

Each worker loads one Recognizer (a worker plugin, when it joins) and takes tasks: a chunk of images, or one video
(never split: face numbers, smoothing and eye events depend on earlier frames). With ``-o OUT.parquet`` every task
writes its rows as one Parquet file of the dataset OUT (columns: meshfer/schemas/predictions_parquet.schema.json),
named from its inputs (path, size, modification time) and the settings, written under a temporary name and then
renamed: a task that Dask runs again (its worker was lost) replaces its file instead of adding a copy. ``_SUCCESS``
is written when every input is in. Chunks end where a path's hash says (content-defined), so a file added to or
removed from the inputs changes only its own chunk; ``--resume`` skips every chunk whose file is in OUT already,
and at the end files of chunks that are no longer asked for (inputs changed or gone, other settings) are removed.

When Dask gives up on a task (``KilledWorker``: its workers died ``distributed.scheduler.allowed-failures`` + 1
times, e.g. a file that crashes the native code), the other tasks go on; the client names the chunk's files, writes
no ``_SUCCESS`` and exits with EXIT_INCOMPLETE: ``--resume`` later runs only what is missing.

Inputs are paths on a file system every worker sees, or fsspec URLs (``file://``, and ``s3://`` with s3fs, tested
against an S3 API on loopback; any filesystem fsspec has installed should do). Needs the ``[dask]`` extra.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np
import pandas as pd
from distributed import KilledWorker, WorkerPlugin, as_completed, get_worker

import meshfer
from meshfer.dask_cluster import dask_client
from meshfer.imageio import ImageReadError, decode_image, is_image_path, is_video_path
from meshfer.predict_inputs import gather_inputs, in_input_order, video_table
from meshfer.recognizer import Recognizer
from meshfer.result_table import (
    INTEGER_COLUMNS, VIDEO_COLUMNS, column_kind, result_columns, table_from_parts, unreadable_rows,
)

log = logging.getLogger(__name__)

PART_PREFIX, PART_SUFFIX = "part-", ".parquet"
SUCCESS_FILE = "_SUCCESS"  # written last: the dataset is complete
INPUTS_KEY = b"meshfer.inputs"  # each part's Parquet metadata: its inputs as [path, size, mtime]
CHUNK_SIZE = 32  # images per task on average (at most MAX_CHUNKS_FACTOR times as many)
MAX_CHUNK_FACTOR = 4
IN_FLIGHT_PER_THREAD = 4  # tasks submitted ahead per worker thread: the client's memory stays flat
# Dask's dashboard aids that a predicting cluster does without: the statistical profiler that samples the running
# task's stack every 10 ms, the event loop's 20 ms tick watch, the half-second system monitor. Off for the cluster
# `local:N` starts (its scheduler and nannies run here, its workers get this config): about 3 % less CPU per image
# (bench/results/batch.json "worker_config"), which the 2-core bench needs to keep --dask within 0.9x of -j 2.
# Workers started with `dask worker` take the same settings from their environment (docs/cluster.md).
QUIET_WORKERS = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                 "distributed.admin.system-monitor.interval": "5s"}


@dataclass(frozen=True)
class Input:
    """A file to predict on: its path as the output's ``path`` column says it, and what tells whether it changed."""

    path: str
    size: int
    mtime: str  # as the file system reports it: ns since the epoch for local files, a date for S3
    video: bool = False

    @property
    def line(self) -> str:
        return f"{self.path}\t{self.size}\t{self.mtime}"


@dataclass(frozen=True)
class Task:
    """Inputs predicted together, and the name of the part file they give (a function of inputs and settings)."""

    inputs: tuple[Input, ...]
    name: str


@dataclass
class Outcome:
    """What a run did, for the command line to report."""

    inputs: int
    skipped: int  # inputs whose part was in OUT already (--resume)
    tasks: int
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, why it could not be read)
    lost: list[Task] = field(default_factory=list)  # tasks Dask gave up on (KilledWorker)
    table: pd.DataFrame | None = None  # the rows, when they come back to the client (CSV, JSON, table)


# --- the inputs ------------------------------------------------------------------------------------------------
def is_url(path: str) -> bool:
    return "://" in path


def gather(given_paths: list[str], say: Callable[[str], None]) -> tuple[list[Input], list[tuple[str, str]]]:
    """The inputs, in the order `meshfer predict` takes them, and (input, why it gives nothing) for the rest."""
    inputs, problems = [], []
    for given in given_paths:
        if is_url(given):
            found, problem = _url_inputs(given)
        else:
            images, videos, problem_list = gather_inputs([given], say)
            found, problem = _local_inputs(images, videos), (problem_list[0] if problem_list else None)
        inputs += found
        if problem:
            problems.append(problem)
    return list(dict.fromkeys(inputs)), problems


def _local_inputs(images: list[Path], videos: list[Path]) -> list[Input]:
    found = []
    for path, video in itertools.chain(((p, False) for p in images), ((p, True) for p in videos)):
        try:
            stat = path.stat()
        except OSError:  # gone since the folder was listed: the worker's read says so in its row
            found.append(Input(str(path), -1, "", video))
            continue
        found.append(Input(str(path), stat.st_size, str(stat.st_mtime_ns), video))
    return found


def _url_inputs(url: str) -> tuple[list[Input], tuple[str, str] | None]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:  # no package for the protocol, or a malformed URL
        raise ValueError(f"{url}: {err}") from None
    if not fs.exists(root):
        return [], (url, "no such file or folder")
    if fs.isdir(root):
        listing = fs.find(root, detail=True)
        infos = [listing[p] for p in sorted(listing) if is_image_path(p) or is_video_path(p)]
        if not infos:
            return [], (url, "no images or videos in this folder")
    else:
        infos = [fs.info(root)]
    return [Input(fs.unstrip_protocol(info["name"]), int(info.get("size") or 0), _stamp(info),
                  is_video_path(info["name"])) for info in infos], None


def _stamp(info: dict) -> str:
    """The modification time an fsspec listing gives, whatever the file system calls it."""
    for key in ("mtime", "LastModified", "last_modified", "modified", "ETag"):
        if info.get(key) is not None:
            return str(info[key])
    return ""


# --- the tasks -------------------------------------------------------------------------------------------------
def settings_key(settings: dict, smoothing: int) -> str:
    """What the rows depend on besides the inputs: a change gives every part another name."""
    text = json.dumps({**settings, "smoothing": smoothing, "meshfer": meshfer.__version__}, sort_keys=True,
                      default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def plan(inputs: list[Input], key: str, chunk_size: int = CHUNK_SIZE) -> list[Task]:
    """Tasks: each video alone; images in chunks that end after a path whose hash is 0 modulo ``chunk_size``
    (or at ``MAX_CHUNK_FACTOR`` times that), so that the chunks do not shift when a file comes or goes."""
    tasks, chunk = [], []
    for item in inputs:
        if item.video:
            tasks.append(_task([item], key))
            continue
        chunk.append(item)
        if _ends_chunk(item.path, chunk_size) or len(chunk) >= MAX_CHUNK_FACTOR * chunk_size:
            tasks.append(_task(chunk, key))
            chunk = []
    if chunk:
        tasks.append(_task(chunk, key))
    return tasks


def _ends_chunk(path: str, chunk_size: int) -> bool:
    return int(hashlib.sha1(path.encode()).hexdigest()[:8], 16) % chunk_size == 0


def _task(items: list[Input], key: str, kind: str = "") -> Task:
    digest = hashlib.sha1("\n".join([key, kind, *(item.line for item in items)]).encode()).hexdigest()[:24]
    return Task(tuple(items), f"{PART_PREFIX}{digest}{PART_SUFFIX}")


# --- on a worker -----------------------------------------------------------------------------------------------
class RecognizerPlugin(WorkerPlugin):
    """One Recognizer per worker, loaded when the worker joins (or the plugin is registered), for every task."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.recognizer: Recognizer | None = None

    def setup(self, worker) -> None:
        self.recognizer = Recognizer(**self.settings)

    def teardown(self, worker) -> None:
        if self.recognizer is not None:
            self.recognizer.close()


def output_columns(eyes: bool) -> list[str]:
    """A dataset's columns: the same for images and videos (frame and timestamp_ms are null for an image)."""
    return ["path", *VIDEO_COLUMNS, *result_columns(eyes), "error"]


def run_task(task: Task, plugin: str, smoothing: int, columns: list[str], out: str | None):
    """On a worker: the task's rows, written as its part of ``out``, or returned when ``out`` is None. Returns
    the (path, error) of files that could not be read."""
    recognizer = get_worker().plugins[plugin].recognizer
    table = task_table(recognizer, task, smoothing, columns)
    if out is None:
        return table
    write_part(out, task, table)
    return unreadable(table)


def task_table(recognizer: Recognizer, task: Task, smoothing: int, columns: list[str]) -> pd.DataFrame:
    images = [item for item in task.inputs if not item.video]
    tables = [table_from_parts([recognizer.image_columns(item.path, False, _source(recognizer, item.path))
                                for item in images], columns)] if images else []
    tables += [_video_rows(recognizer, item.path, smoothing) for item in task.inputs if item.video]
    return conform(pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(), columns)


def conform(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``table`` with exactly ``columns``, typed as every part of a dataset has them."""
    table = table.reindex(columns=columns)
    for name in columns:
        if name in INTEGER_COLUMNS:
            table[name] = table[name].astype("Int64")
        elif column_kind(name) is float:
            table[name] = table[name].astype(float)
    table["error"] = table["error"].fillna("")
    return table


def unreadable(table: pd.DataFrame) -> list[tuple[str, str]]:
    rows = unreadable_rows(table)
    return list(zip(rows["path"], rows["error"]))


def _source(recognizer: Recognizer, path: str) -> str | Callable[[], np.ndarray] | None:
    """What to decode for an image given by URL (None: a local path, read as `meshfer predict` reads it)."""
    if not is_url(path):
        return None
    import fsspec

    fs, inner = fsspec.core.url_to_fs(path)
    if "file" in fs.protocol:  # a local file: read like one (a FIFO is refused, not opened)
        return inner

    def read():
        try:
            data = fs.cat_file(inner)
        except FileNotFoundError:
            raise ImageReadError(path, "no such file") from None
        except OSError as err:
            raise ImageReadError(path, f"cannot be read ({err})") from None
        return decode_image(data, path, recognizer.max_pixels)

    return read


def _video_rows(recognizer: Recognizer, path: str, smoothing: int) -> pd.DataFrame:
    try:
        with _local_copy(path) as local:
            return video_table(recognizer, local, path, smoothing, progress=False)
    except OSError as err:  # a URL that could not be fetched
        return pd.DataFrame({"path": [path], "error": [f"cannot be read ({err})"]})


@contextlib.contextmanager
def _local_copy(path: str):
    """A local file with the video's bytes: the path itself, or a temporary copy of a remote file (OpenCV reads
    local files only)."""
    if not is_url(path):
        yield Path(path)
        return
    import fsspec

    fs, inner = fsspec.core.url_to_fs(path)
    if "file" in fs.protocol:
        yield Path(inner)
        return
    with tempfile.TemporaryDirectory(prefix="meshfer-video-") as folder:
        local = Path(folder) / Path(inner).name
        fs.get_file(inner, str(local))
        yield local


# --- the dataset -----------------------------------------------------------------------------------------------
def write_part(out: str, task: Task, table: pd.DataFrame) -> None:
    """``table`` as the part file of ``task`` in the dataset ``out``, under a temporary name first (a name
    starting with '.', which readers skip), then renamed."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(out)
    arrow = pa.Table.from_pandas(table, schema=arrow_schema(list(table.columns)), preserve_index=False)
    inputs = json.dumps([[item.path, item.size, item.mtime] for item in task.inputs]).encode()
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), INPUTS_KEY: inputs})
    temporary = f"{root}/.{task.name}.{uuid.uuid4().hex}.tmp"
    with fs.open(temporary, "wb") as file:
        pq.write_table(arrow, file)
    fs.mv(temporary, f"{root}/{task.name}")


def arrow_schema(columns: list[str]):
    import pyarrow as pa

    def kind(name: str):
        if name in INTEGER_COLUMNS:
            return pa.int64()
        return pa.float64() if column_kind(name) is float else pa.string()

    return pa.schema([(name, kind(name)) for name in columns])


class Dataset:
    """The Parquet dataset OUT on its file system: which parts it has, and its completion marker."""

    def __init__(self, out: str):
        import fsspec

        self.fs, self.root = fsspec.core.url_to_fs(out)

    def open(self, resume: bool) -> set[str]:
        """Get ready to write; the names of the parts present. Without ``resume``, OUT must not hold parts."""
        if self.fs.exists(self.root) and not self.fs.isdir(self.root):
            raise ValueError(f"{self.root}: is a file; a Parquet dataset is a folder")
        self.fs.makedirs(self.root, exist_ok=True)
        parts = self.parts()
        if parts and not resume:
            raise ValueError(f"{self.root} holds {len(parts)} part file(s) already: add --resume to complete it, or "
                             "remove it to start again")
        if self.fs.exists(self._path(SUCCESS_FILE)):
            self.fs.rm(self._path(SUCCESS_FILE))
        return parts

    def names(self) -> list[str]:
        """The file names in OUT as they are now (an object store's listing is not taken from a cache)."""
        self.fs.invalidate_cache(self.root)
        try:
            return [Path(p).name for p in self.fs.ls(self.root, detail=False)]
        except FileNotFoundError:  # an object store's empty "folder"
            return []

    def parts(self) -> set[str]:
        return {n for n in self.names() if n.startswith(PART_PREFIX) and n.endswith(PART_SUFFIX)}

    def finish(self, wanted: set[str], summary: dict) -> None:
        """Remove the parts not asked for this time and temporary files left by lost workers; mark complete."""
        for name in self.parts() - wanted:
            self.fs.rm(self._path(name))
        for name in self.names():
            if name.startswith(f".{PART_PREFIX}"):
                self.fs.rm(self._path(name))
        with self.fs.open(self._path(SUCCESS_FILE), "w") as file:
            file.write(json.dumps(summary) + "\n")

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"


# --- the client ------------------------------------------------------------------------------------------------
def predict_on_dask(address: str, given_paths: list[str], settings: dict, smoothing: int, output: str | None,
                    resume: bool = False, chunk_size: int = CHUNK_SIZE, progress: bool | None = None,
                    say: Callable[[str], None] = log.info) -> Outcome:
    """Predict on every input on the cluster at ``address``; ``output`` a Parquet dataset to write (None: the
    rows come back in ``Outcome.table``, in the inputs' order as `meshfer predict` gives them)."""
    from tqdm.auto import tqdm

    from meshfer.recognizer import _no_bar

    inputs, problems = gather(given_paths, say)
    key = settings_key(settings, smoothing)
    tasks = plan(inputs, key, chunk_size)
    columns = output_columns(settings.get("eyes", True))
    problem_task = _task([Input(path, -1, "") for path, _ in problems], key, kind="problems")
    problem_rows = conform(pd.DataFrame(problems, columns=["path", "error"]), columns)
    dataset = Dataset(output) if output else None
    present = dataset.open(resume) if dataset else set()
    todo = [task for task in tasks if task.name not in present]
    outcome = Outcome(len(inputs), sum(len(t.inputs) for t in tasks if t.name in present), len(todo))
    if dataset is not None:
        say(f"{outcome.inputs} inputs: {outcome.skipped} in {output} already, {outcome.inputs - outcome.skipped} "
            f"to predict in {len(todo)} tasks")
    tables: dict[int, pd.DataFrame] = {}
    if todo:
        with tqdm(total=len(inputs), initial=outcome.skipped, desc="files", unit="file",
                  disable=_no_bar(progress, len(inputs))) as bar:
            for index, task, result in _on_cluster(address, todo, settings, key, smoothing, columns, output):
                bar.update(len(task.inputs))
                if isinstance(result, KilledWorker):
                    outcome.lost.append(task)
                elif output is None:
                    tables[index] = result
                    outcome.failures += unreadable(result)
                else:
                    outcome.failures += result
    outcome.failures += problems
    if dataset is not None:
        if not problem_rows.empty:
            write_part(output, problem_task, problem_rows)
        if not outcome.lost:
            dataset.finish({t.name for t in tasks} | {problem_task.name},
                           {"inputs": len(inputs), "tasks": len(tasks), "settings": key})
    else:
        outcome.table = _in_order([tables[i] for i in sorted(tables)] + [problem_rows], inputs, given_paths)
    return outcome


@contextlib.contextmanager
def quiet_client(address: str):
    """A client for ``address`` (meshfer.dask_cluster.dask_client) whose ``local:N`` workers run QUIET_WORKERS."""
    with dask.config.set(QUIET_WORKERS), dask_client(address) as client:
        yield client


def _on_cluster(address: str, tasks: list[Task], settings: dict, key: str, *args):
    """(index, task, result or KilledWorker) as the cluster finishes the tasks, each worker with a Recognizer."""
    with quiet_client(address) as client:
        plugin = f"meshfer-recognizer-{key}"
        client.register_plugin(RecognizerPlugin(settings), name=plugin)
        window = max(16, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
        yield from _run(client, tasks, window, plugin, *args)
        with contextlib.suppress(Exception):  # a worker gone meanwhile must not fail a finished run
            client.unregister_worker_plugin(plugin)


def _run(client, tasks: list[Task], window: int, plugin: str, *args) -> Iterable[tuple[int, Task, object]]:
    """(index, task, result or KilledWorker) as tasks finish, with at most ``window`` submitted ahead. On an
    interrupt the tasks not finished are cancelled (a running one still ends and writes its part: it is the
    same file a later run would write)."""
    pending = iter(enumerate(tasks))
    running = as_completed()
    outstanding = {}  # future key -> (index, task, future)

    def submit(count: int) -> None:
        for index, task in itertools.islice(pending, count):
            future = client.submit(run_task, task, plugin, *args, key=f"meshfer-predict-{uuid.uuid4().hex}")
            outstanding[future.key] = (index, task, future)
            running.add(future)

    submit(window)
    try:
        for future in running:
            index, task, _ = outstanding.pop(future.key)
            try:
                result = future.result()
            except KilledWorker as err:
                result = err
            future.release()
            yield index, task, result
            submit(1)
    finally:
        if outstanding:
            client.cancel([future for _, _, future in outstanding.values()])


def _in_order(tables: list[pd.DataFrame], inputs: list[Input], given_paths: list[str]) -> pd.DataFrame:
    """The rows as `meshfer predict` orders them (inputs in the order gathered, then those that gave nothing), without
    the video columns when no row has a frame."""
    table = pd.concat([t for t in tables if not t.empty] or tables[-1:], ignore_index=True)
    position = {item.path: i for i, item in enumerate(inputs)}
    table = table.iloc[table["path"].map(lambda p: position.get(p, len(position))).argsort(kind="stable")]
    if table["frame"].isna().all():
        table = table.drop(columns=VIDEO_COLUMNS)
    return in_input_order(table, given_paths)
