"""The ``avsync`` command line: one entry point, one module per subcommand.

Each module in ``COMMANDS`` defines ``add_parser(subparsers)`` (which must set ``func`` with
``set_defaults``) and keeps heavy imports inside the function that runs the command.

Exit status: 0 on success, 1 when the work ran but something failed, 2 for bad usage. Errors are
one line on stderr; ``--verbose`` adds the Python traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from importlib import import_module

from avsync import __version__

# subcommand -> module that defines it, in the order `avsync --help` lists them
COMMANDS: dict[str, str] = {
    "demo": "avsync.cli.demo_cmd",
    "sync": "avsync.cli.sync_cmds",
    "apply": "avsync.cli.sync_cmds",
    "review": "avsync.cli.review_cmds",
    "export": "avsync.cli.review_cmds",
    "info": "avsync.cli.media_cmds",
    "extract-audio": "avsync.cli.media_cmds",
    "ui": "avsync.cli.ui_cmd",
    "lipsync": "avsync.cli.lipsync_cmd",
    "speakers": "avsync.cli.speakers_cmd",
    "chunk-time": "avsync.cli.chunk_cmds",
    "chunk-silence": "avsync.cli.chunk_cmds",
    "long-video": "avsync.cli.curate_cmds",
    "batch": "avsync.cli.curate_cmds",
    "filter": "avsync.cli.curate_cmds",
    "train-syncnet": "avsync.cli.train_cmd",
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandFailed(Exception):
    """Raised by a command to end with one error line and exit status 1."""


def normalise_flags(argv: Sequence[str]) -> list[str]:
    """Accepts the underscore spellings of long flags (``--input_dir``) that the SyncNet scripts
    use, as aliases of the hyphenated ones. Values are left untouched."""
    out: list[str] = []
    passthrough = False
    for arg in argv:
        if passthrough or not arg.startswith("--") or arg == "--":
            passthrough = passthrough or arg == "--"
            out.append(arg)
            continue
        name, eq, value = arg.partition("=")
        out.append(name.replace("_", "-") + eq + value)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avsync",
        description="Audio-visual synchronisation: multi-camera offsets and lip-sync measurement.",
    )
    parser.add_argument("--version", action="version", version=f"avsync {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen: set[str] = set()
    for module in COMMANDS.values():
        if module not in seen:
            seen.add(module)
            import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = normalise_flags(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_in)
    verbose = bool(getattr(args, "verbose", False))
    _console_logging(verbose)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = args.func(args)
        return EXIT_OK if code is None else int(code)
    except KeyboardInterrupt:
        print("avsync: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into one line
        if verbose:
            traceback.print_exc()
        print(f"avsync {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED


def _console_logging(verbose: bool) -> None:
    """Warnings (everything with --verbose) on stderr; log files get their own handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("avsync: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing {text}"
    return " ".join(text.split())


def one_video(args: argparse.Namespace, flag: str) -> str:
    """The VIDEO given positionally or with ``flag`` (the SyncNet scripts' spelling), once."""
    video = args.video or args.video_flag
    if not video or (args.video and args.video_flag and args.video != args.video_flag):
        raise CommandFailed(f"give one VIDEO (positional or {flag})")
    return str(video)


def add_verbose(p: argparse.ArgumentParser) -> None:
    """Lets ``--verbose`` stand after the subcommand too."""
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging and full tracebacks")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
