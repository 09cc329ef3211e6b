"""jobd_core stands alone: it imports and works with the fronts and their libraries blocked."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import jobd_core

BLOCKED = ("jobd_9p", "jobd_fuse", "pyfuse3", "py9p", "struct")
CORE_DIR = Path(jobd_core.__file__).parent

PROBE = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    for name in sys.argv[1:]:
        sys.modules[name] = None  # any import of it now raises ImportError
    import trio
    import jobd_core
    from jobd_core import CoreConfig, OpenMode, open_core

    async def main():
        with tempfile.TemporaryDirectory() as tmp:
            async with open_core(CoreConfig(dbdir=Path(tmp))) as core:
                clone = await core.namespace.root.lookup("clone").open(
                    OpenMode(read=False, write=True))
                await clone.write(0, b"probe:@daily:true\\n")
                cmd = core.namespace.root.lookup("jobs").lookup("probe").lookup("cmd")
                print((await (await cmd.open(OpenMode())).read(0, 100)).decode(), end="")

    trio.run(main)
    """
)


def test_core_works_with_fronts_blocked() -> None:
    # struct can't be blocked for real (the stdlib needs it); its absence from jobd_core's own
    # imports is checked statically below.
    blocked = [name for name in BLOCKED if name != "struct"]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *blocked], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "true\n"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_front_or_wire_modules() -> None:
    forbidden = {*BLOCKED, "socket"}
    for path in sorted(CORE_DIR.glob("*.py")):
        assert not (_imported_modules(path) & forbidden), path.name
