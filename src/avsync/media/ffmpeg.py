"""Running the ffmpeg command line safely: argument lists only (never a shell string), one-line
errors, and outputs written under a temporary name and renamed when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from avsync.errors import MediaError


def _read_umask() -> int:
    mask = os.umask(0)  # read once at import, before any threads exist: os.umask can only set
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def ffmpeg_binary() -> str:
    """The ffmpeg executable: ``$AVSYNC_FFMPEG`` or the one on PATH."""
    exe = os.environ.get("AVSYNC_FFMPEG") or shutil.which("ffmpeg")
    if not exe:
        raise MediaError("ffmpeg was not found on PATH: install it (Debian/Ubuntu: apt-get install ffmpeg) or set AVSYNC_FFMPEG")
    return exe


def run_ffmpeg(
    args: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    timeout: float | None = None,
    progress_s: float | None = None,
    progress_desc: str | None = None,
) -> None:
    """Runs ``ffmpeg -hide_banner -nostdin -v error -y ARGS``; on failure raises MediaError with
    ``what`` and ffmpeg's last error line. ``progress_s``: the output's expected length, to show
    a progress bar (in seconds of output) on an interactive stderr."""
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
    show = bool(progress_s) and sys.stderr.isatty()
    if show:
        cmd += ["-progress", "pipe:1", "-nostats"]
    cmd += [os.fspath(a) for a in args]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if show else subprocess.DEVNULL, stderr=err)
        try:
            if show:
                _follow_progress(proc, progress_s or 0.0, progress_desc or what)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.wait()
            raise MediaError(f"{what}: ffmpeg took longer than {timeout:.0f} s") from exc
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            err.seek(0)
            lines = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit status {proc.returncode}"
            raise MediaError(f"{what}: ffmpeg failed ({reason})")


def _follow_progress(proc: subprocess.Popen, total_s: float, desc: str) -> None:
    from avsync.progress import progress_bar

    assert proc.stdout is not None
    done = 0.0
    with progress_bar(total=round(total_s, 1), desc=desc, unit="s", enabled=True) as bar:
        for raw in proc.stdout:
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                now = min(total_s, int(value) / 1e6)
                bar.update(round(now - done, 1))
                done = now


def check_not_input(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuses to write over any input file."""
    out = Path(output).resolve()
    for src in inputs:
        with contextlib.suppress(OSError):
            if Path(src).resolve() == out or (out.exists() and os.path.samefile(src, out)):
                raise MediaError(f"'{output}': refusing to overwrite an input file")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same extension, so ffmpeg picks the same muxer);
    renames it onto ``path`` when the block succeeds, removes it otherwise."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes the file private (0600); the output should get the usual permissions.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Writes a text file atomically (JSON results, summaries)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def extract_audio(
    path: str | os.PathLike[str], output: str | os.PathLike[str], *, sample_rate: int = 16000, channels: int = 1
) -> Path:
    """Writes the audio of ``path`` as 16-bit PCM WAV at ``sample_rate`` with ``channels``."""
    if not Path(path).is_file():
        raise MediaError(f"'{path}': no such file")
    if sample_rate < 1000 or channels < 1:
        raise ValueError("sample_rate must be >= 1000 Hz and channels >= 1")
    check_not_input(output, [path])
    with atomic_output(output) as tmp:
        run_ffmpeg(
            ["-i", path, "-vn", "-map", "0:a:0?", "-ac", str(channels), "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "wav", tmp],
            what=f"'{path}': extracting audio",
        )
        if tmp.stat().st_size <= 44:
            raise MediaError(f"'{path}': no audio stream")
    return Path(output)
