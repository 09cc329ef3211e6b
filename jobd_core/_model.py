"""The job model shared by the registry, the namespace, the store and the scheduler.

Rules this module keeps:
1. ``Job`` is the single in-memory record of a job; everything else refers to it (never copies it).
2. ``JobSettings`` is persisted with the job; ``JobRuntime`` lives only in memory (the scheduler
   keeps it, ``status`` shows it). ``run_count`` counts runs since this process started.
3. ``Job.deleted`` is set once, when the job is removed; a deleted job is never resurrected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .schedule import Schedule


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Per-job options, persisted with the job (``_settings`` parses, checks and shows them).

    Immutable: a change replaces the job's whole ``JobSettings``, so jobs may share one.
    """

    catchup: str = "off"  # "off" | "latest"
    output_limit: int = 64 * 1024  # bytes of output kept per run
    kill_grace: float = 5.0  # seconds between SIGTERM and SIGKILL on kill
    timeout: float = 0.0  # seconds a run may take before it is killed; 0 = no limit
    overlap: str = "skip"  # "skip" | "allow" | "replace": a fire while a run is going
    jitter: float = 0.0  # seconds: each scheduled run starts after a random delay up to this
    retries: int = 0  # re-runs of a failed run
    backoff: float = 5.0  # seconds before retry k (0-based): backoff * 2**k
    env: tuple[tuple[str, str], ...] = ()  # (NAME, value) added to the environment, by name
    workdir: str | None = None  # absolute working directory; None = jobd's
    history: int | None = None  # bytes of log kept for this job; None = jobd's default


@dataclass(slots=True)
class JobRuntime:
    """In-memory run state, maintained by the scheduler and shown in ``status``."""

    next_run: datetime | None = None
    last_start: datetime | None = None
    last_end: datetime | None = None
    last_result: str | None = None  # "exit 0", "exit 3", "killed by SIGTERM"
    last_lateness: float | None = None  # seconds: actual process start - scheduled instant
    run_count: int = 0  # runs started since jobd started (not persisted)
    running_pid: int | None = None
    skipped: int = 0  # fires skipped because the previous run was still going
    missed: int = 0  # fires missed while jobd was down
    running_pids: tuple[int, ...] = ()  # every running instance (``overlap allow``), oldest first
    timeouts: int = 0  # runs killed for exceeding ``settings.timeout``
    retried: int = 0  # retries started after a failed run


@dataclass(eq=False, slots=True)
class Job:
    """One job: its persistent definition plus its in-memory runtime."""

    id: int  # persistent, never reused (sqlite AUTOINCREMENT)
    name: str
    command: str
    schedule: Schedule  # parsed (jobd_core.schedule)
    started: bool
    settings: JobSettings
    created_at: datetime
    last_fire: datetime | None  # persisted scheduled instant of the last fire handled
    runtime: JobRuntime = field(default_factory=JobRuntime)
    deleted: bool = False


class JobEntry:
    """The registry's per-job bookkeeping beside the ``Job``: node versions, mtimes and the
    retained log length. Kept small (slots, ints) because there may be 100k jobs."""

    __slots__ = (
        "changed_ns",
        "created_ns",
        "fire_saved_ns",
        "job",
        "log_bytes",
        "log_end",
        "log_mtime_ns",
        "pending_log_bytes",
        "seen_next_run",
        "status_ns",
        "v_cmd",
        "v_ctl",
        "v_log",
        "v_schedule",
        "v_status",
    )

    def __init__(self, job: Job, created_ns: int, changed_ns: int) -> None:
        self.job = job
        self.created_ns = created_ns
        self.changed_ns = changed_ns  # last change of the definition or state
        self.status_ns = changed_ns  # last runtime change
        self.log_bytes = 0  # retained in the store, as read ("line\n" each)
        self.log_end = 0  # the store's stream position after its last line (_store rule 4)
        self.pending_log_bytes = 0  # appended, not yet committed
        self.log_mtime_ns: int | None = None
        self.fire_saved_ns: int | None = None  # last_fire as persisted
        self.seen_next_run: datetime | None = None
        self.v_ctl = self.v_cmd = self.v_schedule = self.v_log = self.v_status = 0
