"""The command `python -m core.train cnn|gpt2 --config run.json`: read run.json, join the
world torchrun describes, run the kind, print rank 0's summary as one JSON line, and map
what went wrong to an exit code: 0 done, 1 the training failed, 2 a config or data the user
must fix, 3 the processes could not form a group, 128 + 15 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from core.train import kinds
from core.train.recorder import Recorder, Terminated
from core.train.spec import CHECKPOINT, KINDS, ConfigError

EXIT_FAILED, EXIT_CONFIG, EXIT_DISTRIBUTED = 1, 2, 3
EXIT_STOPPED = 128 + signal.SIGTERM


def last_attempt() -> bool:
    """True unless torchrun will restart this group after it ends."""
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    return restarts >= int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command's arguments: the kind and --config."""
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Train the dashboard's CNN or small GPT-2 headless; under torchrun with DDP.",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--config", required=True, help="run.json (see core/train/)")
    return parser.parse_args(argv)


def run_command(args: argparse.Namespace, recorder: Recorder) -> int:
    """Run the job run.json describes on this rank; 0 when it is done."""
    from core import device as dev
    from core import distributed

    spec = kinds.load_spec(args.config)
    if spec.kind != args.kind:
        raise ConfigError(f"{args.config} describes a {spec.kind} run, not {args.kind}.")
    # this rank's place in the world, and its GPU or its share of the CPU threads
    world = distributed.world_from_env(dev.choose_device())
    distributed.use_device(world)
    try:
        summary = kinds.run(spec, world, recorder)
        if world.is_main:
            # done: a next launch of the same run.json starts afresh, not from the end
            (spec.folder / CHECKPOINT).unlink(missing_ok=True)
            print(json.dumps(summary | {"run_id": recorder.run_id}), flush=True)
    finally:
        distributed.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command; its exit code (see the module docstring)."""
    from core import distributed

    args = parse_args(argv)
    recorder = Recorder()

    def on_sigterm(signum, frame) -> None:
        recorder.stopped = True  # a failure after this is the stop, not a bug
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return run_command(args, recorder)
    except ValueError as err:  # ConfigError, and the trainers' checks of data and settings
        print(f"Config error: {err}", file=sys.stderr, flush=True)
        recorder.finish("FAILED")
        return EXIT_CONFIG
    except distributed.DistributedError as err:
        print(f"Distributed error: {err}", file=sys.stderr, flush=True)
        return EXIT_DISTRIBUTED
    except Exception as err:
        return failed(err, recorder)
    finally:
        signal.signal(signal.SIGTERM, previous)


def failed(err: Exception, recorder: Recorder) -> int:
    """The exit code of a job that raised `err`; the run is ended, unless torchrun restarts
    the group (the restart goes on with the same run)."""
    if isinstance(err, Terminated) or recorder.stopped:  # a peer may fail first, mid-step
        print("Stopped (SIGTERM).", file=sys.stderr, flush=True)
        if last_attempt():
            recorder.finish("KILLED")
        return EXIT_STOPPED
    import traceback

    traceback.print_exc()
    if last_attempt():
        recorder.finish("FAILED")
    return EXIT_FAILED
