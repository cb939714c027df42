"""`meshfer predict --dask`: a real `dask scheduler` and two `dask worker` processes on loopback, and an S3 API on
loopback (moto's server) for fsspec URLs. The same rows as the local command; a worker killed mid-run, a client
interrupted, a task Dask gives up on: complete output in the end, every input once, nothing done twice.

Every wait is on something observable (a log line, a file, a process's exit), with a generous deadline."""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from meshfer.cli import main
from tests.conftest import PHOTOS, fer_like_crop, run_cli, schema_validator, write_video

pytest.importorskip("distributed", reason='needs meshfer[dask]: pip install "meshfer[dask]"')

DEADLINE_S = 240  # for anything to show up; a healthy run takes a few seconds
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
CSV_RTOL = 1e-5  # CSV keeps 6 significant digits (meshfer.jsonout.SIGNIFICANT_DIGITS)


# --- waiting on what can be seen -------------------------------------------------------------------------------
def wait_for(condition, what: str, process: subprocess.Popen | None = None):
    """Poll ``condition()`` until it returns something true; fail on the deadline or if ``process`` ends."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: the process ended first (exit {process.returncode})")
        time.sleep(0.05)
    pytest.fail(f"{what}: not seen within {DEADLINE_S} s")


def log_line(path: Path, text: str):
    return lambda: next((line for line in path.read_text(errors="replace").splitlines() if text in line), None)


def parts(out: Path) -> list[Path]:
    return sorted(out.glob("part-*.parquet")) if out.is_dir() else []


class Cluster:
    """`dask scheduler` and `dask worker` processes on loopback, their logs in files."""

    def __init__(self, folder: Path, env: dict):
        self.folder, self.env, self.processes = folder, env, []
        log = folder / "scheduler.log"
        self.scheduler = self._start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"], log)
        line = wait_for(log_line(log, "Scheduler at:"), "the scheduler's address", self.scheduler)
        self.address = line.split("Scheduler at:")[1].strip()
        self.workers = [self.add_worker() for _ in range(2)]

    def _start(self, args: list[str], log: Path) -> subprocess.Popen:
        process = subprocess.Popen([str(Path(sys.executable).with_name("dask")), *args], stdout=subprocess.DEVNULL,
                                   stderr=log.open("w"), env=self.env, cwd=self.folder)
        self.processes.append(process)
        return process

    def add_worker(self) -> subprocess.Popen:
        log = self.folder / f"worker{len(self.processes)}.log"
        worker = self._start(["worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                              "--host", "127.0.0.1"], log)
        wait_for(log_line(log, "Registered to:"), "a worker registered", worker)
        return worker

    def kill(self, worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
        self.workers.remove(worker)

    def allowed_failures(self, count: int) -> None:
        """How many lost workers a task survives before Dask gives up on it (KilledWorker); 3 by default."""
        from distributed import Client

        def set_on(dask_scheduler, value=count):
            dask_scheduler.allowed_failures = value

        with Client(self.address, timeout=60) as client:
            client.run_on_scheduler(set_on)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on loopback; fsspec's s3:// goes there (FSSPEC_S3_ENDPOINT_URL) in every process."""
    pytest.importorskip("moto", reason="needs moto[server] (requirements.txt)")
    pytest.importorskip("s3fs", reason="needs s3fs (requirements.txt)")
    folder = tmp_path_factory.mktemp("s3")
    port = free_port()
    log = folder / "moto.log"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(log_line(log, "Running on"), "moto's server", server)
        yield {**S3_ENV, "FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def env(s3):
    return {**os.environ, **s3, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, env):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), env)
    try:
        yield cluster
    finally:
        cluster.stop()


# --- inputs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Photos, FER-like crops, a picture without a face, a broken file and a short video."""
    folder = tmp_path_factory.mktemp("mixed")
    for path in PHOTOS:
        Image.open(path).save(folder / path.name)
        fer_like_crop(path).save(folder / f"{path.stem}_48.png")
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    frames = [np.asarray(Image.open(PHOTOS[0]).convert("RGB").resize((160, 160)))] * 4
    write_video(folder / "clip.avi", frames)
    return folder


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    """120 different one-face 48 px crops: enough tasks (of 2) to stop a run half-way."""
    folder = tmp_path_factory.mktemp("many")
    crops = [fer_like_crop(p, 64) for p in PHOTOS]
    for n in range(120):
        face = crops[n % 2].rotate(n % 13 - 6, resample=Image.BILINEAR).crop((8, 8, 56, 56))
        face.point(lambda v, k=n: min(255, v + k // 2)).save(folder / f"face_{n:03d}.png")
    return folder


def predict(*args, env, **popen):
    return subprocess.Popen([sys.executable, "-m", "meshfer.cli", "predict", *map(str, args), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **popen)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=DEADLINE_S)
    return process.returncode, out, err


def run_predict(*args, env) -> tuple[int, str, str]:
    return finish(predict(*args, env=env))


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame, key=lambda p: p) -> None:
    """Same (path, frame, face) rows, same labels and errors, numbers within 1e-6."""
    def keyed(table):
        table = table.assign(path=table["path"].map(key))
        frame = table["frame"] if "frame" in table else pd.Series(pd.NA, index=table.index)
        table = table.assign(frame=frame.astype("Int64").fillna(-1), face=table["face"].astype("Int64").fillna(-1))
        return table.set_index(["path", "frame", "face"]).sort_index()

    got, want = keyed(got), keyed(want)
    assert list(got.index) == list(want.index)
    for column in want.columns:
        if column.startswith("p_") or column.endswith(("_score", "_openness")):  # probabilities, 0 .. 1
            np.testing.assert_allclose(got[column].astype(float), want[column].astype(float), atol=1e-6, rtol=0,
                                       err_msg=column)
        elif pd.api.types.is_numeric_dtype(want[column]):  # pixels, milliseconds
            np.testing.assert_allclose(got[column].astype(float), want[column].astype(float), rtol=CSV_RTOL,
                                       err_msg=column)
        else:
            assert got[column].fillna("").tolist() == want[column].fillna("").tolist(), column


# --- fast: planning and arguments ------------------------------------------------------------------------------
def test_chunks_are_a_function_of_the_inputs_and_a_new_file_changes_one_chunk():
    from meshfer.dask_predict import Input, plan

    inputs = [Input(f"/data/img_{i:05d}.jpg", 1000 + i, str(i)) for i in range(2000)]
    tasks = plan(inputs, "settings", chunk_size=16)
    names = {t.name for t in tasks}
    assert names == {t.name for t in plan(list(inputs), "settings", chunk_size=16)}
    assert [i for t in tasks for i in t.inputs] == inputs and max(len(t.inputs) for t in tasks) <= 64
    assert 16 / 2 < len(inputs) / len(tasks) < 16 * 2
    grown = {t.name for t in plan(inputs[:1000] + [Input("/data/new.jpg", 5, "1")] + inputs[1000:], "settings", 16)}
    # the chunk it joins changes (and the next ones while a size cap shifts them): a few of 125, not half
    assert 1 <= len(names - grown) <= 3 and 1 <= len(grown - names) <= 4
    touched = {t.name for t in plan(inputs[:7] + [Input(inputs[7].path, 1, "later")] + inputs[8:], "settings", 16)}
    assert len(names - touched) == 1
    assert not names & {t.name for t in plan(inputs, "other settings", chunk_size=16)}


def test_a_video_is_one_task_of_its_own():
    from meshfer.dask_predict import Input, plan

    inputs = [Input("a.jpg", 1, "1"), Input("v.mp4", 9, "1", video=True), Input("b.jpg", 1, "1")]
    tasks = plan(inputs, "settings", chunk_size=1000)
    assert [[i.path for i in t.inputs] for t in tasks] == [["v.mp4"], ["a.jpg", "b.jpg"]]


@pytest.mark.parametrize("args, message", [
    (["--dask", "somewhere"], "expected a scheduler address such as tcp://host:8786, or local:N"),
    (["--dask", "local:0"], "local:N needs a number of workers N of 1 or more"),
    (["-o", "{tmp}/out.parquet"], "Parquet output and --resume need --dask ADDRESS"),
    (["--dask", "local:1", "--resume", "-o", "{tmp}/out.csv"], "--resume completes a Parquet dataset"),
    (["--dask", "local:1", "--annotate", "{tmp}", "-j", "2"], "--dask does not take --annotate, --jobs"),
    (["--dask", "local:1", "-o", "{tmp}/no/such/out.parquet"], "does not exist"),
])
def test_bad_dask_arguments_fail_at_once(args, message, tmp_path, face_image, capsys):
    started = time.monotonic()
    assert main(["predict", str(face_image), *(a.format(tmp=tmp_path) for a in args)]) == 2
    assert message in capsys.readouterr().err and time.monotonic() - started < 5


def test_an_output_dataset_is_not_overwritten_without_resume(tmp_path, face_image, capsys):
    out = tmp_path / "out.parquet"
    out.mkdir()
    (out / "part-0123.parquet").write_bytes(b"earlier")
    assert main(["predict", str(face_image), "--dask", "tcp://127.0.0.1:1", "-o", str(out)]) == 2
    assert "holds 1 part file(s) already: add --resume" in capsys.readouterr().err
    assert (out / "part-0123.parquet").read_bytes() == b"earlier"


# --- on a cluster ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_parquet_and_csv_rows_are_the_local_commands(cluster, mixed, env, tmp_path):
    missing = tmp_path / "missing.jpg"
    code, _, err = run_predict(mixed, missing, "--csv", "-o", tmp_path / "local.csv", env=env)
    assert code == 1, err
    local = pd.read_csv(tmp_path / "local.csv", keep_default_na=False, na_values=[""])
    out = tmp_path / "out.parquet"
    code, _, err = run_predict(mixed, missing, "--dask", cluster.address, "-o", out, "--chunk-size", "2", env=env)
    assert code == 1 and "broken.jpg: " in err and "missing.jpg: no such file or folder" in err, err
    dataset = pd.read_parquet(out)
    assert (out / "_SUCCESS").is_file() and len(parts(out)) >= 3
    assert list(dataset.columns) == ["path", "frame", "timestamp_ms", *local.columns[3:]]
    assert_same_rows(dataset, local)
    assert (dataset.loc[dataset["path"].str.endswith("clip.avi"), "frame"].notna()).all()
    validator = schema_validator("predictions_parquet.schema.json")
    for record in dataset.astype(object).where(dataset.notna(), None).to_dict(orient="records"):
        validator.validate(record)
    # CSV through the cluster: the local command's rows, in the local command's order
    code, _, err = run_predict(mixed, missing, "--dask", cluster.address, "-o", tmp_path / "dask.csv", env=env)
    assert code == 1, err
    on_dask = pd.read_csv(tmp_path / "dask.csv", keep_default_na=False, na_values=[""])
    assert list(on_dask.columns) == list(local.columns) and on_dask["path"].tolist() == local["path"].tolist()
    assert_same_rows(on_dask, local)


@pytest.mark.slow
def test_fsspec_urls_file_and_s3_give_the_same_rows(cluster, mixed, env, tmp_path):
    import s3fs

    local_out = tmp_path / "local.parquet"
    assert run_predict(mixed, "--dask", cluster.address, "-o", local_out, env=env)[0] == 1
    want = pd.read_parquet(local_out)
    name = lambda path: path.rsplit("/", 1)[-1]  # noqa: E731

    file_out = tmp_path / "file.parquet"
    code, _, err = run_predict(mixed.as_uri(), "--dask", cluster.address, "-o", file_out.as_uri(), env=env)
    assert code == 1, err
    got = pd.read_parquet(file_out)
    assert got["path"].str.startswith("file://").all()
    assert_same_rows(got, want, key=name)

    fs = s3fs.S3FileSystem(endpoint_url=env["FSSPEC_S3_ENDPOINT_URL"], key="testing", secret="testing")
    fs.mkdir("meshfer-test")
    fs.put(f"{mixed}/", "meshfer-test/in/", recursive=True)
    code, _, err = run_predict("s3://meshfer-test/in", "--dask", cluster.address, "-o",
                               "s3://meshfer-test/out.parquet", env=env)
    assert code == 1, err
    assert fs.exists("meshfer-test/out.parquet/_SUCCESS")
    with fs.open(next(p for p in fs.ls("meshfer-test/out.parquet") if p.endswith(".parquet")), "rb") as first:
        assert pd.read_parquet(first)["path"].str.startswith("s3://meshfer-test/in/").all()
    got = pd.concat(pd.read_parquet(fs.open(p, "rb")) for p in fs.ls("meshfer-test/out.parquet")
                    if Path(p).name.startswith("part-"))
    assert_same_rows(got, want, key=name)


@pytest.mark.slow
def test_an_interrupted_client_resumes_without_repeating_work(cluster, many, env, tmp_path):
    out = tmp_path / "out.parquet"
    # One image per task, interrupted at the first part: 119 tasks left, so the run cannot end before the signal
    # does, even on a loaded machine (with 2 per task and 3 parts it once did).
    client = predict(many, "--dask", cluster.address, "-o", out, "--chunk-size", "1", env=env)
    wait_for(lambda: len(parts(out)) >= 1, "a part written", client)
    client.send_signal(signal.SIGINT)
    code, _, err = finish(client)
    assert code == 130 and "interrupted" in err, err
    assert not (out / "_SUCCESS").exists()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts(out)}
    done = sum(len(pd.read_parquet(out / name)) for name in before)
    assert 0 < done < 120

    code, _, err = run_predict(many, "--dask", cluster.address, "-o", out, "--chunk-size", "1", "--resume", env=env)
    assert code == 0, err
    skipped = int(err.split(" inputs: ")[1].split(" in ")[0])
    assert skipped >= done, err  # (a task still running at the interrupt may have finished since)
    assert {name: (out / name).stat().st_ino for name in before} == {n: v[0] for n, v in before.items()}
    assert {name: (out / name).stat().st_mtime_ns for name in before} == {n: v[1] for n, v in before.items()}
    complete(out, many)


def complete(out: Path, folder: Path) -> None:
    """Every input of ``folder`` once (each has one face at most), and the completion marker."""
    dataset = pd.read_parquet(out)
    assert sorted(dataset["path"]) == sorted(str(p) for p in folder.iterdir())
    assert (out / "_SUCCESS").is_file()


@pytest.mark.slow
def test_a_task_dask_gives_up_on_is_reported_and_resume_completes_it(cluster, many, env, tmp_path):
    out = tmp_path / "out.parquet"
    cluster.allowed_failures(0)  # the first lost worker is one too many
    try:
        client = predict(many, "--dask", cluster.address, "-o", out, "--chunk-size", "2", env=env)
        wait_for(lambda: len(parts(out)) >= 3, "three parts written", client)
        cluster.kill(cluster.workers[0])
        code, _, err = finish(client)
    finally:
        cluster.allowed_failures(3)
    assert code == 3, err
    assert "(KilledWorker)" in err and "run again with --resume" in err, err
    assert not (out / "_SUCCESS").exists()
    cluster.workers.append(cluster.add_worker())
    code, _, err = run_predict(many, "--dask", cluster.address, "-o", out, "--chunk-size", "2", "--resume", env=env)
    assert code == 0, err
    complete(out, many)


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_complete_output_without_duplicates(cluster, many, env, tmp_path):
    assert len(cluster.workers) == 2
    out = tmp_path / "out.parquet"
    client = predict(many, "--dask", cluster.address, "-o", out, "--chunk-size", "2", env=env)
    wait_for(lambda: len(parts(out)) >= 3, "three parts written", client)
    cluster.kill(cluster.workers[0])
    written_when_killed = len(parts(out))
    code, _, err = finish(client)
    assert code == 0, err
    assert written_when_killed < len(parts(out))  # the run went on after the kill, on the other worker
    complete(out, many)


@pytest.mark.slow
def test_a_local_cluster_is_started_and_stopped_by_the_command(face_dir, tmp_path):
    code, out, err = run_cli("predict", face_dir, "--dask", "local:1", "--csv")
    assert code == 0, err
    on_dask = pd.read_csv(io.StringIO(out), keep_default_na=False, na_values=[""])
    _, local_out, _ = run_cli("predict", face_dir, "--csv")
    assert_same_rows(on_dask, pd.read_csv(io.StringIO(local_out), keep_default_na=False, na_values=[""]))
    assert err == ""  # no Dask log lines on the user's terminal


def test_a_local_cluster_s_workers_run_without_the_dashboard_aids():
    from meshfer.dask_predict import QUIET_WORKERS, quiet_client

    def worker_config():
        import dask

        return {key: dask.config.get(key) for key in QUIET_WORKERS}

    with quiet_client("local:1") as client:
        seen = list(client.run(worker_config).values())
    assert seen == [QUIET_WORKERS]
