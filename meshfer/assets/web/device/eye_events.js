// Twin of meshfer/eye_events.py: blinks, winks, long closures and PERCLOS from a face's eye states over time (the
// rules are in that module's docstring and the README's "Eye events"), and LiveEyeEvents for a camera's last minute.
const CLOSED = "closed";

export const DEFAULT_RULES = Object.freeze({ min_blink_ms: 50.0, max_blink_ms: 500.0 });

const isState = (value) => typeof value === "string" && value !== "";
const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;

function frameDurationMs(times) {
  return times.length > 1 ? (times[times.length - 1] - times[0]) / (times.length - 1) : 0.0;
}

// Runs of consecutive closed frames (among the frames with a face).
function closedRuns(closed, times, endOfVideo) {
  const runs = [];
  for (let start = 0; start < closed.length; start++) {
    if (!closed[start]) continue;
    let stop = start;
    while (stop < closed.length && closed[stop]) stop++;
    const reopened = stop < closed.length;
    const end = reopened ? times[stop] : endOfVideo;
    runs.push({ start, stop, startMs: times[start], endMs: end, seenClosing: start > 0, seenOpening: reopened,
      durationMs: round(end - times[start], 3) });
    start = stop;
  }
  return runs;
}

const isBlinkLike = (run, rules) => run.seenClosing && run.seenOpening && rules.min_blink_ms <= run.durationMs &&
  run.durationMs <= rules.max_blink_ms;

/** eye_events: per frame, in time order, the timestamp and each eye's state (null where there is no face). */
export function eyeEvents(timestampsMs, leftStates, rightStates, rules = DEFAULT_RULES) {
  if (!(timestampsMs.length === leftStates.length && leftStates.length === rightStates.length)) {
    throw new Error("timestamps and eye states need one value per frame");
  }
  const frameMs = frameDurationMs(timestampsMs);
  const endMs = timestampsMs.length ? timestampsMs[timestampsMs.length - 1] + frameMs : 0.0;
  const withFace = timestampsMs.map((_, i) => isState(leftStates[i]) && isState(rightStates[i]));
  const times = timestampsMs.filter((_, i) => withFace[i]);
  const left = leftStates.filter((_, i) => withFace[i]).map((s) => s === CLOSED);
  const right = rightStates.filter((_, i) => withFace[i]).map((s) => s === CLOSED);
  const both = left.map((closed, i) => closed && right[i]);
  const bothRuns = closedRuns(both, times, endMs);
  const blinks = bothRuns.filter((run) => isBlinkLike(run, rules));
  const closures = bothRuns.filter((run) => run.durationMs > rules.max_blink_ms);
  const faceMs = times.length * frameMs;
  const winks = (eye, other) => closedRuns(eye, times, endMs).filter((run) => isBlinkLike(run, rules) &&
    !other.slice(run.start, run.stop).some(Boolean)).length;
  return {
    blinks: blinks.length,
    blinks_per_minute: faceMs > 0 ? round(blinks.length / (faceMs / 60000.0), 2) : null,
    mean_blink_ms: blinks.length ? round(blinks.reduce((s, r) => s + r.durationMs, 0) / blinks.length, 1) : null,
    longest_closure_ms: round(Math.max(0.0, ...bothRuns.map((r) => r.durationMs)), 1),
    closures: closures.map((r) => ({ start_s: round(r.startMs / 1000.0, 3), end_s: round(r.endMs / 1000.0, 3),
      duration_ms: round(r.durationMs, 1), ongoing: !r.seenOpening })),
    perclos: both.length ? round(both.filter(Boolean).length / both.length, 4) : null,
    winks_left: winks(left, right),
    winks_right: winks(right, left),
    rules: { ...rules },
  };
}

/** LiveEyeEvents: the eye events of the last ``windowS`` seconds, updated frame by frame. */
export class LiveEyeEvents {
  constructor(windowS = 60.0, rules = DEFAULT_RULES) {
    this.windowMs = windowS * 1000.0;
    this.rules = rules;
    this.frames = [];
  }

  update(timestampMs, leftState, rightState) {
    this.frames.push([timestampMs, leftState, rightState]);
    while (this.frames.length && this.frames[0][0] < timestampMs - this.windowMs) this.frames.shift();
    return eyeEvents(this.frames.map((f) => f[0]), this.frames.map((f) => f[1]), this.frames.map((f) => f[2]),
      this.rules);
  }
}
