"""Immutable copies of the ruleset folder for the gunicorn workers of `decisions serve`.

Workers start at any time (at boot, after a crash, when gunicorn replaces one), and each loads
its rules when it starts. Were they to read the ruleset folder itself, a worker starting while
someone edits it would load half-edited rules, or broken ones, and gunicorn stops the whole
server when a worker fails to boot. So the workers read a snapshot instead: a copy of the
folder that was checked (loaded, compiled, every case run in a child process) before it was
published, and that never changes afterwards. A reload stages a new copy, checks it, and only
then points ``current`` at it; a worker reads ``current`` once, when it starts.

No Flask here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

KEEP = 3  # snapshots kept besides the current one (an engine process may restart from one)


class RulesetSnapshots:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def stage(self, source: str | Path) -> Path:
        """Copy ``source`` into a new snapshot, not yet current. The copy keeps the folder's
        own name, so problems are reported with the same paths as in the source."""
        source = Path(source).resolve()
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # sorts in staging order
        target = self.root / name / source.name
        shutil.copytree(source, target, symlinks=False)
        return target

    def publish(self, staged: Path) -> None:
        """Make a checked snapshot the current one (atomically), then drop old ones."""
        (staged.parent / "digest").write_text(folder_digest(staged), encoding="utf-8")
        pointer = self.root / "current"
        temporary = self.root / f".current-{uuid.uuid4().hex}"
        temporary.write_text(str(staged.relative_to(self.root)), encoding="utf-8")
        os.replace(temporary, pointer)
        for old in self._snapshots()[:-(KEEP + 1)]:
            if old != staged.parent:
                shutil.rmtree(old, ignore_errors=True)

    def discard(self, staged: Path) -> None:
        shutil.rmtree(staged.parent, ignore_errors=True)

    def current_digest(self) -> str | None:
        """The digest of the folder the current snapshot was copied from (None: none yet)."""
        try:
            return (self.current().parent / "digest").read_text(encoding="utf-8")
        except OSError:
            return None

    def current(self) -> Path:
        pointer = self.root / "current"
        return self.root / pointer.read_text(encoding="utf-8").strip()

    def _snapshots(self) -> list[Path]:
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir())


def folder_digest(folder: str | Path) -> str:
    """sha256 of every file's relative path and bytes: equal digests, same rulesets."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
