"""Data-parallel training on N processes, launched by torchrun (the code is course_lib.training.distributed).

One machine (torchrun starts N processes and sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT):

    torchrun --standalone --nproc_per_node=2 -m course_lib.parallel --dataset mnist --epochs 2
    python -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel ...  # a chosen python
    python -m course_lib.launch --standalone --nproc_per_node=2 -m course_lib.parallel ...  # + one-line errors

Every TrainConfig field is a flag (not given: the data set's recipe); `--batch-size` is *per process*
(global batch = N x B). Extra flags: `--timeout S` (rendezvous and every collective, default
$COURSE_DDP_TIMEOUT or 300 s: a missing or dead process gives an error after S seconds, never a hang) and
`--params-out FILE` (every rank's final weights, gathered by rank 0, to check that they agree).

Several machines: torchrun's standard rendezvous flags, the same command on every node. Static:

    torchrun --nnodes=2 --node_rank=K --nproc_per_node=4 --master_addr=HOST0 --master_port=29500 \\
        -m course_lib.parallel --dataset cifar10          # K=0 on HOST0 (it hosts the store), K=1 elsewhere

or elastic (c10d) rendezvous, identical on every node (ranks assigned on arrival):

    torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 \\
        --rdzv_id=run42 --rdzv_conf=join_timeout=120 -m course_lib.parallel --dataset cifar10

A node that never arrives: plain torchrun gives up after its rendezvous timeout (`--rdzv_conf=join_timeout=S`
for c10d, `timeout=S` for static; both default to 600 s) with a traceback; `python -m course_lib.launch`
(the same flags as torchrun) makes that $COURSE_DDP_TIMEOUT (default 300 s) and one `error:` line. Each
worker gives up after `--timeout`. Only global
rank 0 writes the checkpoint (on its node's disk) and reads it back on resume, then broadcasts it:
resuming needs no shared filesystem, only the same node as rank 0.

Other commands (training/distributed_checks.py): `... -m course_lib.parallel grads --out g.pt` (the
per-rank and all-reduced gradients of one batch) and `... bench --out b.json` (throughput: 1 process vs N);
training/distributed_roundrobin.py: `... roundrobin --out rr.pt` (round-robin batches: replicas alone,
all-reduce by hand, DDP).
Fault injection for the tests and the lesson: COURSE_DDP_CRASH_RANK=r [COURSE_DDP_CRASH_EPOCH=e, default 2]
kills rank r with SIGKILL at the start of epoch e.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from torch.distributed.elastic.multiprocessing.errors import record

from .config import DEFAULT_TIMEOUT_S, FlagParser, add_config_arguments, timeout_from_env
from .errors import ConfigError, CourseError
from .training import config_from_args
from .training.distributed import DistributedError, setup, teardown, train

# the other commands: name -> the module of course_lib.training holding `add_arguments` and `<name>_command`
COMMANDS = {"grads": "distributed_checks", "bench": "distributed_checks", "roundrobin": "distributed_roundrobin"}


def command_module(command: str):
    """The module of course_lib.training that runs `command` (grads | bench | roundrobin)."""
    return importlib.import_module(f"{__package__}.training.{COMMANDS[command]}")


def build_parser(command: str) -> argparse.ArgumentParser:
    """The flags of `command` (train | grads | bench | roundrobin): every TrainConfig field plus a few of its own."""
    parser = FlagParser(prog=f"torchrun ... -m course_lib.parallel {command}",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"seconds to wait for the rendezvous and for every collective (default: "
                             f"$COURSE_DDP_TIMEOUT or {DEFAULT_TIMEOUT_S:g})")
    if command == "train":
        parser.add_argument("--params-out", default="", help="write every rank's final parameters here")
    else:
        command_module(command).add_arguments(parser, command)
    return parser


def parse(argv: Sequence[str]) -> tuple[str, argparse.Namespace]:
    """(command, flags): the first word picks the command (default: train); flags not given stay unset
    until `config_from_args` fills them from the data set's recipe (train) or TrainConfig's defaults."""
    argv = list(argv)
    command = argv.pop(0) if argv and argv[0] in ("train", *COMMANDS) else "train"
    return command, build_parser(command).parse_args(argv)


@record  # a worker's traceback reaches torchrun's failure summary
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of every process torchrun starts."""
    command, args = parse(sys.argv[1:] if argv is None else argv)
    rank = os.environ.get("RANK", "?")
    try:
        config = config_from_args(args, recipe=command == "train")  # train: the recipe, as `course_lib train`
        timeout = timeout_from_env() if args.timeout is None else args.timeout
        if not 0 < timeout < float("inf"):
            raise ConfigError(f"--timeout is not a number of seconds > 0 (--timeout {timeout}): give e.g. 300")
        ctx = setup(config.device, timeout)
        if command == "train":
            train(config, ctx, args.params_out)
        else:
            getattr(command_module(command), f"{command}_command")(config, ctx, args)
        teardown()  # only after success: after a failure, leaving the group could wait on a dead peer
    except DistributedError as exc:  # about this very process: every rank says it
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except CourseError as exc:  # the same on every rank (bad data, checkpoint): rank 0 says it
        if rank in ("0", "?"):
            print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
