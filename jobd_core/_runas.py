"""The identity job processes run as (``--run-as USER`` when jobd runs as root).

Rules this module keeps:
1. The user is resolved once, at start-up (name or numeric uid -> uid, primary gid, supplementary
   groups, home): a typo fails the start, not every run.
2. The switch happens in the child between fork and exec (subprocess's ``user=``/``group=``/
   ``extra_groups=``: setgroups, setgid, setuid in that order), so jobd itself keeps its identity
   and a failed switch fails that run only.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunAs:
    """Who job processes run as: ``uid``/``gid``, supplementary ``groups``, and the login
    variables (``HOME``, ``USER``, ``LOGNAME``) their environment gets."""

    user: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    @classmethod
    def lookup(cls, user: str) -> RunAs:
        """Resolve ``user`` (a name or a numeric uid) from the password and group databases.

        Raises:
            ValueError: no such user, or this process is not root (only root can switch users).
        """
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except KeyError:
            raise ValueError(f"--run-as: no such user {user!r}") from None
        if os.geteuid() != 0:
            if entry.pw_uid == os.geteuid():
                return cls._of(entry, ())  # already that user: nothing to switch
            raise ValueError("--run-as needs jobd to run as root")
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        return cls._of(entry, tuple(dict.fromkeys(groups)))

    @classmethod
    def _of(cls, entry: pwd.struct_passwd, groups: tuple[int, ...]) -> RunAs:
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)

    def environment(self) -> dict[str, str]:
        """The login variables of this user, to overlay on a job's environment."""
        return {"HOME": self.home, "USER": self.user, "LOGNAME": self.user}

    def describe(self) -> str:
        """``user (uid N, gid M)`` for log lines."""
        try:
            group = grp.getgrgid(self.gid).gr_name
        except KeyError:
            group = str(self.gid)
        return f"{self.user} (uid {self.uid}, gid {self.gid} {group})"
