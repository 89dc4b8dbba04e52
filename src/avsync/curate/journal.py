"""Append-as-you-go results that survive crashes, and content keys to resume by.

A journal is a JSON Lines file: one record per finished file, written with a single ``write``
and flushed to disk before the next file is reported, so a crash loses at most the file that
was running, and a torn last line (power cut mid-write) is ignored when reading. Records are
keyed by the file's content hash and the analysis settings, so a re-run skips files already
analysed the same way, whatever their name, and redoes those whose content or settings changed.

>>> j = Journal("results.jsonl")                                   # doctest: +SKIP
>>> j.append({"key": "ab12...", "status": "ok"})                   # doctest: +SKIP
>>> j.load()["ab12..."]["status"]                                  # doctest: +SKIP
'ok'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def settings_key(settings: dict[str, Any]) -> str:
    """A short stable hash of a JSON-ready settings dict (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_key(content_sha256: str, settings_hash: str) -> str:
    return hashlib.sha256(f"{content_sha256}:{settings_hash}".encode()).hexdigest()[:32]


class Journal:
    """An append-only JSON Lines file of records that each have a ``key``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, dict[str, Any]]:
        """The records by key (the last record of a key wins); unreadable lines are skipped."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return records
        with self.path.open("r", encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s: line %d is incomplete (a run was stopped while writing it); it is ignored", self.path, number)
                    continue
                if isinstance(rec, dict) and "key" in rec:
                    records[rec["key"]] = rec
        return records

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if os.fstat(fd).st_size and not _ends_with_newline(fd):
                data = b"\n" + data  # after a torn line, start on a fresh one
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def _ends_with_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return os.pread(fd, 1, size - 1) == b"\n"


class ContentHashes:
    """SHA-256 of files, reusing those already known for the same path, size and modification
    time (from an earlier run's records), as git does: a re-run does not read every file again."""

    def __init__(self, known: dict[str, dict[str, Any]] | None = None) -> None:
        self._known: dict[tuple[str, int, int], str] = {}
        for rec in (known or {}).values():
            ident = rec.get("file") or {}
            if {"abspath", "size", "mtime_ns", "sha256"} <= set(ident):
                self._known[(ident["abspath"], ident["size"], ident["mtime_ns"])] = ident["sha256"]

    def identify(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """``{"abspath", "size", "mtime_ns", "sha256"}`` of ``path``."""
        p = Path(path).resolve()
        st = p.stat()
        ident = (os.fspath(p), st.st_size, st.st_mtime_ns)
        sha = self._known.get(ident)
        if sha is None:
            sha = self._known[ident] = sha256_file(p)
        return {"abspath": ident[0], "size": ident[1], "mtime_ns": ident[2], "sha256": sha}
