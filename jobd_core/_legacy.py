"""Import of the Go original's text database (``jobs.db``: one ``name:schedule:cmd`` per line).

Rules this module keeps:
1. The import starts only when our own database does not exist yet. It first renames ``jobs.db``
   to ``jobs.db.importing``; a start that finds that file resumes the import (names already
   imported are skipped), so a crash midway loses nothing and duplicates nothing.
2. Jobs come in stopped, as the original loaded them (its ``jobs.db`` holds no state and its
   ``mkJobDefinition`` makes every job ``stopped``).
3. A line that does not make a valid job is logged and skipped; the rest still come in.
4. The old file is kept, renamed to ``jobs.db.imported``, once every job is committed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ._errors import Exists, JobdError, NoSpace, StorageError
from ._registry import Registry
from ._validate import parse_definition

log = logging.getLogger(__name__)

LEGACY_NAME = "jobs.db"
IMPORTING_SUFFIX = ".importing"
IMPORTED_SUFFIX = ".imported"


async def import_legacy_if_due(registry: Registry, dbdir: Path, *, first_start: bool) -> int:
    """Run or resume the one-time import of ``dbdir/jobs.db`` (see the module rules).

    Returns the number of jobs imported now.

    Raises:
        StorageError, NoSpace: a commit failed (the import resumes at the next start).
        OSError: the file cannot be read or renamed.
    """
    legacy = dbdir / LEGACY_NAME
    importing = dbdir / (LEGACY_NAME + IMPORTING_SUFFIX)
    if first_start and legacy.is_file():
        os.replace(legacy, importing)
    elif legacy.is_file():
        log.warning("%s ignored: our database exists (the import runs once; rename it to %s to "
                    "silence this)", legacy, LEGACY_NAME + IMPORTED_SUFFIX)
    if not importing.is_file():
        return 0
    return await import_legacy(registry, importing)


async def import_legacy(registry: Registry, path: Path) -> int:
    """Create a (stopped) job for each valid line of ``path``, then rename it to
    ``jobs.db.imported`` beside it. Lines naming an existing job are skipped.

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
        except Exists as exc:
            log.info("%s:%d: skipped: %s", path, number, exc)
            continue
        except JobdError as exc:
            log.warning("%s:%d: not imported: %s", path, number, exc,
                        extra={"legacy_file": str(path), "line": number})
            continue
        imported += 1
    backup = path.with_name(LEGACY_NAME + IMPORTED_SUFFIX)
    os.replace(path, backup)
    log.info("imported %d jobs from %s (kept as %s)", imported, path, backup.name)
    return imported
