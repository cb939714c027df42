// The page of `meshfer serve`: a photo (file, drop, paste) -> POST /v1/predict, or the camera -> WS /v1/stream.
// No framework and nothing fetched from elsewhere: standard DOM, fetch, WebSocket, canvas and getUserMedia only.
// Device mode (?mode=device, and the only mode of a `meshfer web export` site) runs MediaPipe and the models in the
// browser instead (device/page.js, loaded on demand): no picture or frame leaves it, nothing is asked of /v1/.
"use strict";

(() => {
  // The CLI's timeline plot uses matplotlib's tab10 in this order; the page keeps the same colour per expression.
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf"];
  const FACE_COLOURS = ["#00c2ff", "#ffd21f", "#7dff4d", "#ff5ad7", "#ff8a3d", "#b18cff"];
  const EYE_LINES = { left: { colour: "#222222", dash: [] }, right: { colour: "#0a7f6f", dash: [6, 4] } };
  const TIMELINE_SECONDS = 30;
  const MAX_FRAME_WIDTH = 640; // frames sent to the server are downscaled to this width at most
  const MAX_STILL_SIDE = 1600; // a photo is drawn at most this large (CSS scales it to the page)...
  const MIN_STILL_SIDE = 480; // ...and a small one (a 48 px crop) enlarged to this
  const TOKEN_KEY = "meshfer-token";
  const SCRIPT_URL = document.currentScript.src;
  const STATIC_SITE = document.documentElement.dataset.site === "static"; // an export: no server behind it
  const BUSY_RETRIES = 3; // a 503 (server busy) is retried after its Retry-After this many times, then shown

  const $ = (id) => document.getElementById(id);
  const el = {
    file: $("file"), camera: $("camera"), approach: $("approach"), mirror: $("mirror"), tokenForm: $("token-form"),
    token: $("token"), message: $("message"), drop: $("drop"), view: $("view"), hint: $("hint"), stats: $("stats"),
    fps: $("fps"), serverMs: $("server-ms"), rttMs: $("rtt-ms"), dropped: $("dropped"), latest: $("latest"),
    faces: $("faces"), timelineBox: $("timeline-box"), timeline: $("timeline"), legend: $("legend"), video: $("video"),
    mode: $("mode"), msWhere: $("ms-where"), eyeEvents: $("eye-events"), apiLinks: $("api-links"),
  };

  const state = {
    token: readToken(),
    models: null,
    expressions: ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"],
    results: 0, // results shown: upload answers and stream messages with a faces list
    upload: 0, // the newest upload's number; older answers are ignored
    lastFile: null,
    still: null, // {picture, result} of the photo shown
    cam: null, // the camera session while it runs
    mode: chooseMode(),
    device: null, // device mode: the promise of device/page.js
  };

  // --- small helpers -------------------------------------------------------------------------------------------------
  function chooseMode() {
    const asked = new URLSearchParams(location.search).get("mode");
    return STATIC_SITE || asked === "device" ? "device" : "server";
  }

  function device() {
    if (!state.device) state.device = import(new URL("device/page.js", SCRIPT_URL).href);
    return state.device;
  }

  function readToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
  }

  function saveToken(token) {
    state.token = token;
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode: memory only */ }
  }

  function setMessage(text, kind = "") {
    el.message.textContent = text;
    el.message.className = "message" + (kind ? " " + kind : "");
  }

  function pct(p) {
    return p == null || Number.isNaN(p) ? "–" : (100 * p).toFixed(1) + " %";
  }

  function colourOf(expression) {
    const i = state.expressions.indexOf(expression);
    return TAB10[(i < 0 ? 7 : i) % TAB10.length];
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function authHeaders() {
    return state.token ? { Authorization: "Bearer " + state.token } : {};
  }

  function queryParams(extra = {}) {
    const q = new URLSearchParams({ eyes: "true" });
    if (el.approach.value && !el.approach.disabled) q.set("approach", el.approach.value);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return q.toString();
  }

  class ApiFailure extends Error {
    constructor(message, status, retryAfter = 1) { super(message); this.status = status; this.retryAfter = retryAfter; }
  }

  const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    } catch (err) {
      throw new ApiFailure("the server cannot be reached (" + err.message + ")", 0);
    }
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      const wait = Number(response.headers.get("Retry-After"));
      throw new ApiFailure((body && body.error) || `HTTP ${response.status} ${response.statusText}`, response.status,
        Number.isFinite(wait) && wait > 0 ? Math.min(wait, 10) : 1);
    }
    return body;
  }

  // --- the token -----------------------------------------------------------------------------------------------------
  function askToken(reason) {
    el.tokenForm.hidden = false;
    setMessage(reason, "error");
    el.token.focus();
  }

  el.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    saveToken(el.token.value.trim());
    el.token.value = "";
    el.tokenForm.hidden = true;
    setMessage("checking the token…", "busy");
    loadModels();
  });

  // --- the models ----------------------------------------------------------------------------------------------------
  async function loadModels() {
    let models;
    try {
      models = state.mode === "device" ? await (await device()).models() : await api("/v1/models");
    } catch (err) {
      if (err.status === 401) {
        askToken(state.token ? "The token was not accepted; enter it again." : "This server needs a token.");
      } else if (err.status === 503 || err.status === 0) {
        setMessage(err.message + "; trying again…", "busy");
        setTimeout(loadModels, 1500);
      } else {
        setMessage("Could not list the models: " + err.message, "error");
      }
      return;
    }
    state.models = models;
    if (Array.isArray(models.expressions) && models.expressions.length) state.expressions = models.expressions;
    const select = el.approach;
    select.replaceChildren();
    for (const approach of models.approaches || []) {
      const val = approach.metrics && approach.metrics.val;
      const option = make("option", null,
        approach.name + (val != null ? ` · val ${(100 * val).toFixed(1)} %` : "") +
        (approach.name === models.default ? " (default)" : ""));
      option.value = approach.name;
      option.selected = approach.name === models.default;
      if (approach.metrics) {
        option.title = Object.entries(approach.metrics).map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join(", ");
      }
      select.append(option);
    }
    select.disabled = select.options.length === 0;
    if (state.mode === "device") {
      (await device()).recognizer(select.value).catch((err) => setMessage(err.message, "error"));
    }
    buildLegend();
    if (el.message.classList.contains("busy") || el.message.classList.contains("error")) setMessage("");
  }

  el.approach.addEventListener("change", () => {
    if (state.cam && state.cam.running) openStream(state.cam);
    else if (state.lastFile) analyseFile(state.lastFile);
  });

  // --- results shown: the test hook and the face cards ---------------------------------------------------------------
  function noteResult(faces, ms) {
    state.results += 1;
    el.latest.dataset.faces = JSON.stringify(faces);
    el.latest.dataset.ms = ms == null ? "" : String(ms);
    const first = faces.length ? faces[0] : null;
    el.latest.dataset.expression = first ? first.expression || "" : "";
    el.latest.dataset.results = String(state.results);
    el.latest.textContent = first
      ? `${faces.length} face${faces.length > 1 ? "s" : ""}; face 0: ${first.expression || "?"}`
      : "No face found.";
  }

  // A failed upload or frame: the error takes the results' place, so no earlier answer is read as this one's.
  function showFailure(text) {
    setMessage(text, "error");
    el.faces.replaceChildren(make("p", "failed", text));
    el.latest.dataset.expression = "";
    el.latest.textContent = "No result: " + text;
  }

  function showFaces(faces) {
    const cards = faces.map((face, i) => faceCard(face, i));
    if (!faces.length) cards.push(make("p", "none", "No face found in this picture."));
    el.faces.replaceChildren(...cards);
  }

  function faceCard(face, i) {
    const card = make("article", "face");
    card.style.setProperty("--face", FACE_COLOURS[i % FACE_COLOURS.length]);
    const title = make("h3");
    title.append(make("span", "num", String(i)), make("span", "expr", face.expression || "unclassified"),
      make("span", "score", pct(face.expression_score)));
    card.append(title);

    const bars = make("ul", "bars");
    for (const name of state.expressions) {
      const p = face["p_" + name];
      const row = make("li", name === face.expression ? "top" : "");
      const track = make("span", "track");
      const fill = make("span", "fill");
      fill.style.width = `${Math.max(0, Math.min(1, p || 0)) * 100}%`;
      fill.style.background = colourOf(name);
      track.append(fill);
      row.append(make("span", "name", name), track, make("span", "pct", pct(p)));
      bars.append(row);
    }
    card.append(bars);

    if (face.left_eye !== undefined || face.right_eye !== undefined) {
      const eyes = make("ul", "eyes");
      for (const side of ["left", "right"]) {
        const openness = face[side + "_eye_openness"];
        const row = make("li");
        const meter = make("span", "track eye-track");
        const fill = make("span", "fill");
        fill.style.width = `${Math.max(0, Math.min(1, openness || 0)) * 100}%`;
        meter.append(fill);
        const text = (face[side + "_eye"] || "–") + (openness == null ? "" : ` · ${openness.toFixed(2)}`);
        row.append(make("span", "name", side + " eye"), meter, make("span", "state", text));
        eyes.append(row);
      }
      card.append(eyes, make("p", "note", "left / right: the person's own eyes; openness 0 closed … 1 wide"));
    }
    return card;
  }

  // Boxes, numbers and labels over a picture; sx, sy map the analysed image's pixels to the canvas.
  function drawFaces(ctx, faces, sx, sy, mirrored) {
    const w = ctx.canvas.width;
    const h = ctx.canvas.height;
    // canvas pixels per CSS pixel: labels stay readable however small the canvas is shown (a phone)
    const css = ctx.canvas.clientWidth ? w / ctx.canvas.clientWidth : 1;
    const line = Math.max(2 * css, Math.round(Math.min(w, h) / 220));
    const size = Math.round(Math.max(14 * css, Math.min(w, h) / 28));
    ctx.save();
    ctx.lineWidth = line;
    ctx.font = `600 ${size}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    faces.forEach((face, i) => {
      if (face.x_min == null || face.y_min == null) return;
      let x0 = face.x_min * sx;
      let x1 = face.x_max * sx;
      if (mirrored) [x0, x1] = [w - x1, w - x0];
      const y0 = face.y_min * sy;
      const y1 = face.y_max * sy;
      const colour = FACE_COLOURS[i % FACE_COLOURS.length];
      ctx.strokeStyle = "rgba(0,0,0,0.55)";
      ctx.strokeRect(x0 - line / 2, y0 - line / 2, x1 - x0 + line, y1 - y0 + line);
      ctx.strokeStyle = colour;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      const label = `${i} ${face.expression || "?"} ${face.expression_score == null ? ""
        : Math.round(100 * face.expression_score) + "%"}`.trim();
      const pad = Math.round(size * 0.3);
      const boxW = ctx.measureText(label).width + 2 * pad;
      const boxH = size + 2 * pad;
      const lx = Math.max(0, Math.min(w - boxW, x0 - line / 2));
      const ly = y0 - boxH - line >= 0 ? y0 - boxH - line / 2 : Math.min(h - boxH, y1 + line / 2);
      ctx.fillStyle = colour;
      ctx.fillRect(lx, ly, boxW, boxH);
      ctx.fillStyle = "#111";
      ctx.fillText(label, lx + pad, ly + boxH / 2);
    });
    ctx.restore();
  }

  // --- a photo -------------------------------------------------------------------------------------------------------
  function loadPicture(file) {
    return new Promise((resolve) => {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = () => { URL.revokeObjectURL(url); resolve(null); };
      img.src = url;
    });
  }

  async function analyseFile(file) {
    if (!file) return;
    const upload = ++state.upload; // from here on, an older upload's answer is not shown
    stopCamera();
    const refused = refusedHere(file);
    if (refused) {
      clearPicture();
      showFailure(refused);
      return;
    }
    state.lastFile = file;
    setMessage(`Analysing ${file.name || "the picture"}…`, "busy");
    const picturePromise = loadPicture(file);
    let result = null;
    let failure = null;
    for (let attempt = 0; ; attempt += 1) {
      try {
        result = state.mode === "device" ? await analyseHere(file) : await api("/v1/predict?" + queryParams(), {
          method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
        });
        failure = null;
        break;
      } catch (err) {
        failure = err;
      }
      if (failure.status !== 503 || attempt >= BUSY_RETRIES || upload !== state.upload) break;
      setMessage(`${failure.message}; trying again in ${failure.retryAfter} s (${attempt + 1} of ${BUSY_RETRIES})…`,
        "busy");
      await sleep(failure.retryAfter);
    }
    const picture = await picturePromise;
    if (upload !== state.upload) return; // a newer photo was chosen meanwhile
    el.timelineBox.hidden = true;
    el.stats.hidden = true;
    if (failure) {
      state.still = picture ? { picture, result: null } : null;
      if (picture) drawStill();
      else clearPicture();
      showFailure(`${file.name || "picture"}: ${failure.message}`);
      if (failure.status === 401) askToken("This server needs a token: " + failure.message);
      return;
    }
    state.still = { picture, result };
    drawStill();
    showFaces(result.faces);
    noteResult(result.faces, result.ms);
    const n = result.faces.length;
    setMessage(`${file.name || "picture"}: ${n} face${n === 1 ? "" : "s"} · ${result.approach} · ` +
      `${Math.round(result.ms)} ms` + (picture ? "" : " (this browser cannot display the format)"));
  }

  async function analyseHere(file) {
    const here = await device();
    const result = await here.analyse(await here.decode(file, state.models.max_pixels), el.approach.value);
    return { approach: el.approach.value, ...result };
  }

  // Why this file is not even sent (not an image, over the server's upload limit), or "".
  function refusedHere(file) {
    if (file.type && !file.type.startsWith("image/")) return `${file.name} is not an image (${file.type}).`;
    const limit = state.models && state.models.max_upload_bytes;
    if (limit && file.size > limit) {
      return `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MiB; this server takes up to ` +
        `${(limit / 2 ** 20).toFixed(0)} MiB.`;
    }
    return "";
  }

  // No picture: the stage back to its hint, so no earlier photo stands beside a new error.
  function clearPicture() {
    state.still = null;
    const ctx = el.view.getContext("2d");
    ctx.clearRect(0, 0, el.view.width, el.view.height);
    el.view.dataset.drawn = "";
    el.view.dataset.faces = "0";
    el.drop.classList.add("empty");
  }

  function drawStill() {
    const { picture, result } = state.still;
    const width = result ? result.width : picture.naturalWidth;
    const height = result ? result.height : picture.naturalHeight;
    const side = Math.max(width, height);
    const scale = side > MAX_STILL_SIDE ? MAX_STILL_SIDE / side : side < MIN_STILL_SIDE ? MIN_STILL_SIDE / side : 1;
    const canvas = el.view;
    el.drop.classList.remove("empty"); // shown first, so drawFaces knows the size it is displayed at
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ddd";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (picture) ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
    if (result) drawFaces(ctx, result.faces, canvas.width / width, canvas.height / height, false);
    canvas.dataset.drawn = "photo";
    canvas.dataset.faces = String(result ? result.faces.length : 0);
  }

  el.file.addEventListener("change", () => {
    if (el.file.files.length) analyseFile(el.file.files[0]);
    el.file.value = ""; // choosing the same file again still fires "change"
  });

  document.addEventListener("paste", (event) => {
    const items = event.clipboardData ? Array.from(event.clipboardData.items) : [];
    const item = items.find((it) => it.kind === "file" && it.type.startsWith("image/"));
    if (!item) return;
    event.preventDefault();
    analyseFile(item.getAsFile());
  });

  let dragDepth = 0;
  document.addEventListener("dragenter", (event) => {
    event.preventDefault();
    dragDepth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    dragDepth = 0;
    document.body.classList.remove("dragging");
    const files = event.dataTransfer ? Array.from(event.dataTransfer.files) : [];
    const file = files.find((f) => f.type.startsWith("image/")) || files[0];
    if (file) analyseFile(file);
    else setMessage("Drop an image file (from your files, not a link).", "error");
  });

  // --- the camera ----------------------------------------------------------------------------------------------------
  el.camera.addEventListener("click", () => {
    if (state.cam) stopCamera();
    else startCamera();
  });

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setMessage("This browser gives no camera access here (it needs https, or http on localhost).", "error");
      return;
    }
    el.camera.disabled = true;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false,
      });
    } catch (err) {
      el.camera.disabled = false;
      const why = err && err.name === "NotAllowedError" ? "permission denied"
        : err && err.name === "NotFoundError" ? "no camera found" : (err && err.message) || String(err);
      setMessage("Camera: " + why + ".", "error");
      return;
    }
    const cam = {
      running: true, stream, ws: null, inFlight: false, sentAt: 0, replies: [], samples: [], result: null,
      capture: document.createElement("canvas"), timelineDrawn: 0, frameError: false,
    };
    state.cam = cam;
    state.still = null;
    state.lastFile = null;
    el.video.srcObject = stream;
    try { await el.video.play(); } catch (_) { /* autoplay of a muted stream is allowed; frames come anyway */ }
    el.camera.disabled = false;
    el.camera.textContent = "Stop camera";
    el.camera.setAttribute("aria-pressed", "true");
    el.drop.classList.remove("empty");
    el.stats.hidden = false;
    el.timelineBox.hidden = false;
    el.faces.replaceChildren();
    resetStats();
    setMessage("Camera on; analysing frames as fast as " + (state.mode === "device" ? "this device can." :
      "the server answers."));
    openStream(cam);
    requestAnimationFrame(drawLoop);
  }

  // reason: what the status line says (an error shown already is kept: pass null)
  function stopCamera(reason = "Camera stopped.") {
    const cam = state.cam;
    if (!cam) return;
    cam.running = false;
    state.cam = null;
    const ws = cam.ws;
    cam.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "camera stopped");
    drawCameraFrame(null); // the last frame stays, without the labels of a moment ago
    cam.stream.getTracks().forEach((track) => track.stop());
    el.video.srcObject = null;
    el.camera.textContent = "Start camera";
    el.camera.setAttribute("aria-pressed", "false");
    el.camera.disabled = false;
    el.faces.replaceChildren();
    el.latest.dataset.expression = "";
    el.latest.textContent = "Camera stopped: no live result.";
    if (reason) setMessage(reason);
  }

  function openStream(cam) {
    if (state.mode === "device") {
      cam.inFlight = false;
      sendFrame(cam);
      return;
    }
    if (cam.ws) {
      const old = cam.ws;
      cam.ws = null; // its close is not an error
      old.close(1000, "new settings");
    }
    const extra = state.token ? { token: state.token } : {};
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/v1/stream?${queryParams(extra)}`);
    cam.ws = ws;
    cam.inFlight = false;
    cam.refused = false;
    ws.onopen = () => sendFrame(cam);
    ws.onmessage = (event) => onStreamMessage(cam, ws, event);
    ws.onclose = (event) => {
      if (cam.ws !== ws || !cam.running) return;
      if (!cam.refused) {
        showFailure(`The stream closed (code ${event.code}${event.reason ? ": " + event.reason : ""}); ` +
          "camera stopped.");
      }
      stopCamera(null);
    };
  }

  function onStreamMessage(cam, ws, event) {
    if (cam.ws !== ws || !cam.running) return;
    let msg;
    try { msg = JSON.parse(event.data); } catch (_) { return; }
    if (msg.frame === undefined) { // refused before streaming; the server closes next
      cam.refused = true;
      if (msg.status === 401) askToken("This server needs a token: " + msg.error);
      else setMessage("Stream refused: " + msg.error, "error");
      return;
    }
    onFrameResult(cam, msg);
  }

  function onFrameResult(cam, msg) {
    cam.inFlight = false;
    const now = performance.now();
    cam.replies.push(now);
    while (cam.replies.length && now - cam.replies[0] > 3000) cam.replies.shift();
    el.rttMs.textContent = String(Math.round(now - cam.sentAt));
    el.dropped.textContent = String(msg.dropped || 0);
    if (msg.error) {
      cam.frameError = true;
      cam.result = null; // the live picture loses its labels too
      showFailure(`Frame ${msg.frame}: ${msg.error}`);
    } else {
      if (cam.frameError) { cam.frameError = false; setMessage(""); }
      cam.result = msg;
      el.serverMs.textContent = String(Math.round(msg.ms));
      showFaces(msg.faces);
      noteResult(msg.faces, msg.ms);
      addSample(cam, msg.faces[0], now);
      noteEyeEvents(cam, msg.faces[0], now);
    }
    sendFrame(cam);
  }

  // One frame in flight: the next is sent when the previous one's answer arrived.
  function sendFrame(cam) {
    if (state.mode === "device") {
      setTimeout(() => analyseFrameHere(cam), 0); // a task, not a microtask: clicks and drawing get their turn
      return;
    }
    const ws = cam.ws;
    if (!cam.running || cam.inFlight || !ws || ws.readyState !== WebSocket.OPEN) return;
    const canvas = grabFrame(cam);
    if (!canvas) return;
    cam.inFlight = true;
    canvas.toBlob((blob) => {
      if (!cam.running || cam.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      if (!blob) {
        cam.inFlight = false;
        setTimeout(() => sendFrame(cam), 100);
        return;
      }
      cam.sentAt = performance.now();
      ws.send(blob);
    }, "image/jpeg", 0.85);
  }

  // The video's current frame, at most MAX_FRAME_WIDTH wide, on cam.capture; null (and a retry soon) before the first.
  function grabFrame(cam) {
    const video = el.video;
    if (video.readyState < 2 || !video.videoWidth) {
      setTimeout(() => sendFrame(cam), 50);
      return null;
    }
    const width = Math.min(MAX_FRAME_WIDTH, video.videoWidth);
    const height = Math.round(video.videoHeight * width / video.videoWidth);
    const canvas = cam.capture;
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    canvas.getContext("2d", { willReadFrequently: true }).drawImage(video, 0, 0, width, height);
    return canvas;
  }

  // Device mode: one frame analysed at a time in this browser; the next is taken when it is done.
  async function analyseFrameHere(cam) {
    if (!cam.running || cam.inFlight) return;
    const canvas = grabFrame(cam);
    if (!canvas) return;
    cam.inFlight = true;
    cam.sentAt = performance.now();
    cam.frames = (cam.frames || 0) + 1;
    let msg;
    try {
      const pixels = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, canvas.width,
        canvas.height);
      msg = { frame: cam.frames, ...await (await device()).analyse(pixels, el.approach.value) };
    } catch (err) {
      msg = { frame: cam.frames, error: err.message };
    }
    if (state.cam === cam && cam.running) onFrameResult(cam, msg);
  }

  // The video's current frame on the stage, with a result's boxes and labels (none: null).
  function drawCameraFrame(result) {
    const video = el.video;
    if (!video.videoWidth) return;
    const canvas = el.view;
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    const mirrored = el.mirror.checked;
    ctx.save();
    if (mirrored) { ctx.translate(w, 0); ctx.scale(-1, 1); }
    ctx.drawImage(video, 0, 0, w, h);
    ctx.restore();
    if (result) drawFaces(ctx, result.faces, w / result.width, h / result.height, mirrored);
    canvas.dataset.drawn = "camera";
    canvas.dataset.faces = String(result ? result.faces.length : 0);
  }

  function drawLoop(now) {
    const cam = state.cam;
    if (!cam || !cam.running) return;
    drawCameraFrame(cam.result);
    if (now - cam.timelineDrawn > 100) {
      cam.timelineDrawn = now;
      drawTimeline(cam, performance.now());
      const span = cam.replies.length > 1 ? cam.replies[cam.replies.length - 1] - cam.replies[0] : 0;
      el.fps.textContent = span > 0 ? `${((cam.replies.length - 1) * 1000 / span).toFixed(1)} fps` : "– fps";
    }
    requestAnimationFrame(drawLoop);
  }

  function resetStats() {
    el.fps.textContent = "– fps";
    el.serverMs.textContent = "–";
    el.rttMs.textContent = "–";
    el.dropped.textContent = "0";
  }

  // --- the eye events of the last minute (face 1) -------------------------------------------------------------------
  async function noteEyeEvents(cam, face, now) {
    if (!cam.eyeEvents) {
      const { LiveEyeEvents } = await import(new URL("device/eye_events.js", SCRIPT_URL).href);
      cam.eyeEvents = cam.eyeEvents || new LiveEyeEvents(60);
    }
    const events = cam.eyeEvents.update(now, face ? face.left_eye : null, face ? face.right_eye : null);
    el.eyeEvents.dataset.blinks = String(events.blinks);
    el.eyeEvents.dataset.perclos = events.perclos == null ? "" : String(events.perclos);
    el.eyeEvents.textContent = `Eye events (last minute): ${events.blinks} blink${events.blinks === 1 ? "" : "s"}` +
      (events.blinks_per_minute == null ? "" : ` (${events.blinks_per_minute} per minute)`) +
      ` · PERCLOS ${pct(events.perclos)} · longest closure ${Math.round(events.longest_closure_ms)} ms`;
  }

  // --- the timeline --------------------------------------------------------------------------------------------------
  function addSample(cam, face, now) {
    cam.samples.push({
      t: now,
      probs: face ? state.expressions.map((name) => face["p_" + name]) : null,
      left: face ? face.left_eye_openness : null,
      right: face ? face.right_eye_openness : null,
    });
    while (cam.samples.length > 1 && now - cam.samples[1].t > TIMELINE_SECONDS * 1000) cam.samples.shift();
  }

  function buildLegend() {
    const items = state.expressions.map((name) => legendItem(name, colourOf(name), false));
    items.push(legendItem("left eye", EYE_LINES.left.colour, false), legendItem("right eye", EYE_LINES.right.colour,
      true), legendItem("no face", "#e2e2e2", false, true));
    el.legend.replaceChildren(...items);
  }

  function legendItem(text, colour, dashed, block) {
    const item = make("li");
    const swatch = make("span", "swatch" + (dashed ? " dashed" : "") + (block ? " block" : ""));
    swatch.style.setProperty("--swatch", colour);
    item.append(swatch, document.createTextNode(text));
    return item;
  }

  function drawTimeline(cam, now) {
    const canvas = el.timeline;
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 600;
    const cssH = canvas.clientHeight || 240;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, cssW, cssH);

    const left = cssW < 480 ? 58 : 70;
    const right = 8;
    const top = 8;
    const axis = 20;
    const gap = 24;
    const plotW = Math.max(10, cssW - left - right);
    const usable = cssH - top - axis - gap;
    const probH = Math.round(usable * 0.62);
    const eyeH = usable - probH;
    const probTop = top;
    const eyeTop = top + probH + gap;
    const span = TIMELINE_SECONDS * 1000;
    const xOf = (t) => left + plotW * (1 - (now - t) / span);

    // panels, grid and axis labels
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (const [y0, h] of [[probTop, probH], [eyeTop, eyeH]]) {
      ctx.fillStyle = "#f7f7f9";
      ctx.fillRect(left, y0, plotW, h);
    }
    // frames without a face, shaded
    const samples = cam.samples;
    ctx.fillStyle = "#e2e2e2";
    samples.forEach((s, i) => {
      if (s.probs) return;
      const next = samples[i + 1];
      const x0 = Math.max(left, xOf(s.t));
      const x1 = next ? xOf(next.t) : xOf(now);
      if (x1 > x0) {
        ctx.fillRect(x0, probTop, x1 - x0, probH);
        ctx.fillRect(x0, eyeTop, x1 - x0, eyeH);
      }
    });
    ctx.strokeStyle = "#d5d5dc";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#444";
    for (const v of [0, 0.5, 1]) {
      const y = probTop + probH * (1 - v);
      hline(ctx, left, left + plotW, y);
      ctx.fillText(v.toFixed(1), left - 6, y);
    }
    const eyeTicks = state.models && state.models.eye_states ? [...state.models.eye_states].reverse()
      : ["closed", "narrowed", "open", "wide"];
    eyeTicks.forEach((name, i) => {
      const v = eyeTicks.length > 1 ? i / (eyeTicks.length - 1) : 0;
      const y = eyeTop + eyeH * (1 - v);
      hline(ctx, left, left + plotW, y);
      ctx.fillText(name, left - 6, y);
    });
    ctx.save();
    ctx.translate(12, probTop + probH / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("probability", 0, 0);
    ctx.restore();
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let s = TIMELINE_SECONDS; s >= 0; s -= 10) {
      const x = left + plotW * (1 - s / TIMELINE_SECONDS);
      ctx.strokeStyle = "#d5d5dc";
      ctx.beginPath();
      ctx.moveTo(x, probTop);
      ctx.lineTo(x, eyeTop + eyeH + 3);
      ctx.stroke();
      ctx.fillText(s ? `−${s} s` : "now", Math.min(Math.max(x, left + 14), left + plotW - 12), eyeTop + eyeH + 5);
    }

    // the lines, broken where no face was found
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, 0, plotW, cssH);
    ctx.clip();
    ctx.lineJoin = "round";
    state.expressions.forEach((name, k) => {
      series(ctx, samples, xOf, (s) => (s.probs ? s.probs[k] : null), probTop, probH, colourOf(name), [], 1.6);
    });
    for (const side of ["left", "right"]) {
      series(ctx, samples, xOf, (s) => s[side], eyeTop, eyeH, EYE_LINES[side].colour, EYE_LINES[side].dash, 1.8);
    }
    ctx.restore();
    canvas.dataset.points = String(samples.length);
  }

  function hline(ctx, x0, x1, y) {
    ctx.beginPath();
    ctx.moveTo(x0, Math.round(y) + 0.5);
    ctx.lineTo(x1, Math.round(y) + 0.5);
    ctx.stroke();
  }

  function series(ctx, samples, xOf, value, y0, h, colour, dash, width) {
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    let open = false;
    let last = null;
    for (const s of samples) {
      const v = value(s);
      if (v == null || Number.isNaN(v) || (last && s.t - last.t > 2000)) {
        open = false;
        if (v == null || Number.isNaN(v)) { last = null; continue; }
      }
      const x = xOf(s.t);
      const y = y0 + h * (1 - Math.max(0, Math.min(1, v)));
      if (open) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      open = true;
      last = s;
    }
    ctx.stroke();
    if (last) { // the newest value as a dot, so a single sample shows too
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.arc(xOf(last.t), y0 + h * (1 - Math.max(0, Math.min(1, value(last)))), width + 0.8, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.setLineDash([]);
  }

  // --- start ---------------------------------------------------------------------------------------------------------
  function showMode() {
    el.mode.value = state.mode;
    el.mode.dataset.mode = state.mode;
    el.msWhere.textContent = state.mode === "device" ? "this device" : "server";
    if (STATIC_SITE) {
      el.mode.querySelector('option[value="server"]').remove();
      el.apiLinks.hidden = true;
    }
  }

  el.mode.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("mode", el.mode.value);
    location.assign(url.href); // a fresh page: the other mode's runtimes and sockets do not linger
  });

  window.addEventListener("pagehide", () => stopCamera());
  showMode();
  buildLegend();
  loadModels();
})();
