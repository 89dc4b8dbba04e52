// Plots drawn from the server's JSON on canvases: motion energy on the reference timeline and
// the correlation curve behind each offset.

import { el, signed } from "./format.js";

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

function prepare(canvas, cssHeight) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.parentElement.clientWidth || 600;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  canvas.style.height = `${cssHeight}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, cssHeight);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, width, height: cssHeight };
}

function axis(ctx, x0, x1, y, lo, hi, unit) {
  ctx.strokeStyle = "#888";
  ctx.fillStyle = "#555";
  ctx.beginPath();
  ctx.moveTo(x0, y);
  ctx.lineTo(x1, y);
  ctx.stroke();
  const span = hi - lo || 1;
  const step = niceStep(span / Math.max(2, Math.floor((x1 - x0) / 80))); // a label every 80 px or more
  ctx.textAlign = "center";
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
    const x = x0 + ((v - lo) / span) * (x1 - x0);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x, y + 4);
    ctx.stroke();
    const label = `${+v.toFixed(3)}${unit}`;
    const half = ctx.measureText(label).width / 2;
    if (x - half >= 0 && x + half <= ctx.canvas.clientWidth) ctx.fillText(label, x, y + 16); // no clipped labels
  }
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// Motion energy of each video, shifted by its offset, one lane per file; a cursor at time t.
export class MotionPlot {
  constructor(canvas, note) {
    this.canvas = canvas;
    this.note = note;
    this.data = null;
    this.cursor = null;
    this.range = [0, 1];
    this.applyOffsets = true;
    this.pending = false;
  }

  set(data) { this.data = data; this.draw(); }

  setView(t, start, end, applyOffsets) {
    this.cursor = t;
    this.range = [start, end];
    this.applyOffsets = applyOffsets;
    if (!this.pending) { // at most one redraw per frame
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }
  }

  draw() {
    if (!this.data) return;
    const lanes = this.data.motion;
    const laneH = 44;
    const { ctx, width } = prepare(this.canvas, Math.max(1, lanes.length) * laneH + 28);
    const left = 150;
    const right = width - 10;
    const [lo, hi] = this.range;
    const x = (t) => left + ((t - lo) / (hi - lo || 1)) * (right - left);
    const notes = [];
    lanes.forEach((lane, i) => {
      const top = i * laneH + 4;
      ctx.fillStyle = "#333";
      ctx.textAlign = "left";
      ctx.fillText(lane.name.length > 20 ? `${lane.name.slice(0, 19)}…` : lane.name, 4, top + laneH / 2);
      if (!lane.times_s) {
        ctx.fillStyle = "#777";
        ctx.fillText(lane.note || "no video", left + 6, top + laneH / 2);
        if (lane.note && lane.note !== "audio only") notes.push(`${lane.name}: ${lane.note}`);
        return;
      }
      const peak = Math.max(...lane.energy, 1e-9);
      const shift = this.applyOffsets && lane.offset_s !== null ? lane.offset_s : 0;
      ctx.strokeStyle = PALETTE[i % PALETTE.length];
      ctx.lineWidth = 1;
      ctx.beginPath();
      lane.times_s.forEach((t, k) => {
        const px = x(t + shift);
        const py = top + laneH - 6 - (lane.energy[k] / peak) * (laneH - 10);
        if (k === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    });
    axis(ctx, left, right, lanes.length * laneH + 6, lo, hi, " s");
    if (this.cursor !== null) {
      ctx.strokeStyle = "#000";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x(this.cursor), 0);
      ctx.lineTo(x(this.cursor), lanes.length * laneH + 6);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    this.note.textContent = notes.join("; ");
  }
}

// One correlation curve per file and method, the chosen offset marked, and a close-up of its peak.
export function drawCorrelations(container, data) {
  container.replaceChildren();
  if (!data.correlation.length) {
    container.append(el("p", { class: "hint", text: "No file besides the reference to correlate." }));
    return;
  }
  const drawings = [];
  data.correlation.forEach((curve, i) => {
    const hasOffset = curve.offset_s !== null && curve.offset_s !== undefined;
    const title = `${curve.name}: ${curve.method === "audio" ? "GCC-PHAT of the sound" : "motion-energy correlation"}` +
      (hasOffset ? `, offset ${signed(curve.offset_s)} s` : ", no offset");
    const fig = el("div", { class: "correlation-plot" }, el("div", { class: "plot-title", text: title }));
    fig.dataset.name = curve.name;
    container.append(fig);
    if (!curve.lags_s) {
      fig.append(el("p", { class: "hint", text: curve.note || "no curve" }));
      return;
    }
    const colour = PALETTE[(i + 1) % PALETTE.length];
    const full = el("canvas", { class: "correlation" });
    const row = el("div", { class: "curve-row" }, full);
    fig.append(row);
    drawings.push(() => drawCurve(full, curve.lags_s, curve.values, hasOffset ? curve.offset_s : null, colour));
    if (curve.zoom) {
      const zoom = el("canvas", { class: "correlation zoom" });
      zoom.title = "close-up of the peak";
      row.append(zoom);
      drawings.push(() => drawCurve(zoom, curve.zoom.lags_s, curve.zoom.values, curve.offset_s, colour));
    }
  });
  // Drawn once every figure is in place, so each canvas knows its final width.
  for (const draw of drawings) draw();
}

function drawCurve(canvas, lags, vals, offset, colour) {
  const { ctx, width } = prepare(canvas, 150);
  const left = 12;
  const right = width - 20;
  const top = 8;
  const bottom = 120;
  const lo = lags[0];
  const hi = lags[lags.length - 1];
  const vmax = Math.max(...vals.map(Math.abs), 1e-9);
  const x = (t) => left + ((t - lo) / (hi - lo || 1)) * (right - left);
  const y = (v) => top + (1 - (v / vmax + 1) / 2) * (bottom - top);
  ctx.strokeStyle = "#ddd";
  ctx.beginPath();
  ctx.moveTo(left, y(0));
  ctx.lineTo(right, y(0));
  ctx.stroke();
  ctx.strokeStyle = colour;
  ctx.beginPath();
  lags.forEach((t, k) => { if (k === 0) ctx.moveTo(x(t), y(vals[k])); else ctx.lineTo(x(t), y(vals[k])); });
  ctx.stroke();
  if (offset !== null && offset >= lo && offset <= hi) {
    ctx.strokeStyle = "#000";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x(offset), top);
    ctx.lineTo(x(offset), bottom);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  axis(ctx, left, right, bottom + 4, lo, hi, " s");
}
