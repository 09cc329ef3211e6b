"""Import of the Go original's text database (``jobs.db``: one ``name:schedule:cmd`` per line).

Rules this module keeps:
1. The import runs once: only when our own database does not exist yet (``open_core`` checks).
2. Jobs come in stopped, as the original loaded them (its ``jobs.db`` holds no state and its
   ``mkJobDefinition`` makes every job ``stopped``).
3. A line that does not make a valid job is logged and skipped; the rest still come in.
4. The old file is kept, renamed to ``jobs.db.imported``, after every job is committed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ._errors import JobdError, NoSpace, StorageError
from ._registry import Registry
from ._validate import parse_definition

log = logging.getLogger(__name__)

LEGACY_NAME = "jobs.db"
IMPORTED_SUFFIX = ".imported"


async def import_legacy(registry: Registry, path: Path) -> int:
    """Create a (stopped) job for each valid line of ``path``, then rename it to ``*.imported``.

    Returns the number of jobs imported.

    Raises:
        StorageError, NoSpace: a commit failed (the file is left in place).
        OSError: the file cannot be read or renamed.
    """
    data = path.read_bytes()
    imported = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            name, expression, command = parse_definition(raw)
            await registry.create(name, expression, command)
        except (StorageError, NoSpace):
            raise  # the store failed, not the line
        except JobdError as exc:
            log.warning("%s:%d: not imported: %s", path, number, exc,
                        extra={"legacy_file": str(path), "line": number})
            continue
        imported += 1
    backup = path.with_name(path.name + IMPORTED_SUFFIX)
    os.replace(path, backup)
    log.info("imported %d jobs from %s (kept as %s)", imported, path, backup.name)
    return imported
