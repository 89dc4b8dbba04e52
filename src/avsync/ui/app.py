"""The web page's HTTP interface (Flask).

Pages: ``/`` and ``/static/...`` (HTML, CSS and JavaScript shipped in the package: nothing is
loaded from elsewhere, the page works offline). JSON API under ``/api/jobs``:

=========================================  ==============================================
``POST   /api/jobs``                        a new request (its own working folder)
``GET    /api/jobs/ID``                     state, progress, files, result
``DELETE /api/jobs/ID``                     finish: delete the request's files now
``PUT    /api/jobs/ID/files?name=N``        upload one file (the raw bytes as the body)
``DELETE /api/jobs/ID/files/N``             remove an uploaded file
``POST   /api/jobs/ID/sync``                start the sync (JSON: method, reference, max_offset_s, min_confidence)
``GET    /api/jobs/ID/media/N``             an uploaded file, for the review players (byte ranges)
``GET    /api/jobs/ID/outputs/N``           a synced file, as a download
``GET    /api/jobs/ID/zip``                 every synced file in one ZIP
``GET    /api/jobs/ID/result.json``         the result, as a download
``GET    /api/jobs/ID/plots``               motion energy and correlation curves
``GET    /api/jobs/ID/log``                 this request's log lines
=========================================  ==============================================

Against other web sites the visitor has open: requests that change anything must carry the
header ``X-Avsync: 1`` (a cross-site page cannot send it without a CORS preflight, which this
server never grants), a loopback server answers only to loopback host names (DNS rebinding),
and every response forbids framing, sniffing and cross-origin embedding.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from avsync.ui.files import UploadError, inside, media_type
from avsync.ui.jobs import JobStore, Limits

STATIC = Path(__file__).with_name("static")
CSRF_HEADER = "X-Avsync"
MAX_JSON_BYTES = 64 << 10
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
_JOB_ID = re.compile(r"^[0-9a-f]{24}$")
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def create_app(work_dir: str | Path, limits: Limits | None = None, *, loopback_only: bool = True,
               log_file: str | Path | None = None) -> Flask:
    """The Flask application. ``work_dir``: where each request gets its folder.
    ``loopback_only``: answer only to requests addressed to 127.0.0.1/localhost."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    store = JobStore(work_dir, limits, log_file=log_file)
    app.extensions["avsync_jobs"] = store

    @app.before_request
    def _guard() -> Response | None:
        if loopback_only and _host_name(request.host) not in LOOPBACK_NAMES:
            return _error(f"this server answers to 127.0.0.1 and localhost, not {request.host!r}", 421)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if request.headers.get(CSRF_HEADER) != "1":
                return _error(f"missing the {CSRF_HEADER} header: requests must come from the avsync page", 403)
            origin = request.headers.get("Origin")
            if origin and origin.split("://", 1)[-1] != request.host:
                return _error("requests from other sites are refused", 403)
            # Uploads are checked against their own limits while they stream; nothing else is big.
            if request.endpoint != "upload" and (request.content_length or 0) > MAX_JSON_BYTES:
                return _error("request too large", 413)
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault("Content-Security-Policy", _CSP)
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.path.startswith("/api/"):
            h.setdefault("Cache-Control", "no-store")
        return resp

    @app.errorhandler(UploadError)
    def _upload_error(exc: UploadError) -> Response:
        return _error(str(exc), exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _error(exc.description or exc.name, exc.code or 500)

    @app.get("/")
    def index() -> Response:
        resp = send_file(STATIC / "index.html", mimetype="text/html", max_age=0)
        return resp

    @app.post("/api/jobs")
    def new_job() -> Response:
        job = store.create()
        return jsonify({**job.to_dict(), "limits": store.limits.to_dict()}), 201

    @app.get("/api/jobs/<job_id>")
    def job_state(job_id: str) -> Response:
        return jsonify(_job(job_id).to_dict())

    @app.delete("/api/jobs/<job_id>")
    def finish(job_id: str) -> Response:
        if not _JOB_ID.match(job_id) or not store.remove(job_id):
            abort(404, "no such request (finished, or expired after a time without use)")
        return Response(status=204)

    @app.put("/api/jobs/<job_id>/files")
    def upload(job_id: str) -> Response:
        job = _job(job_id)
        name = request.args.get("name", "")
        if not name.strip():
            raise UploadError("the upload needs a file name (?name=...)")
        length = request.content_length
        if length is None and "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
            length = 0  # no length and not chunked: HTTP says the body is empty
        added = store.add_upload(job, name, request.stream, length)
        return jsonify(added.to_dict()), 201

    @app.delete("/api/jobs/<job_id>/files/<name>")
    def remove_file(job_id: str, name: str) -> Response:
        store.remove_upload(_job(job_id), name)
        return Response(status=204)

    @app.post("/api/jobs/<job_id>/sync")
    def start_sync(job_id: str) -> Response:
        job = _job(job_id)
        settings = request.get_json(silent=True)
        if settings is None:
            raise UploadError("expected the sync settings as JSON")
        store.start_sync(job, settings)
        return jsonify(job.to_dict()), 202

    @app.get("/api/jobs/<job_id>/media/<name>")
    def media(job_id: str, name: str) -> Response:
        job = _job(job_id)
        upload = job.uploads.get(name)
        if upload is None or not upload.ready:
            abort(404, f"'{name}': no such file in this request")
        resp = send_file(inside(job.upload_dir, name), mimetype=media_type(name), conditional=True, max_age=0)
        resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return resp

    @app.get("/api/jobs/<job_id>/outputs/<name>")
    def output(job_id: str, name: str) -> Response:
        job = _job(job_id)
        if name not in job.outputs:
            abort(404, f"'{name}': no such synced file (yet)")
        return _download(inside(job.output_dir, name), name)

    @app.get("/api/jobs/<job_id>/zip")
    def output_zip(job_id: str) -> Response:
        job = _job(job_id)
        if not job.zip_name:
            abort(404, "the ZIP of the synced files is not ready" + (f": {job.output_error}" if job.output_error else ""))
        return _download(inside(job.output_dir, job.zip_name), job.zip_name)

    @app.get("/api/jobs/<job_id>/result.json")
    def result_json(job_id: str) -> Response:
        job = _job(job_id)
        if job.result is None:
            abort(404, "no result yet")
        resp = jsonify(job.result)
        resp.headers["Content-Disposition"] = "attachment; filename=sync_result.json"
        return resp

    @app.get("/api/jobs/<job_id>/plots")
    def plots(job_id: str) -> Response:
        job = _job(job_id)
        if job.plots is None:
            abort(404, "the plots are not ready")
        return jsonify(job.plots)

    @app.get("/api/jobs/<job_id>/log")
    def job_log(job_id: str) -> Response:
        job = _job(job_id)
        return jsonify({"request_id": job.id, "lines": read_log(job.log_path, job.upload_dir)})

    def _job(job_id: str) -> Any:
        job = store.get(job_id) if _JOB_ID.match(job_id) else None
        if job is None:
            abort(404, "no such request (finished, or expired after a time without use): reload the page to start again")
        return job

    return app


def read_log(path: Path, upload_dir: Path, max_lines: int = 2000) -> list[str]:
    """The request's log lines (the last ``max_lines``), server folders left out of the paths."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-max_lines:]
    prefixes = [str(upload_dir.resolve()) + "/", str(upload_dir) + "/", str(upload_dir.parent / "outputs") + "/"]
    out = []
    for line in lines:
        for p in prefixes:
            line = line.replace(p, "")
        out.append(line)
    return out


def _download(path: Path, name: str) -> Response:
    if not path.is_file():
        abort(404, f"'{name}' is gone")
    return send_file(path, as_attachment=True, download_name=name, conditional=True, max_age=0)


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _error(message: str, status: int) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp
