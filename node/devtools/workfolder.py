"""The folder a script (the demo, the bench, the chaos run) works in: the
one its --dir names, kept afterwards, or else a fresh temporary folder that
is removed when the script ends, however it ends, so a run leaves nothing
behind in the temporary directory (a 4-node run writes tens of megabytes of
LevelDB files and logs).

Only the folder this module made is ever removed: a folder given by --dir
is never touched. The caller stops every process that writes into the
folder before the `with` block ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class WorkFolder:
    path: Path
    kept: bool   # given by --dir: it stays; else a temporary one, removed at the end


@contextmanager
def work_folder(given: str | Path | None, prefix: str) -> Iterator[WorkFolder]:
    """`given` (as it is, kept), else a new temporary folder named
    `prefix...`, removed with everything in it when the block ends."""
    if given is not None:
        path = Path(given).resolve()
        yield WorkFolder(path, kept=True)
        return
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield WorkFolder(path, kept=False)
    finally:
        shutil.rmtree(path, ignore_errors=True)
