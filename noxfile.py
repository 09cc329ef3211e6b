"""nox sessions: tests, lint, typecheck, bench, soak, fuzz.

The README's `make test` runs the same pytest suite in the system interpreter (the machine has
no venv); these sessions run it in nox's virtual environments.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (needs the Debian packages of tools/install.sh --test)."""
    session.install("-e", ".[fuse,test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[fuse,test]", "mypy")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against in-run references; writes bench/RESULTS.md."""
    session.install("-e", ".[fuse,test]")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """The long soak: 1,000 jobs firing every second for 10 minutes while 8 clients read and
    list (``nox -s soak -- --seconds 60`` for less); writes bench/SOAK.md, exits 1 on a failed
    check."""
    session.install("-e", ".[test]")
    session.run("python", "bench/soak.py", "--markdown", "bench/SOAK.md", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Coverage-guided fuzzing (atheris): 10^6 inputs each of the wire decoder, of sessions
    over a real core and of raw frames into a real server connection.

    ``nox -s fuzz -- -runs=N`` changes the count; a failing input is written to fuzz/artifacts/
    (add it to fuzz/corpus/ with its fix).
    """
    session.install("-e", ".[test]", "atheris")
    flags = session.posargs or ["-runs=1000000"]
    session.run("mkdir", "-p", "fuzz/artifacts", external=True)
    for target in ("fuzz/fuzz_wire.py", "fuzz/fuzz_session.py", "fuzz/fuzz_server.py"):
        session.run("python", target, *flags, "-max_len=400", "-print_final_stats=1",
                    "-artifact_prefix=fuzz/artifacts/")
