"""src/avsync/_core.pyi against the compiled module: the same names, the same parameters (names,
order, defaults, types as pybind11 records them), and dictionaries with the keys and value types
the stub's TypedDicts promise. mypy's stubtest and mypy itself run in a slow test."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import numpy as np
import pytest
from core_media import media

from avsync import _core

ROOT = Path(__file__).resolve().parents[1]
STUB = Path(_core.__file__).with_name("_core.pyi")
if not STUB.exists():  # an editable install keeps the stub in the source tree
    STUB = ROOT / "src" / "avsync" / "_core.pyi"

# pybind11's spelling of a type -> the stub's.
_RUNTIME_TO_STUB = [
    ("typing.SupportsInt | typing.SupportsIndex", "_Int"),
    ("typing.SupportsFloat | typing.SupportsIndex", "_Float"),
    ("collections.abc.Sequence", "Sequence"),
    ("numpy.typing.NDArray", "npt.NDArray"),
    ("numpy.ndarray", "npt.NDArray[Any]"),
    ("numpy.", "np."),
]


def runtime_signature(fn) -> tuple[list[tuple[str, str, str | None]], str]:
    """[(name, type, default)], return type, from the signature line pybind11 puts first in the
    docstring; ``self`` dropped."""
    first = fn.__doc__.strip().splitlines()[0]
    match = re.fullmatch(r"\w+\((.*)\) -> (.+)", first)
    assert match, first
    params = []
    for part in split_top_level(match.group(1)):
        name, _, rest = part.partition(": ")
        annotation, _, default = rest.partition(" = ")
        if name != "self":
            params.append((name, normalise(annotation), default or None))
    return params, normalise(match.group(2))


def split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current.strip()] if p]


def normalise(runtime_type: str) -> str:
    for old, new in _RUNTIME_TO_STUB:
        runtime_type = runtime_type.replace(old, new)
    return runtime_type


def stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text())


def stub_signature(fn: ast.FunctionDef) -> tuple[list[tuple[str, str, str | None]], str]:
    args = [a for a in fn.args.args if a.arg != "self"]
    defaults = [None] * (len(args) - len(fn.args.defaults)) + [ast.unparse(d) for d in fn.args.defaults]
    return [(a.arg, ast.unparse(a.annotation), d) for a, d in zip(args, defaults)], ast.unparse(fn.returns)


def stub_names(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign):
            names[node.target.id] = node
    return names


def typed_dicts(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef) and any(ast.unparse(b) == "TypedDict" for b in n.bases)}


def runtime_names() -> set[str]:
    return {n for n in dir(_core) if not n.startswith("__")}


def test_same_names():
    stubbed = {n for n in stub_names(stub_tree()) if not n.startswith("_") or n == "_check_worker_exception"}
    assert stubbed == runtime_names()


def compare(where: str, runtime, stub: ast.FunctionDef, dicts: set[str]) -> None:
    (r_params, r_return), (s_params, s_return) = runtime_signature(runtime), stub_signature(stub)
    assert [p[0] for p in s_params] == [p[0] for p in r_params], where
    for (name, r_type, r_default), (_, s_type, s_default) in zip(r_params, s_params):
        assert s_type == r_type, f"{where}({name}): stub {s_type!r}, module {r_type!r}"
        assert (s_default is None) == (r_default is None), f"{where}({name}): default"
        if s_default not in (None, "..."):
            assert ast.literal_eval(s_default) == ast.literal_eval(r_default), f"{where}({name}) default"
    if r_return == "dict":  # pybind11 says only "dict": the stub names its keys
        assert s_return in dicts, f"{where}: returns {s_return}"
    elif r_return == "tuple":
        assert s_return.startswith("tuple["), f"{where}: returns {s_return}"
    else:
        assert s_return == r_return, f"{where}: stub returns {s_return!r}, module {r_return!r}"


def test_functions_and_methods_match():
    tree = stub_tree()
    names, dicts = stub_names(tree), typed_dicts(tree)
    checked = 0
    for name in sorted(runtime_names()):
        obj, node = getattr(_core, name), names[name]
        if isinstance(node, ast.FunctionDef):
            compare(name, obj, node, dicts)
            checked += 1
        elif isinstance(node, ast.ClassDef):
            members = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
            runtime_members = {m for m in vars(obj) if not m.startswith("_")} | {"__init__"}
            assert set(members) == runtime_members, name
            for member, fn in members.items():
                is_property = any(ast.unparse(d) == "property" for d in fn.decorator_list)
                assert is_property == isinstance(getattr(obj, member), property), f"{name}.{member}"
                if not is_property:
                    compare(f"{name}.{member}", getattr(obj, member), fn, dicts)
                    checked += 1
    assert checked >= 15


def load_stub_module():
    """The stub executed as a module, to evaluate its TypedDicts' annotations."""
    from importlib.machinery import SourceFileLoader

    loader = SourceFileLoader("avsync_core_stub", str(STUB))
    spec = importlib.util.spec_from_loader("avsync_core_stub", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def check_value(where: str, value, expected) -> None:
    origin = typing.get_origin(expected)
    if expected is type(None):
        assert value is None, where
    elif origin in (typing.Union, types.UnionType):
        assert any(_matches(value, t) for t in typing.get_args(expected)), f"{where}: {value!r} is not {expected}"
    else:
        assert _matches(value, expected), f"{where}: {value!r} is not {expected}"


def _matches(value, expected) -> bool:
    if expected is type(None):
        return value is None
    origin = typing.get_origin(expected)
    if origin is np.ndarray:
        dtype = typing.get_args(typing.get_args(expected)[1])[0]
        return isinstance(value, np.ndarray) and value.dtype == dtype
    if origin is list:
        return isinstance(value, list)
    if expected is float:
        return isinstance(value, float)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_typed_dict(where: str, value: dict, cls) -> None:
    hints = typing.get_type_hints(cls)
    if cls.__total__:
        assert set(value) == set(hints), f"{where}: keys {sorted(value)} vs stub {sorted(hints)}"
    else:
        assert set(value) <= set(hints), f"{where}: keys {sorted(set(value) - set(hints))} not in the stub"
    for key, item in value.items():
        check_value(f"{where}[{key!r}]", item, hints[key])


def test_returned_dicts_have_the_stubs_keys_and_types():
    stub = load_stub_module()
    video, audio = str(media("h264_aac.mp4")), str(media("cover_art.mp3"))
    check_typed_dict("ffmpeg_versions()", _core.ffmpeg_versions(), stub._FFmpegVersions)
    for path in (video, audio):
        info = _core.probe(path)
        check_typed_dict("probe()", {k: v for k, v in info.items() if k != "streams"} | {"streams": []}, stub._MediaInfo)
        for s in info["streams"]:
            check_typed_dict("probe()['streams'][i]", s, stub._StreamInfo)
    check_typed_dict("VideoDecoder.info", _core.VideoDecoder(video, 16, 16).info, stub._VideoInfo)
    check_typed_dict("MotionReader.info", _core.MotionReader(video, 16, 16).info, stub._VideoInfo)
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    check_typed_dict("gcc_phat()", _core.gcc_phat(x, x), stub._PhatPeak)
    check_typed_dict("gcc_phat_windowed()", _core.gcc_phat_windowed(x, x, 1000, 500, 50), stub._WindowedPeaks)


def test_properties_have_the_stubs_types():
    tree = stub_tree()
    names = stub_names(tree)
    stub = load_stub_module()
    objects = {
        "AudioDecoder": _core.AudioDecoder(str(media("opus.ogg")), 16000),
        "VideoDecoder": _core.VideoDecoder(str(media("h264_aac.mp4")), 16, 16),
        "MotionReader": _core.MotionReader(str(media("h264_aac.mp4")), 16, 16),
    }
    for cls_name, obj in objects.items():
        for fn in names[cls_name].body:
            if isinstance(fn, ast.FunctionDef) and fn.decorator_list:
                expected = typing.get_type_hints(getattr(getattr(stub, cls_name), fn.name).fget)["return"]
                value = getattr(obj, fn.name)
                if typing.is_typeddict(expected):
                    check_typed_dict(f"{cls_name}.{fn.name}", value, expected)
                elif typing.get_origin(expected) is tuple:
                    assert isinstance(value, tuple) and all(_matches(v, t) for v, t in zip(value, typing.get_args(expected)))
                else:
                    check_value(f"{cls_name}.{fn.name}", value, expected)


def test_module_attributes():
    assert isinstance(_core.__version__, str) and _core.__version__
    assert isinstance(_core.CONFIDENCE_EXCESS_FLOOR, float)
    assert isinstance(_core.CONFIDENCE_EXCESS_SCALE, float)


@pytest.mark.slow
def test_mypy_stubtest():
    """mypy's own check of the stub against the module (pybind11's metaclass allowlisted)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "avsync._core", "--allowlist", str(ROOT / "tests" / "stubtest_allowlist.txt")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_wrappers_type_check_against_the_stub():
    files = ["src/avsync/phat.py", "src/avsync/media/audio.py", "src/avsync/media/video.py", "src/avsync/media/probe.py"]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-incremental", *files],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
