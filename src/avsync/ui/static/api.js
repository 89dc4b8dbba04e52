// Talking to the avsync server. Every request that changes something carries the X-Avsync
// header: the server refuses those without it, so other web sites cannot drive it.

const HEADERS = { "X-Avsync": "1" };

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function errorFrom(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  try {
    const body = await resp.json();
    if (body && body.error) message = body.error;
  } catch (_) { /* not JSON */ }
  return new ApiError(message, resp.status);
}

export async function call(method, url, body) {
  const init = { method, headers: { ...HEADERS } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (err) {
    throw new ApiError("cannot reach the avsync server: is `avsync ui` still running?", 0);
  }
  if (!resp.ok) throw await errorFrom(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

// Sends one file as the raw request body (the server streams it to disk), reporting progress.
// Returns {promise, abort}.
export function upload(jobId, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("PUT", `/api/jobs/${jobId}/files?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-Avsync", "1");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 201 && body) resolve(body);
      else reject(new ApiError((body && body.error) || `upload failed (${xhr.status} ${xhr.statusText})`, xhr.status));
    };
    xhr.onerror = () => reject(new ApiError("the upload was cut off: is `avsync ui` still running?", 0));
    xhr.onabort = () => reject(new ApiError("upload cancelled", 0));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
