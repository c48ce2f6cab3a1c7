"""Data-parallel throughput: 1 process (N threads, or 1 GPU) vs N processes under DDP, in one run.

Usage: python benchmarks/ddp_throughput.py [--nproc 2] [--steps 30] [--repeats 3] [--global-batch 256]
Prints one table and writes benchmarks/results/ddp_throughput.json. On a CPU machine N defaults to 2
(gloo, 1 thread per process); with CUDA to the number of GPUs (nccl, one GPU per process).
All setups run inside one torchrun launch, interleaved, so they share the machine's noise.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from course_lib.training.distributed import launch_command  # noqa: E402
from course_lib.training.distributed_checks import throughput_table  # noqa: E402


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_n = torch.cuda.device_count() if torch.cuda.is_available() else 2
    parser.add_argument("--nproc", type=int, default=max(default_n, 1), help="processes (GPUs on CUDA)")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per setup and repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--global-batch", type=int, default=256, help="images per step over all processes")
    parser.add_argument("--dataset", default="mnist", help="model and input shape (data is synthetic)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds before the whole run is stopped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = launch_command(args.nproc, ["bench", "--dataset", args.dataset, "--steps", args.steps,
                                          "--repeats", args.repeats, "--global-batch", args.global_batch,
                                          "--out", out, "--timeout", args.timeout])
        env = {**os.environ, "OMP_NUM_THREADS": "1"}  # each DDP process: 1 thread (rank 0 raises it alone)
        env.pop("COURSE_FAST", None)
        proc = subprocess.run(cmd, cwd=HERE.parent, env=env, capture_output=True, text=True,
                              timeout=args.timeout + 60)
        if proc.returncode != 0 or not out.exists():
            print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode or 1
        result = json.loads(out.read_text())
    result["command"] = " ".join(map(str, cmd[1:])).replace(str(out), "OUT.json")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ddp_throughput.json").write_text(json.dumps(result, indent=2))
    print(throughput_table(result))
    print(f"\nJSON: {HERE / 'results' / 'ddp_throughput.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
