"""`avsync ui`: the web page."""

from __future__ import annotations

import argparse
import sys

from avsync.cli import EXIT_USAGE, add_verbose


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be within 0..65535, got {value}")
    return value


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="the web page: upload, sync, review with one seek bar, download",
                       description="Serve the web page on http://HOST:PORT/. Each visitor's files live in their own folder, "
                                   "removed when they finish, after --keep-minutes without use, and when the server stops. "
                                   "Needs the optional extra: pip install 'avsync[ui]'.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--work-dir", metavar="DIR", help="where request folders go (default: a new temporary folder)")
    p.add_argument("--max-file-mb", type=_positive(float), default=4096, metavar="MB", help="largest upload accepted (default: 4096)")
    p.add_argument("--max-request-mb", type=_positive(float), default=16384, metavar="MB",
                   help="largest total of one request's uploads (default: 16384)")
    p.add_argument("--max-files", type=_positive(int), default=8, metavar="N", help="files per request (default: 8)")
    p.add_argument("--max-requests", type=_positive(int), default=8, metavar="N", help="requests with files on the server at once (default: 8)")
    p.add_argument("--keep-minutes", type=_positive(float), default=60, metavar="MIN",
                   help="remove a request's files after this long without use (default: 60)")
    p.add_argument("--log-file", default="logs/video_sync.log", metavar="FILE",
                   help="also append every request's log lines here, tagged with its id (default: logs/video_sync.log; '' for none)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    add_verbose(p)
    p.set_defaults(func=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    if args.max_files < 2:
        print("avsync ui: error: --max-files must be at least 2: a sync compares two or more files", file=sys.stderr)
        return EXIT_USAGE
    try:
        import flask  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("the web page needs Flask: pip install 'avsync[ui]'") from exc
    from avsync.ui.jobs import Limits
    from avsync.ui.server import serve

    limits = Limits(max_file_bytes=int(args.max_file_mb * 2**20), max_job_bytes=int(args.max_request_mb * 2**20),
                    max_files=args.max_files, max_jobs=args.max_requests, keep_s=args.keep_minutes * 60)
    serve(args.host, args.port, work_dir=args.work_dir, limits=limits, log_file=args.log_file or None, open_browser=args.open,
          access_log=bool(getattr(args, "verbose", False)))
    return 0
