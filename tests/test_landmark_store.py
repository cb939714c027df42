import os

import numpy as np
import pandas as pd
import pytest

from meshfer.training.landmark_store import coverage_report, load_landmarks, run_landmark_pass
from meshfer.landmarker import DetectConfig

CONFIG = DetectConfig(num_faces=1)


@pytest.fixture(scope="module")
def manifest(mini_fer_sample, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad inputs ü")
    (folder / "text.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    paths = [str(p) for p in mini_fer_sample[:20]] + [str(folder / "text.jpg"), str(folder / "empty.png")]
    return pd.DataFrame({"path": paths, "label": "happy", "split": "test", "source": range(len(paths)),
                         "augmented": False})


@pytest.fixture(scope="module")
def reference(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    run_landmark_pass(manifest, out, CONFIG, n_jobs=1, chunk_size=8)
    return load_landmarks(out)


def test_records_faces_and_failures(reference, manifest):
    index = reference.index
    assert len(index) == len(manifest)
    assert index["found"][:20].mean() > 0.8
    assert index["error"].iloc[-2].startswith("not an image") and index["error"].iloc[-1].startswith("empty file")
    assert np.isnan(reference.points[~reference.found]).all()
    assert np.isfinite(reference.points[reference.found]).all()
    report = coverage_report(index)
    assert report["unreadable"] == 2 and report["images"] == 22
    assert report["test_coverage"] == report["coverage"] == round(index["found"].mean(), 4)


def test_resume_after_interruption_gives_identical_output(manifest, reference, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    run_landmark_pass(manifest, out, CONFIG, n_jobs=2, chunk_size=8, cache_dir=cache)
    parts = sorted(cache.glob("*/*.npz"))
    assert len(parts) == 3
    parts[1].unlink()  # as if the run had been killed before this chunk finished
    (parts[0].parent / f".deadbeef.{os.getpid()}.tmp.npz").write_bytes(b"half-written")
    run_landmark_pass(manifest, out, CONFIG, n_jobs=1, chunk_size=8, cache_dir=cache)
    resumed = load_landmarks(out)
    pd.testing.assert_frame_equal(resumed.index, reference.index)
    np.testing.assert_array_equal(resumed.points, reference.points)
    assert not list(cache.glob("*/.*.tmp.npz"))


def test_output_depends_on_the_manifest_not_on_what_the_cache_holds(manifest, tmp_path):
    """An interrupted experiment on other images (or other settings) leaves detections in the cache; a later run
    must write the same bytes as a run from an empty cache, or DVC would see a changed output."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    run_landmark_pass(manifest.iloc[:12], out, CONFIG, n_jobs=1, chunk_size=4, cache_dir=cache)
    run_landmark_pass(manifest.iloc[8:], out, DetectConfig(num_faces=1, pad_fraction=0.1), n_jobs=1,
                      cache_dir=cache)
    run_landmark_pass(manifest.iloc[4:], out, CONFIG, n_jobs=1, chunk_size=3, cache_dir=cache)
    clean = tmp_path / "clean"
    run_landmark_pass(manifest.iloc[4:], clean, CONFIG, n_jobs=1, chunk_size=8, cache_dir=tmp_path / "empty")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in clean.iterdir()) == \
        ["arrays.npz", "index.parquet"]
    for name in ("arrays.npz", "index.parquet"):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_cache_hit_does_not_rerun_detection(manifest, tmp_path, monkeypatch):
    run_landmark_pass(manifest, tmp_path / "out", CONFIG, n_jobs=1)
    import meshfer.training.landmark_store as store

    monkeypatch.setattr(store, "detect_files", lambda *a, **k: pytest.fail("detected again"))
    run_landmark_pass(manifest, tmp_path / "out", CONFIG, n_jobs=1)


def test_changed_config_detects_again(manifest, tmp_path, monkeypatch):
    small = manifest.iloc[:3]
    run_landmark_pass(small, tmp_path / "out", CONFIG, n_jobs=1)
    import meshfer.training.landmark_store as store

    calls = []
    real = store.detect_files
    monkeypatch.setattr(store, "detect_files", lambda paths, *a, **k: calls.append(len(paths)) or real(paths, *a, **k))
    run_landmark_pass(small, tmp_path / "out", DetectConfig(num_faces=1, pad_fraction=0.1), n_jobs=1)
    assert calls == [3] and len(list((tmp_path / "out_cache").iterdir())) == 2


def test_dask_backend_matches_default(manifest, reference, tmp_path):
    run_landmark_pass(manifest, tmp_path / "out", CONFIG, n_jobs=2, backend="dask", chunk_size=8)
    on_dask = load_landmarks(tmp_path / "out")
    pd.testing.assert_frame_equal(on_dask.index, reference.index)
    np.testing.assert_array_equal(on_dask.points, reference.points)


def test_killed_run_resumes_to_identical_output(manifest, reference, tmp_path):
    """A real interruption: the pass runs in a child process that is killed (SIGKILL, no clean-up) right after it
    has written its second chunk: a known point, not a moment on a timer."""
    import signal
    import subprocess
    import sys

    manifest.to_parquet(tmp_path / "manifest.parquet")
    out = tmp_path / "out"
    code = (
        "import os, signal\n"
        "import pandas as pd\n"
        "from meshfer.training import landmark_store\n"
        "from meshfer.landmarker import DetectConfig\n"
        "save, saved = landmark_store._save_part, []\n"
        "def save_then_die(*args):\n"
        "    save(*args)\n"
        "    saved.append(1)\n"
        "    if len(saved) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "landmark_store._save_part = save_then_die\n"
        f"landmark_store.run_landmark_pass(pd.read_parquet({str(tmp_path / 'manifest.parquet')!r}), {str(out)!r}, "
        "DetectConfig(num_faces=1), n_jobs=1, chunk_size=2)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert len(list(tmp_path.glob("out_cache/*/*.npz"))) == 2 and not out.exists()  # killed mid-way
    run_landmark_pass(manifest, out, CONFIG, n_jobs=1, chunk_size=2)
    resumed = load_landmarks(out)
    pd.testing.assert_frame_equal(resumed.index, reference.index)
    np.testing.assert_array_equal(resumed.points, reference.points)
