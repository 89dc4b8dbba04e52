// The file list: drag and drop or picker, one upload at a time with a progress bar per file.

import { call, upload } from "./api.js";
import { el, size } from "./format.js";

const MEDIA_EXTENSIONS = new Set(["mp4", "m4v", "mov", "mkv", "webm", "avi", "mts", "m2ts", "ts", "mxf", "mpg", "mpeg",
  "3gp", "wmv", "flv", "wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "wma", "aif", "aiff", "caf"]);

// Refuses what is certainly not media before sending it; the server checks every file anyway.
export function precheck(file, limits, count) {
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  const mediaType = /^(video|audio)\//.test(file.type);
  if (!mediaType && !MEDIA_EXTENSIONS.has(ext)) {
    const kind = file.type ? ` (${file.type})` : "";
    return `'${file.name}' is not a video or audio file${kind}`;
  }
  if (file.size === 0) return `'${file.name}' is empty`;
  if (limits && file.size > limits.max_file_bytes) {
    return `'${file.name}' is ${size(file.size)}: over the limit of ${size(limits.max_file_bytes)} per file`;
  }
  if (limits && count >= limits.max_files) return `'${file.name}': at most ${limits.max_files} files per request`;
  return null;
}

export class FileList {
  constructor({ list, dropZone, input, getJob, getLimits, onChange }) {
    this.list = list;
    this.getJob = getJob;
    this.getLimits = getLimits;
    this.onChange = onChange;
    this.entries = []; // {file, row, state: queued|uploading|ready|failed, info, abort}
    this.busy = false;
    this.locked = false;
    input.addEventListener("change", () => { this.add(input.files); input.value = ""; });
    for (const type of ["dragenter", "dragover"]) {
      dropZone.addEventListener(type, (e) => { e.preventDefault(); dropZone.classList.add("over"); });
    }
    for (const type of ["dragleave", "drop"]) {
      dropZone.addEventListener(type, () => dropZone.classList.remove("over"));
    }
    dropZone.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) this.add(e.dataTransfer.files);
    });
    dropZone.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
    // A file dropped beside the zone would make the browser leave the page.
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());
  }

  get ready() { return this.entries.filter((e) => e.state === "ready").map((e) => e.info); }
  get pending() { return this.entries.some((e) => e.state === "queued" || e.state === "uploading"); }

  // Files already on the server (a reloaded page resuming its request).
  restore(files) {
    for (const info of files) {
      const entry = { file: null, state: "ready", info };
      entry.row = this.row(entry, info.original || info.name, info.size);
      this.entries.push(entry);
      this.render(entry);
    }
    this.onChange();
  }

  add(files) {
    for (const file of files) {
      const count = this.entries.filter((e) => e.state !== "failed").length;
      const problem = this.locked ? "a sync is running: add files when it is done" : precheck(file, this.getLimits(), count);
      const entry = { file, state: problem ? "failed" : "queued", error: problem };
      entry.row = this.row(entry, file.name, file.size);
      this.entries.push(entry);
      this.render(entry);
    }
    this.onChange();
    this.next();
  }

  row(entry, name, bytes) {
    const bar = el("progress", { max: 1, value: 0 });
    const status = el("span", { class: "status" });
    const remove = el("button", { type: "button", class: "remove", title: "remove this file", text: "✕" });
    remove.setAttribute("aria-label", `remove ${name}`);
    remove.addEventListener("click", () => this.remove(entry));
    const li = el("li", { class: "file" }, el("span", { class: "name", text: name }), el("span", { class: "size", text: size(bytes) }),
      bar, status, remove);
    li.dataset.name = name;
    this.list.append(li);
    return { li, bar, status, remove };
  }

  render(entry) {
    const { li, bar, status } = entry.row;
    li.className = `file ${entry.state}`;
    if (entry.state === "ready") {
      const i = entry.info;
      const what = [i.has_video ? "video" : null, i.has_audio ? "audio" : null].filter(Boolean).join(" + ");
      status.textContent = `${what}, ${i.duration_s.toFixed(2)} s` + (i.name !== (entry.file ? entry.file.name : i.original) ? ` (saved as ${i.name})` : "");
      bar.value = 1;
    } else if (entry.state === "failed") {
      status.textContent = entry.error;
      status.setAttribute("role", "alert");
    } else if (entry.state === "queued") {
      status.textContent = "waiting to upload";
    }
    bar.hidden = entry.state === "failed";
  }

  async next() {
    if (this.busy) return;
    const entry = this.entries.find((e) => e.state === "queued");
    if (!entry) { this.onChange(); return; }
    this.busy = true;
    entry.state = "uploading";
    this.render(entry);
    entry.row.status.textContent = "uploading 0 %";
    const { promise, abort } = upload(this.getJob(), entry.file, (loaded, total) => {
      entry.row.bar.value = loaded / total;
      entry.row.status.textContent = loaded < total ? `uploading ${Math.floor((100 * loaded) / total)} %` : "checking the file…";
    });
    entry.abort = abort;
    try {
      entry.info = await promise;
      entry.state = "ready";
    } catch (err) {
      entry.state = "failed";
      entry.error = err.message;
    }
    entry.abort = null;
    if (entry.removed) this.deleteOnServer(entry);
    this.render(entry);
    this.busy = false;
    this.onChange();
    this.next();
  }

  async remove(entry) {
    if (this.locked && entry.state === "ready") return;
    entry.removed = true;
    if (entry.abort) entry.abort();
    if (entry.state === "ready") await this.deleteOnServer(entry);
    entry.row.li.remove();
    this.entries = this.entries.filter((e) => e !== entry);
    this.onChange();
  }

  async deleteOnServer(entry) {
    try {
      await call("DELETE", `/api/jobs/${this.getJob()}/files/${encodeURIComponent(entry.info.name)}`);
    } catch (_) { /* gone already */ }
  }

  lock(locked) {
    this.locked = locked;
    for (const e of this.entries) e.row.remove.disabled = locked && e.state === "ready";
  }
}
