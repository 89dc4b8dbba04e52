// The review: every file in its own player, all driven by one clock on the reference timeline.
//
// Reference time T maps to a file's own time (T - offset) * (1 + drift_ppm * 1e-6) (the offset
// convention of avsync: an event at T in the reference is at T - offset in the file). Outside
// [0, duration] the file is paused at its first or last frame and shows when it starts or that it
// has ended. Nothing is re-encoded: the players seek within the uploaded files.

import { clock, el, signed } from "./format.js";

const FRAME_S = 0.04;
const HARD_CORRECTION_S = 0.2; // further apart than this: seek
const SOFT_CORRECTION_S = 0.03; // closer than this: leave alone; in between: nudge the speed

export class SyncPlayer {
  constructor({ container, controls, items, onTime }) {
    this.container = container;
    this.c = controls; // {play, seek, clock, applyOffsets, backSecond, backFrame, forwardFrame, forwardSecond}
    this.onTime = onTime || (() => {});
    this.playing = false;
    this.applyOffsets = controls.applyOffsets.checked;
    this.tiles = items.map((item) => this.tile(item));
    this.setRange();
    this.t = this.start;
    this.lastTick = null;
    this.bind();
    this.seek(this.start);
  }

  tile(item) {
    const isVideo = item.hasVideo;
    const media = el(isVideo ? "video" : "audio", { preload: "auto", src: item.url });
    media.playsInline = true;
    media.muted = !item.isReference;
    media.dataset.name = item.name;
    media.dataset.offset = String(item.offset);
    const overlay = el("div", { class: "overlay" });
    const mute = el("button", { type: "button", class: "mute", title: "switch this file's sound on or off", text: media.muted ? "sound off" : "sound on" });
    mute.addEventListener("click", () => {
      media.muted = !media.muted;
      mute.textContent = media.muted ? "sound off" : "sound on";
    });
    const label = el("div", { class: "label" },
      el("strong", { text: item.name }),
      el("span", { text: item.isReference ? " reference" : ` offset ${signed(item.offset)} s` }),
      item.drift ? el("span", { text: `, drift ${signed(item.drift, 1)} ppm` }) : null,
      item.status !== "ok" ? el("span", { class: "warn", text: ` (${item.status.replace("_", " ")})` }) : null);
    const stage = el("div", { class: isVideo ? "stage" : "stage audio-only" }, media, overlay);
    if (!isVideo) stage.prepend(el("div", { class: "audio-badge", text: "audio only" }));
    const box = el("figure", { class: "tile" }, stage, el("figcaption", {}, label, mute));
    box.dataset.name = item.name;
    this.container.append(box);
    const tile = { item, media, overlay, box, duration: item.duration };
    media.addEventListener("loadedmetadata", () => {
      if (Number.isFinite(media.duration) && media.duration > 0) tile.duration = media.duration;
      this.position(tile, false);
    });
    media.addEventListener("error", () => { overlay.textContent = "this browser cannot play this file"; overlay.hidden = false; });
    return tile;
  }

  setRange() {
    const starts = this.tiles.map((t) => this.span(t)[0]);
    const ends = this.tiles.map((t) => this.span(t)[1]);
    this.start = Math.min(0, ...starts);
    this.end = Math.max(...ends, this.start + 0.1);
    this.c.seek.min = String(this.start);
    this.c.seek.max = String(this.end);
  }

  // [first, last] reference time at which the file plays.
  span(tile) {
    const { offset, rate } = this.mapping(tile);
    return [offset, offset + tile.duration / rate];
  }

  mapping(tile) {
    if (!this.applyOffsets) return { offset: 0, rate: 1 };
    return { offset: tile.item.offset, rate: 1 + (tile.item.drift || 0) * 1e-6 };
  }

  // The file's own time at reference time t (not clamped).
  localTime(tile, t) {
    const { offset, rate } = this.mapping(tile);
    return (t - offset) * rate;
  }

  bind() {
    const c = this.c;
    this.listeners = new AbortController(); // the controls outlive this player: unhook on destroy
    const on = (node, type, fn) => node.addEventListener(type, fn, { signal: this.listeners.signal });
    on(c.play, "click", () => (this.playing ? this.pause() : this.play()));
    on(c.seek, "input", () => this.seek(parseFloat(c.seek.value)));
    on(c.applyOffsets, "change", () => {
      this.applyOffsets = c.applyOffsets.checked;
      this.setRange();
      this.seek(this.t);
    });
    on(c.backSecond, "click", () => this.seek(this.t - 1));
    on(c.forwardSecond, "click", () => this.seek(this.t + 1));
    on(c.backFrame, "click", () => this.seek(this.t - FRAME_S));
    on(c.forwardFrame, "click", () => this.seek(this.t + FRAME_S));
    on(document, "keydown", (e) => {
      if (e.target && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(e.target.tagName) && e.target !== c.seek) return;
      if (e.key === " ") {
        e.preventDefault();
        if (this.playing) this.pause(); else this.play();
      }
    });
  }

  seek(t) {
    this.t = Math.min(Math.max(t, this.start), this.end);
    for (const tile of this.tiles) this.position(tile, true);
    this.showTime();
  }

  play() {
    if (this.t >= this.end - 1e-3) this.seek(this.start);
    this.playing = true;
    this.lastTick = null;
    this.c.play.textContent = "⏸ Pause";
    this.c.play.setAttribute("aria-label", "Pause");
    this.timer = setInterval(() => this.tick(), 50);
    this.tick();
  }

  pause() {
    this.playing = false;
    clearInterval(this.timer);
    for (const tile of this.tiles) tile.media.pause();
    this.c.play.textContent = "▶ Play";
    this.c.play.setAttribute("aria-label", "Play");
    this.seek(this.t); // every player exactly at the clock
  }

  // One step of the clock: it advances only while every file that should be playing can play.
  tick() {
    const now = performance.now();
    const inside = this.tiles.filter((tile) => this.isInside(tile));
    const stalled = inside.some((tile) => tile.media.seeking || tile.media.readyState < 3);
    if (this.lastTick !== null && !stalled) this.t += (now - this.lastTick) / 1000;
    this.lastTick = now;
    if (this.t >= this.end) {
      this.t = this.end;
      this.pause();
      return;
    }
    for (const tile of this.tiles) {
      if (stalled) {
        if (!tile.media.paused) tile.media.pause();
        this.position(tile, false);
      } else {
        this.follow(tile);
      }
    }
    this.showTime();
  }

  isInside(tile) {
    const local = this.localTime(tile, this.t);
    return local >= 0 && local < tile.duration;
  }

  // A playing file kept on the clock: started when it comes in, seeked when far off, nudged when close.
  follow(tile) {
    const media = tile.media;
    const target = this.localTime(tile, this.t);
    if (!this.isInside(tile)) {
      if (!media.paused) media.pause();
      this.position(tile, false);
      return;
    }
    this.overlay(tile, target);
    const error = target - media.currentTime;
    if (media.paused) {
      // Seek only when needed: a seek makes the file stall, and a stall pauses everything again.
      if (Math.abs(error) > SOFT_CORRECTION_S) media.currentTime = target;
      media.playbackRate = this.mapping(tile).rate;
      media.play().catch(() => {});
    } else if (Math.abs(error) > HARD_CORRECTION_S) {
      media.currentTime = target;
    } else {
      const base = this.mapping(tile).rate;
      const nudge = Math.abs(error) > SOFT_CORRECTION_S ? Math.max(-0.1, Math.min(0.1, error)) : 0;
      media.playbackRate = base * (1 + nudge);
    }
  }

  // A paused file put exactly where the clock says (clamped to the file).
  position(tile, exact) {
    const target = this.localTime(tile, this.t);
    const clamped = Math.min(Math.max(target, 0), tile.duration);
    if (tile.media.readyState >= 1 && (exact || Math.abs(tile.media.currentTime - clamped) > 0.01)) {
      tile.media.currentTime = clamped;
    }
    this.overlay(tile, target);
  }

  overlay(tile, target) {
    let text = "";
    if (target < 0) text = `starts in ${(-target / this.mapping(tile).rate).toFixed(2)} s`;
    else if (target > tile.duration) text = "ended";
    tile.overlay.textContent = text;
    tile.overlay.hidden = !text;
    tile.box.classList.toggle("outside", Boolean(text));
  }

  showTime() {
    if (document.activeElement !== this.c.seek || this.playing) this.c.seek.value = String(this.t);
    this.c.clock.value = `${clock(this.t)} / ${clock(this.end)}`;
    this.onTime(this.t, this.start, this.end);
  }

  destroy() {
    this.pause();
    this.listeners.abort();
    for (const tile of this.tiles) {
      tile.media.removeAttribute("src");
      tile.media.load();
    }
    this.container.replaceChildren();
  }
}
