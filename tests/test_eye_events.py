"""A video as a record of a face over time: the share of frames with a face, the person followed, and the eye
events (blinks, closures, PERCLOS, winks). The rules are checked on state sequences at several frame rates, then
end to end on clips built from labelled eye images with known events."""
import json

import numpy as np
import pytest
from PIL import Image

from meshfer.eye_events import EyeEventRules, LiveEyeEvents, eye_events
from tests.conftest import run_cli, schema_validator, write_video

OPEN, CLOSED, NONE = ("open", "open"), ("closed", "closed"), (None, None)
LEFT_WINK, RIGHT_WINK = ("closed", "open"), ("open", "closed")

# (eye states, ms) in multiples of 200 ms, so that every frame rate below has whole frames. Expected: 2 blinks (200
# and 400 ms), a 1.2 s closure, and a 600 ms closure interrupted by 200 ms without a face (one closure: frames
# without a face neither start nor end one); 2.2 s of 6 s with a face have both eyes closed.
SCHEDULE = [(OPEN, 1000), (CLOSED, 200), (OPEN, 800), (CLOSED, 400), (OPEN, 600), (NONE, 400), (OPEN, 400),
            (CLOSED, 1200), (OPEN, 600), (CLOSED, 200), (NONE, 200), (CLOSED, 200), (OPEN, 400)]
EXPECTED = {"blinks": 2, "mean_blink_ms": 300.0, "longest_closure_ms": 1200.0, "perclos": round(2200 / 6000, 4),
            "winks_left": 0, "winks_right": 0,
            "closures": [{"start_s": 3.8, "end_s": 5.0, "duration_ms": 1200.0, "ongoing": False},
                         {"start_s": 5.6, "end_s": 6.2, "duration_ms": 600.0, "ongoing": False}]}
FRAME_RATES = [15, 30, 60]


def frames_of(schedule, fps):
    states = [state for state, ms in schedule for _ in range(ms * fps // 1000)]
    times = [round(i * 1000 / fps) for i in range(len(states))]  # whole ms, as the video's timestamps come
    return times, [s[0] for s in states], [s[1] for s in states]


@pytest.mark.parametrize("fps", FRAME_RATES)
def test_events_are_exact_at_any_frame_rate(fps):
    events = eye_events(*frames_of(SCHEDULE, fps))
    assert {key: events[key] for key in EXPECTED} == EXPECTED
    assert events["blinks_per_minute"] == 20.0  # 2 blinks in 6 s with a face


def test_timestamps_count_not_frames():
    """A variable frame rate: the same 300 ms closure as 3 frames 100 ms apart or 15 frames 20 ms apart."""
    sparse = eye_events([0, 100, 200, 300, 400, 500, 600, 700], ["open"] * 2 + ["closed"] * 3 + ["open"] * 3,
                        ["open"] * 2 + ["closed"] * 3 + ["open"] * 3)
    dense_times = [0, 100] + [200 + 20 * i for i in range(15)] + [500, 600, 700]
    dense_states = ["open"] * 2 + ["closed"] * 15 + ["open"] * 3
    dense = eye_events(dense_times, dense_states, dense_states)
    assert sparse["blinks"] == dense["blinks"] == 1
    assert sparse["mean_blink_ms"] == dense["mean_blink_ms"] == 300.0


def test_blink_limits_are_rules_not_constants():
    times, left, right = frames_of([(OPEN, 600), (CLOSED, 600), (OPEN, 600)], 30)
    assert eye_events(times, left, right)["blinks"] == 0  # 600 ms: a closure by default
    long_blinks = eye_events(times, left, right, EyeEventRules(max_blink_ms=700))
    assert long_blinks["blinks"] == 1 and long_blinks["closures"] == []
    short = eye_events(*frames_of([(OPEN, 400), (CLOSED, 200), (OPEN, 400)], 15), EyeEventRules(min_blink_ms=250))
    assert short["blinks"] == 0 and short["perclos"] == 0.2  # too brief to call, still closed in PERCLOS
    with pytest.raises(ValueError, match="min"):
        EyeEventRules(min_blink_ms=600, max_blink_ms=500)


def test_winks_are_one_eye_and_a_blink_with_a_lagging_eye_is_not_one():
    schedule = [(OPEN, 400), (LEFT_WINK, 400), (OPEN, 400), (RIGHT_WINK, 200), (OPEN, 400),
                (LEFT_WINK, 200), (CLOSED, 200), (OPEN, 400),  # the left eye closes first: a blink
                (RIGHT_WINK, 1000), (OPEN, 200)]  # too long for a wink
    events = eye_events(*frames_of(schedule, 30))
    assert (events["winks_left"], events["winks_right"], events["blinks"]) == (1, 1, 1)


def test_events_cut_by_the_video_are_closures_not_blinks():
    starts_closed = eye_events(*frames_of([(CLOSED, 200), (OPEN, 1000)], 30))
    ends_closed = eye_events(*frames_of([(OPEN, 1000), (CLOSED, 800)], 30))
    assert starts_closed["blinks"] == ends_closed["blinks"] == 0
    assert starts_closed["closures"] == [] and starts_closed["longest_closure_ms"] == 200.0
    (closure,) = ends_closed["closures"]  # it ends with the video: one frame after the last, to a ms
    assert closure["ongoing"] and closure["start_s"] == 1.0 and closure["duration_ms"] == pytest.approx(800, abs=1)


def test_no_face_at_all_gives_no_events_and_no_rates():
    events = eye_events(*frames_of([(NONE, 1000)], 30))
    assert events["blinks"] == 0 and events["perclos"] is None and events["blinks_per_minute"] is None


def test_live_counts_the_last_minute_only():
    live = LiveEyeEvents(window_s=60)
    times, left, right = frames_of([(OPEN, 1000), (CLOSED, 200), (OPEN, 800)] * 40, 10)  # a blink every 2 s
    for t, a, b in zip(times, left, right):
        latest = live.update(t, a, b)
    assert latest["blinks"] == 30  # 80 s of blinks, a minute's worth counted
    assert latest["perclos"] == pytest.approx(0.1, abs=0.01)


# --- end to end: clips built from labelled eye images ---------------------------------------------------------
@pytest.fixture(scope="module")
def recognizer():
    from meshfer.recognizer import Recognizer

    with Recognizer() as rec:
        yield rec


def first_seen_as(recognizer, folder, state: str, size: int = 240) -> np.ndarray:
    """The first photo of a folder (by name) that the eye model rates ``state`` on both eyes, on a square canvas:
    the clip then tests the events, not the model's accuracy."""
    for path in sorted(folder.glob("*.jpg"))[:40]:
        frame = np.asarray(Image.open(path).convert("RGB").resize((size, size)))
        faces = recognizer.predict(frame)
        if len(faces) == 1 and faces.loc[0, "left_eye"] == faces.loc[0, "right_eye"] == state:
            return frame
    pytest.fail(f"no photo in {folder} rated {state} on both eyes")


@pytest.fixture(scope="module")
def eye_frames(recognizer, eyes_root):
    return {OPEN: first_seen_as(recognizer, eyes_root / "eye_open", "open"),
            CLOSED: first_seen_as(recognizer, eyes_root / "eye_closed", "closed"),
            NONE: np.full((240, 240, 3), 40, np.uint8)}


@pytest.mark.parametrize("fps", FRAME_RATES)
def test_built_clip_gives_the_exact_events(recognizer, eye_frames, tmp_path, fps):
    from meshfer.video import video_summary

    frames = [eye_frames[state] for state, ms in SCHEDULE for _ in range(ms * fps // 1000)]
    clip = write_video(tmp_path / f"eyes_{fps}.avi", frames, fps=fps)
    summary = video_summary(recognizer.predict_video(clip))
    assert summary["frames"] == len(frames) and summary["duration_s"] == 6.6
    assert summary["face_found_share"] == round(6000 / 6600, 4)
    assert {key: summary["eyes"][key] for key in EXPECTED} == EXPECTED


def test_cli_summary_and_terminal_give_the_events(eye_frames, tmp_path):
    frames = [eye_frames[state] for state, ms in SCHEDULE for _ in range(ms * 15 // 1000)]
    clip = write_video(tmp_path / "eyes.avi", frames, fps=15)
    code, out, err = run_cli("predict", clip, "--summary", tmp_path / "s.json", "--plot", tmp_path / "t.png",
                             "--blink-ms", "50-450")
    assert code == 0, err
    summaries = json.loads((tmp_path / "s.json").read_text())
    schema_validator("video_summary.schema.json").validate(summaries)
    eyes = summaries[str(clip)]["eyes"]
    assert eyes["blinks"] == 2 and eyes["rules"] == {"min_blink_ms": 50.0, "max_blink_ms": 450.0}
    assert f"{clip}: eyes: 2 blinks (20/min, mean 300 ms), 2 closures longer than a blink (longest 1.2 s), " \
           "PERCLOS 37%, winks 0 left / 0 right" in out
    assert Image.open(tmp_path / "t.png").size[0] > 800


# --- the share of frames with a face, and the person followed ------------------------------------------------
def test_face_share_is_frames_with_a_face_whoever_it_is(recognizer, two_faces, tmp_path):
    """One person who jumps across the frame, then leaves: the share counts frames with a face, not one track."""
    from meshfer.video import subject_rows, video_summary

    left, right = two_faces[:, :240], two_faces[:, -240:]
    canvas = np.full((240, 720, 3), 90, np.uint8)

    def at(face, x):
        frame = canvas.copy()
        frame[:, x:x + 240] = face
        return frame

    frames = [at(left, 0)] * 10 + [at(left, 480)] * 10 + [canvas] * 5 + [at(right, 240)] * 15
    table = recognizer.predict_video(write_video(tmp_path / "jump.avi", frames, fps=10))
    summary = video_summary(table)
    assert summary["face_found_share"] == round(35 / 40, 4)
    subject = subject_rows(table)
    assert len(subject) == 40 and subject["expression"].notna().sum() == 35  # followed across the jump and gap


def test_stream_carries_the_last_minutes_events(recognizer, eye_frames, tmp_path):
    frames = [eye_frames[state] for state, ms in SCHEDULE for _ in range(ms * 15 // 1000)]
    clip = write_video(tmp_path / "eyes.avi", frames, fps=15)
    events = [table.attrs["eye_events"] for table, _ in recognizer.stream(clip)]
    assert len(events) == len(frames)
    assert [events[i]["blinks"] for i in (17, 18, len(frames) - 1)] == [0, 1, 2]  # the eyes reopen in frame 18
    assert events[-1]["perclos"] == EXPECTED["perclos"]
