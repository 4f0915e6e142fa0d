"""Atomic file writes, JSON and safetensors helpers, content hashing."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import TransferkitError


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the disk or the quota is full."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def disk_full_is_one_line(path: Path) -> Iterator[None]:
    """A full disk while writing ``path`` becomes one line (the caller's atomic write has
    left what was there before untouched)."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, TransferkitError) or not _disk_full(exc):
            raise
        raise TransferkitError(
            f"no space left on the device while writing {path} (nothing there was changed)",
            "free some space, or write elsewhere (--out; the cache: TRANSFERKIT_CACHE)"
        ) from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    An interrupted write leaves the old file (or nothing) in place, never half a file; a
    full disk is one line (:class:`TransferkitError`).
    """
    path = Path(path)
    with disk_full_is_one_line(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    try:
        with disk_full_is_one_line(path):
            yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


CONFIG = "config.json"  # a saved model's run folder has it
SHALLOW_PREDICTIONS = "target_predictions.csv"  # a shallow `transferkit adapt` run's folder
RUN_KINDS = {CONFIG: "a saved model",
             SHALLOW_PREDICTIONS: "the predictions of a shallow `transferkit adapt` run"}


def check_out_dir(path: str | os.PathLike | None, marker: str) -> None:
    """Refuse an output ``path`` that exists, is not empty and lacks ``marker`` (a folder this
    package did not write) -- call it before long work, so the work is not lost."""
    if path is None:
        return
    path = Path(path)
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise TransferkitError(f"{blocking} is a file, so {path} cannot be created under it",
                               "choose another --out folder")
    if path.exists() and not (path / marker).is_file() and not (
            path.is_dir() and not any(path.iterdir())):
        kind = next((what for file, what in RUN_KINDS.items() if (path / file).is_file()), None)
        raise TransferkitError(
            f"{path} exists and is not a transferkit run dir of this kind"
            + (f" (it holds {kind}, which this command would replace)" if kind else ""),
            "choose another --out folder (nothing was overwritten)")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, only_replace_if: str | None = None) -> Iterator[Path]:
    """Yield a staging folder beside ``path``; on success swap it in by rename.

    The previous folder survives any failure before the swap. ``only_replace_if`` names a
    file an existing non-empty ``path`` must contain (so a foreign folder is never
    overwritten)."""
    path = Path(path)
    with disk_full_is_one_line(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        recover_dir(path)
        if only_replace_if:
            check_out_dir(path, only_replace_if)
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.stage-{os.getpid()}-",
                                      dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp's 0700 would make the run private
    try:
        with disk_full_is_one_line(path):
            yield stage
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(stage, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def recover_dir(path: str | os.PathLike) -> None:
    """Repair what a killed :func:`atomic_dir` left beside ``path``: when ``path`` is missing
    and the previous folder waits under ``.<name>.old-<pid>`` (a kill between the swap's two
    renames), put it back; remove the staging and old folders of processes that are gone
    (those of a live process are its write in progress)."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    leftovers = sorted(path.parent.glob(f".{path.name}.*"), key=lambda p: p.stat().st_mtime,
                       reverse=True)  # the newest old folder is the one to restore
    for leftover in leftovers:
        kind, _, rest = leftover.name[len(path.name) + 2:].partition("-")
        pid = rest.split("-")[0]
        if kind not in ("old", "stage") or not leftover.is_dir() or not pid.isdigit():
            continue
        if int(pid) == os.getpid() or _process_alive(int(pid)):
            continue
        if kind == "old" and not path.exists():
            os.replace(leftover, path)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TransferkitError(f"{path} is not valid JSON ({exc})",
                               "it is damaged: re-create it (e.g. fit the run again)") from exc


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_tensors(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save tensors as safetensors, atomically."""
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(clean, str(tmp), metadata=dict(metadata or {}))


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file (never a pickle)."""
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises several types for damaged files
        raise TransferkitError(
            f"cannot read weights file {path} ({exc})",
            "the file is damaged or not safetensors; re-run `transferkit fit` to recreate it",
        ) from exc


def load_pth_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``.pth`` state dict without unpickling arbitrary objects."""
    return torch.load(str(path), map_location="cpu", weights_only=True)


def sha256_hex(*chunks: bytes | str) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
        h.update(b"\x00")
    return h.hexdigest()


def array_bytes(array: np.ndarray) -> bytes:
    """The content of ``array`` as bytes: its buffer, or for an object array (table rows of
    numbers and text) the values' text -- an object array's buffer holds memory addresses,
    which differ between processes."""
    if array.dtype == object:
        return repr(array.tolist()).encode()
    return np.ascontiguousarray(array).tobytes()


def file_digest(path: str | os.PathLike, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(block):
            h.update(data)
    return h.hexdigest()


def onnx_cache_dir() -> Path:
    """Where exported ONNX models live (``$TRANSFERKIT_ONNX_CACHE`` or ``<cache>/onnx``)."""
    root = os.environ.get("TRANSFERKIT_ONNX_CACHE")
    return Path(root) if root else cache_dir() / "onnx"


def cache_dir() -> Path:
    """Root of transferkit's on-disk cache (``$TRANSFERKIT_CACHE`` or ``~/.cache/transferkit``)."""
    root = os.environ.get("TRANSFERKIT_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "transferkit"
