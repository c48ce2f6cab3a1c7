"""`python -m course_lib.launch [torchrun flags] -m course_lib.parallel ...`: torchrun, with the course's timeout.

The same flags as `torchrun` (`python -m torch.distributed.run`), two differences:
- the rendezvous gives up after $COURSE_DDP_TIMEOUT seconds (default 300), not torchrun's 600, unless
  `--rdzv_conf` (or $PET_RDZV_CONF) sets its own;
- a failure ends in ONE line on stderr, not torchrun's traceback: exit status 2 when the processes never
  met (a node that never comes), 1 when a worker failed (its own `error: ...` line is above).
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

from .config import timeout_from_env


def with_rendezvous_timeout(argv: Sequence[str], timeout_s: float) -> list[str]:
    """torchrun's arguments with `--rdzv_conf=join_timeout=S,timeout=S` added unless the user set one."""
    argv = list(argv)
    flags = argv[:argv.index("-m")] if "-m" in argv else argv  # torchrun's own flags come before `-m`
    if os.environ.get("PET_RDZV_CONF") or any(a.split("=")[0] in ("--rdzv_conf", "--rdzv-conf") for a in flags):
        return argv
    seconds = max(1, round(timeout_s))
    return [f"--rdzv_conf=join_timeout={seconds},timeout={seconds}", *argv]


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    first = lines[0][:300] if lines else ""
    return type(exc).__name__ + (f": {first}" if first and first != type(exc).__name__ else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run torchrun in this process; its failures become one `error: ...` line."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun_main

    try:
        timeout_s = timeout_from_env()
    except ValueError as exc:  # ConfigError
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    argv = with_rendezvous_timeout(sys.argv[1:] if argv is None else argv, timeout_s)
    try:
        torchrun_main(argv)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        how = f"signal {failure.signal_name()}" if failure.exitcode < 0 else f"exit status {failure.exitcode}"
        print(f"error: worker rank {rank} failed first ({how}; {len(exc.failures)} failed in all): its own "
              "message is above; fix that, then run the same command again (a checkpoint resumes)",
              file=sys.stderr, flush=True)
        return 1
    except Exception as exc:  # the rendezvous: a node that never came, a wrong address
        print(f"error: the processes did not all meet within the rendezvous timeout ({_first_line(exc)}): "
              "start the same command on every node (same --nnodes, --master_addr/"
              f"--master_port or --rdzv_endpoint), or allow more time with COURSE_DDP_TIMEOUT (now {timeout_s:g} s)",
              file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
