"""Start JupyterLab on the course (`make lab`) and print the address to open, token included.

As root (containers, cloud machines) JupyterLab refuses to start without `--allow-root`; this adds it
when the user id is 0. Extra arguments go to `jupyter lab` (`make lab LAB_ARGS="--no-browser --port 9999"`).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANDING = "notebooks/week00_start_here.ipynb"  # the page JupyterLab opens first: the course map
URL = re.compile(r"(https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?)/lab\?token=(\w+)")


def lab_command(extra: list[str]) -> list[str]:
    """`python -m jupyter lab` on the course folder, opening the landing page; --allow-root as root."""
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={ROOT}", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return [*cmd, str(ROOT / LANDING)]


def banner(base: str, token: str) -> str:
    """The lines that tell the learner where the course is."""
    rule = "=" * 78
    return (f"\n{rule}\n  The course is running. Open this address in your browser:\n\n"
            f"    {base}/lab/tree/{LANDING}?token={token}\n\n"
            f"  (the whole course: {base}/lab?token={token})\n"
            f"  Stop the server with Ctrl-C in this terminal.\n{rule}\n")


def main(argv: list[str]) -> int:
    proc = subprocess.Popen(lab_command(argv), cwd=ROOT, stderr=subprocess.PIPE, text=True, bufsize=1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches JupyterLab, which asks to confirm
    timer = None
    for line in proc.stderr:  # JupyterLab logs on stderr; pass everything through
        sys.stderr.write(line)
        match = URL.search(line)
        if match and timer is None:  # shown a second later, below JupyterLab's own block of addresses
            timer = threading.Timer(1.0, lambda groups=match.groups(): print(banner(*groups), flush=True))
            timer.start()
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
