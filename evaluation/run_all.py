"""All four steps in one command, for plain copies and degraded ones ("another camera").

    python -m evaluation.run_all --demo                       # built-in generated set, a few minutes on 2 cores
    python -m evaluation.run_all --originals ../shared/media/talking --offsets-ms=-1500,700 \\
        --output evaluation/results/talking

For each condition (``--conditions plain,degraded``) it runs offset_generation into
``OUTPUT/CONDITION/cases``, run_batch into ``OUTPUT/CONDITION`` (results.csv, cases.jsonl,
diagnostics/), compute_metrics (metrics.json, metrics.md) and visualize_results (plots/), then
writes ``OUTPUT/summary.md`` with the main table of every condition and ``OUTPUT/comparison.png``
(every method under every condition). Re-running resumes: copies
and results already made are kept (``--force`` redoes them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from evaluation import compute_metrics, offset_generation
from evaluation.common import DEFAULT_RESULTS, run_cli

CONDITIONS = {"plain": [], "degraded": ["--degrade"]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.run_all", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--demo", type=int, nargs="?", const=3, metavar="N", help="generate N demo originals (default 3)")
    src.add_argument("--originals", type=Path, help="folder of original videos")
    p.add_argument("--output", type=Path, help="default: evaluation/results/demo or evaluation/results/run")
    p.add_argument("--offsets-ms", type=offset_generation.parse_offsets, default=list(offset_generation.DEFAULT_OFFSETS_MS))
    p.add_argument("--conditions", default="plain,degraded", help="comma-separated: plain, degraded")
    p.add_argument("--max-drift-ppm", type=float, default=0.0, help="clock drift of degraded copies (default none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="remake copies and rerun every case")
    return p


def _step(name: str, argv: list[str]) -> None:
    """Runs one step in its own Python process, so run_batch's memory figures are not inflated by
    what earlier steps imported (pandas, matplotlib)."""
    print(f"== {name} {' '.join(argv)}", file=sys.stderr, flush=True)
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    code = subprocess.run([sys.executable, "-m", f"evaluation.{name}", *argv], env=env).returncode
    if code != 0:
        raise RuntimeError(f"{name} ended with exit status {code}")


def run(args: argparse.Namespace) -> int:
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        raise ValueError(f"--conditions must be a subset of {','.join(CONDITIONS)}, got {args.conditions!r}")
    out = args.output or DEFAULT_RESULTS / ("demo" if args.demo is not None else "run")
    offsets = "--offsets-ms=" + ",".join(str(o) for o in args.offsets_ms)
    force = ["--force"] if args.force else []
    started = time.perf_counter()
    tables = []
    for cond in conditions:
        base = out / cond
        gen = ["--output-dir", str(base / "cases"), offsets, "--seed", str(args.seed), *CONDITIONS[cond], *force]
        if args.demo is not None:
            gen += ["--demo", str(args.demo), "--originals", str(out / "originals")]
        else:
            gen += ["--originals", str(args.originals)]
        if cond == "degraded" and args.max_drift_ppm:
            gen += ["--max-drift-ppm", str(args.max_drift_ppm)]
        _step("offset_generation", gen)
        _step("run_batch", ["--metadata", str(base / "cases" / "metadata.csv"), "--results-dir", str(base),
                            "--diagnostics-dir", str(base / "diagnostics"), *force])
        _step("compute_metrics", ["--results", str(base / "results.csv"), "--output", str(base), "--title", f"{cond} copies"])
        _step("visualize_results", ["--results", str(base / "results.csv"), "--diagnostics-dir", str(base / "diagnostics"),
                                    "--output", str(base / "plots")])
        metrics = json.loads((base / "metrics.json").read_text(encoding="utf-8"))
        tables.append(compute_metrics.markdown(metrics, f"{cond} copies").split("\n\n### ")[0])
    compare = [f"--compare={cond}={out / cond / 'results.csv'}" for cond in conditions]
    _step("visualize_results", [*compare, "--output", str(out)])
    from avsync.media.ffmpeg import write_text_atomic

    elapsed = time.perf_counter() - started
    source = f"the built-in demo set ({args.demo} generated scenes)" if args.demo is not None else f"the originals in {args.originals}"
    summary = (f"# Evaluation summary\n\nSource: {source}; offsets {', '.join(f'{o:+d}' for o in args.offsets_ms)} ms; "
               f"seed {args.seed}; {elapsed:.0f} s.\n\n" + "\n\n".join(tables) + "\n")
    write_text_atomic(out / "summary.md", summary)
    print(summary)
    print(f"summary: {out / 'summary.md'}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("run_all", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
