// The avsync page: one request (job) per visit, kept across reloads of this tab.

import { ApiError, call } from "./api.js";
import { el, show, signed, size } from "./format.js";
import { MotionPlot, drawCorrelations } from "./plots.js";
import { SyncPlayer } from "./review.js";
import { FileList } from "./upload.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;
const STAGES = {
  starting: "starting",
  decoding: "decoding the files",
  "audio pairs": "comparing the sound",
  "visual pairs": "comparing the movement",
  "auto pairs": "comparing",
  plots: "preparing the plots",
  "writing synced files": "writing the synced files",
};

const state = { job: null, limits: null, shownRun: null, player: null, plotsShown: false, polling: false, lastState: null };
const motionPlot = new MotionPlot($("motion-plot"), $("motion-note"));

function banner(message) {
  $("banner").textContent = message || "";
  show($("banner"), Boolean(message));
}

function fail(node, message) {
  node.textContent = message || "";
  show(node, Boolean(message));
}

const files = new FileList({
  list: $("file-list"),
  dropZone: $("drop-zone"),
  input: $("file-input"),
  getJob: () => state.job.id,
  getLimits: () => state.limits,
  onChange: updateSettings,
});

function updateSettings() {
  const ready = files.ready;
  const select = $("reference");
  const previous = select.value;
  select.replaceChildren(...ready.map((f) => el("option", { value: f.name, text: f.name })));
  if (ready.some((f) => f.name === previous)) select.value = previous;
  if (!ready.length) select.append(el("option", { value: "", text: "(upload files first)" }));
  const busy = state.lastState && ["queued", "syncing", "plots", "writing"].includes(state.lastState);
  $("sync-button").disabled = files.pending || busy;
  $("sync-button").textContent = files.pending ? "Waiting for uploads…" : busy ? "Syncing…" : "Sync";
}

async function start() {
  const saved = sessionStorage.getItem("avsync-job");
  try {
    if (saved) {
      try {
        const job = await call("GET", `/api/jobs/${saved}`);
        state.job = job;
        files.restore(job.files);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
      }
    }
    if (!state.job) {
      state.job = await call("POST", "/api/jobs");
      sessionStorage.setItem("avsync-job", state.job.id);
    }
    state.limits = state.job.limits || state.limits;
    if (state.limits) {
      $("limits").textContent = `Two or more recordings of the same event, up to ${state.limits.max_files} files ` +
        `of at most ${size(state.limits.max_file_bytes)} each. They stay on this computer's avsync server only.`;
      $("keep-hint").textContent = `Otherwise they are deleted ${Math.round(state.limits.keep_s / 60)} minutes after your last visit.`;
    }
    $("request-id").textContent = state.job.id;
    render(state.job);
    if (["queued", "syncing", "plots", "writing"].includes(state.job.state)) poll();
  } catch (err) {
    banner(err.message);
  }
}

$("settings").addEventListener("submit", async (e) => {
  e.preventDefault();
  fail($("sync-error"), "");
  const settings = {
    method: $("method").value,
    reference: $("reference").value,
    max_offset_s: parseFloat($("max-offset").value),
    min_confidence: parseFloat($("min-confidence").value),
  };
  if (Number.isNaN(settings.max_offset_s) || settings.max_offset_s < 0) {
    fail($("sync-error"), "Maximum offset must be a number of seconds, 0 or more (0 searches the whole overlap).");
    return;
  }
  if (Number.isNaN(settings.min_confidence) || settings.min_confidence < 0 || settings.min_confidence > 1) {
    fail($("sync-error"), "Minimum confidence must be between 0 and 1.");
    return;
  }
  try {
    const job = await call("POST", `/api/jobs/${state.job.id}/sync`, settings);
    render(job);
    poll();
  } catch (err) {
    fail($("sync-error"), err.message);
  }
});

async function poll() {
  if (state.polling) return;
  state.polling = true;
  try {
    for (;;) {
      const job = await call("GET", `/api/jobs/${state.job.id}`);
      render(job);
      if ($("log-details").open) refreshLog();
      if (!["queued", "syncing", "plots", "writing"].includes(job.state)) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } catch (err) {
    banner(err.message);
  } finally {
    state.polling = false;
  }
}

function render(job) {
  state.job = { ...state.job, ...job };
  state.lastState = job.state;
  const busy = ["queued", "syncing", "plots", "writing"].includes(job.state);
  files.lock(busy);
  updateSettings();
  document.body.dataset.state = job.state;

  const p = job.progress || {};
  show($("progress"), busy);
  if (busy) {
    const stage = STAGES[p.stage] || p.stage || job.state;
    $("progress-stage").textContent = p.total ? `${stage} (${p.done}/${p.total})` : stage;
    if (p.total) { $("progress-bar").max = p.total; $("progress-bar").value = p.done; } else { $("progress-bar").removeAttribute("value"); }
  }
  if (job.state === "failed") fail($("sync-error"), `The sync failed: ${job.error}`);

  if (job.result && state.shownRun !== job.run) {
    state.shownRun = job.run;
    state.plotsShown = false;
    renderResults(job.result);
    renderReview(job.result, job.files);
  }
  if (!job.result) {
    show($("results-section"), false);
    show($("review-section"), false);
  }
  if (job.plots_ready && !state.plotsShown) {
    state.plotsShown = true;
    loadPlots();
  }
  renderDownloads(job);
}

function renderResults(result) {
  const body = $("results").tBodies[0];
  body.replaceChildren();
  for (const v of result.videos) {
    const isRef = v.path === result.reference;
    const offset = el("td", { class: "num offset", text: v.offset_s === null || v.offset_s === undefined ? "—" : signed(v.offset_s) });
    if (v.offset_s !== null && v.offset_s !== undefined) offset.dataset.offset = String(v.offset_s);
    const conf = el("td", { class: "confidence" },
      el("span", { class: "num", text: (v.confidence ?? 0).toFixed(2) }), " ",
      el("span", { class: `band band-${v.band}`, text: v.band }));
    const row = el("tr", { class: `status-${v.status}` },
      el("td", { class: "filename" }, el("span", { text: v.path }), isRef ? el("span", { class: "tag", text: "reference" }) : null),
      offset,
      conf,
      el("td", { class: "num", text: v.status === "ok" || v.status === "low_confidence" ? signed(v.drift_ppm, 1) : "—" }),
      el("td", { class: "status", text: v.status.replace("_", " ") }),
      el("td", { class: "reason", text: [v.reason, bothMethods(v)].filter(Boolean).join(" ") }));
    row.dataset.name = v.path;
    body.append(row);
  }
  $("result-json").href = `/api/jobs/${state.job.id}/result.json`;
  show($("results-section"), true);
}

// With the method "both": each method's own offset and how far apart they are.
function bothMethods(v) {
  if (v.audio_offset_s === undefined && v.visual_offset_s === undefined) return "";
  const one = (x) => (x === null || x === undefined ? "none" : `${signed(x)} s`);
  const parts = [`audio ${one(v.audio_offset_s)}`, `visual ${one(v.visual_offset_s)}`];
  if (v.audio_video_diff !== undefined && v.audio_video_diff !== null) parts.push(`apart ${(1000 * Math.abs(v.audio_video_diff)).toFixed(0)} ms`);
  return parts.join(", ");
}

function renderReview(result, uploaded) {
  if (state.player) state.player.destroy();
  state.player = null;
  const info = Object.fromEntries(uploaded.map((f) => [f.name, f]));
  const items = result.videos
    .filter((v) => v.offset_s !== null && v.offset_s !== undefined && info[v.path])
    .map((v) => ({
      name: v.path,
      url: `/api/jobs/${state.job.id}/media/${encodeURIComponent(v.path)}`,
      offset: v.offset_s,
      drift: v.drift_ppm || 0,
      duration: info[v.path].duration_s,
      hasVideo: info[v.path].has_video,
      isReference: v.path === result.reference,
      status: v.status,
    }));
  show($("review-section"), items.length > 0);
  if (!items.length) return;
  state.player = new SyncPlayer({
    container: $("players"),
    controls: {
      play: $("play"), seek: $("seek"), clock: $("clock"), applyOffsets: $("apply-offsets"),
      backSecond: $("back-second"), backFrame: $("back-frame"), forwardFrame: $("forward-frame"), forwardSecond: $("forward-second"),
    },
    items,
    onTime: (t, startT, endT) => motionPlot.setView(t, startT, endT, $("apply-offsets").checked),
  });
  window.avsyncPlayer = state.player; // for the browser test and the curious
}

async function loadPlots() {
  try {
    const data = await call("GET", `/api/jobs/${state.job.id}/plots`);
    state.plotData = data;
    motionPlot.set(data);
    if (state.player) state.player.showTime();
    drawCorrelations($("correlation-plots"), data);
    if (data.error) $("motion-note").textContent = `Plots incomplete: ${data.error}`;
  } catch (err) {
    $("motion-note").textContent = `No plots: ${err.message}`;
  }
}

function renderDownloads(job) {
  const section = $("downloads-section");
  if (!job.result) { show(section, false); return; }
  show(section, true);
  const list = $("downloads");
  const status = $("downloads-status");
  const zip = $("zip-link");
  if (job.state === "plots" || job.state === "writing") {
    const p = job.progress || {};
    status.textContent = job.state === "writing" && p.total ? `Writing the synced files (${p.done}/${p.total})…` : "The synced files come next…";
    list.replaceChildren();
    show(zip, false);
    return;
  }
  if (job.output_error) {
    status.textContent = `No synced files: ${job.output_error}`;
    status.className = "error";
  } else {
    status.textContent = "Each file padded or trimmed at its start so that all start together and last the same (files that did not sync are left out).";
    status.className = "";
  }
  list.replaceChildren(...job.outputs.map((name) => el("li", {},
    el("a", { href: `/api/jobs/${job.id}/outputs/${encodeURIComponent(name)}`, download: name, text: name }))));
  zip.href = `/api/jobs/${job.id}/zip`;
  zip.download = job.zip || "synced.zip";
  show(zip, Boolean(job.zip));
}

async function refreshLog() {
  try {
    const data = await call("GET", `/api/jobs/${state.job.id}/log`);
    $("log").textContent = data.lines.length ? data.lines.join("\n") : "(nothing logged yet)";
  } catch (err) {
    $("log").textContent = err.message;
  }
}
$("log-details").addEventListener("toggle", () => { if ($("log-details").open) refreshLog(); });

$("finish").addEventListener("click", async () => {
  if (!window.confirm("Delete your uploaded files and the synced copies from the server?")) return;
  try {
    await call("DELETE", `/api/jobs/${state.job.id}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) { banner(err.message); return; }
  }
  sessionStorage.removeItem("avsync-job");
  window.location.reload();
});

window.addEventListener("resize", () => {
  if (!state.plotData) return;
  motionPlot.draw();
  drawCorrelations($("correlation-plots"), state.plotData);
});

start();
