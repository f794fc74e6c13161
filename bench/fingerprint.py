"""Digests of every dataset and attribute in run files, to show that a change leaves the numbers as they were.

Usage:
  python bench/fingerprint.py run OUT_DIR [SPEC ...]   train each spec headless (CPU, 1 thread) into OUT_DIR
  python bench/fingerprint.py digest RUN.h5 ...        print one line per dataset/attribute: path, shape, sha1
  python bench/fingerprint.py diff DIR_A DIR_B          compare the run files of two such folders, spec by spec

Volatile attributes (creation time, pid, host, elapsed seconds, versions) and the log's timing lines are
left out; everything else (schedule, metrics, snapshots, predictions, curves, analyses) must match bit for bit.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

VOLATILE_ATTRS = {"created", "pid", "hostname", "process_start", "elapsed", "ensgui_version", "torch_version",
                  "seconds", "resumed", "threads"}


def _digest(value) -> str:
    array = np.asarray(value)
    if array.dtype.kind == "O":
        array = np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel()])
    return hashlib.sha1(array.tobytes() + str(array.dtype).encode()).hexdigest()[:16]


def digest(path: Path) -> dict[str, str]:
    """path inside the file -> 'shape sha1' for datasets and 'attr sha1' for attributes."""
    out: dict[str, str] = {}

    def attrs(name: str, obj) -> None:
        for key, value in obj.attrs.items():
            if key not in VOLATILE_ATTRS:
                out[f"{name}@{key}"] = _digest(value)

    with h5py.File(path, "r") as f:
        attrs("/", f)

        def visit(name: str, obj) -> None:
            if name == "log":
                return  # log lines carry timings
            attrs(name, obj)
            if isinstance(obj, h5py.Dataset):
                out[name] = f"{obj.shape} {_digest(obj[()])}"

        f.visititems(visit)
    return out


def run(out: Path, specs: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        folder = out / Path(spec).stem
        folder.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "ensgui", "run", spec, "--out", str(folder), "--threads", "1",
                        "--device", "cpu"], check=False, stdout=subprocess.DEVNULL)


def diff(a: Path, b: Path) -> int:
    problems = 0
    for folder in sorted(p for p in a.iterdir() if p.is_dir()):
        files_a, files_b = sorted(folder.glob("*.h5")), sorted((b / folder.name).glob("*.h5"))
        if len(files_a) != 1 or len(files_b) != 1:
            print(f"{folder.name}: {len(files_a)} vs {len(files_b)} run files")
            problems += 1
            continue
        da, db = digest(files_a[0]), digest(files_b[0])
        changed = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
        print(f"{folder.name}: {len(da)} entries, {'identical' if not changed else f'{len(changed)} differ'}")
        for key in changed[:20]:
            print(f"    {key}: {da.get(key, 'missing')} -> {db.get(key, 'missing')}")
        problems += bool(changed)
    return 1 if problems else 0


def main() -> int:
    command, *args = sys.argv[1:]
    if command == "run":
        run(Path(args[0]), args[1:])
    elif command == "digest":
        for path in args:
            for key, value in sorted(digest(Path(path)).items()):
                print(f"{key}  {value}")
    elif command == "diff":
        return diff(Path(args[0]), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
