"""Runs the web page: a threaded WSGI server, a sweeper for expired requests, cleanup on exit."""

from __future__ import annotations

import errno
import ipaddress
import logging
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from avsync.ui.jobs import Limits

log = logging.getLogger("avsync.ui")

SWEEP_EVERY_S = 60.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8000, *, work_dir: str | Path | None = None, limits: Limits | None = None,
          log_file: str | Path | None = None, open_browser: bool = False, access_log: bool = False) -> None:
    """Serves the page until interrupted; every request's files are removed when it stops.

    ``work_dir``: where requests get their folders (default: a new temporary folder, removed at
    the end). ``port`` 0 picks a free port; the address is printed on stdout either way.
    """
    from werkzeug.serving import make_server

    from avsync.ui.app import create_app

    if not access_log:  # one line per HTTP request is noise unless asked for (--verbose)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    own_dir = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="avsync-ui-")) if own_dir else Path(work_dir)
    loopback = is_loopback(host)
    app = create_app(root, limits, loopback_only=loopback, log_file=log_file)
    store = app.extensions["avsync_jobs"]
    try:
        _check_address(host, port)
        server = make_server(host, port, app, threaded=True)
    except BaseException:
        store.close()
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
        raise
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_until, args=(store, stop), name="avsync-ui-sweeper", daemon=True)
    sweeper.start()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/"
    if not loopback:
        print(f"avsync ui: warning: listening on {host}: anyone who can reach this machine can upload files "
              "and read the results", file=sys.stderr)
    print(f"avsync ui: serving on {url} (Ctrl+C to stop); request folders in {root}", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    _stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        store.close()
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
        print("avsync ui: stopped; request files removed", file=sys.stderr, flush=True)


def _check_address(host: str, port: int) -> None:
    """Fails with one line when the address cannot be bound (werkzeug would print a paragraph
    and exit)."""
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host}: unknown address ({exc.strerror})") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            hint = ": another program uses it; choose another --port" if exc.errno == errno.EADDRINUSE else ""
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from exc


def _stop_on_sigterm() -> None:
    """``kill`` (SIGTERM) stops the server as Ctrl+C does, so the request folders are removed."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return

    def _interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)


def _sweep_until(store, stop: threading.Event) -> None:
    while not stop.wait(SWEEP_EVERY_S):
        store.sweep()
