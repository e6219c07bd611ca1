"""The pages' trainers as headless jobs: `python -m core.train cnn|gpt2 --config run.json`,
alone or under `torchrun` (DistributedDataParallel, NCCL on GPUs, gloo on the CPU).

The command calls the very trainers the pages call (`core.vision.trainer.train_classifier`,
`core.text.tinygpt.train_small_gpt2`) and adds only `JobHooks`: the distributed wrapper
(`core.distributed`) and a checkpoint every epoch (model, optimizer, schedule, RNG, epoch,
history) written atomically to `runs_dir()/jobs/<name>`, from which a job restarted by
`torchrun --max-restarts K` (or launched again) resumes. Rank 0 alone records into the run
store (`core.runs`): params with host, world size, device and the exact command, metrics
every epoch as they happen, and at the end the artifacts an in-app run records.

    run.json: {"kind": "cnn", "name": "digits-ddp", "seed": 0,
               "data": {"source": "digits"},            # or MNIST, Fashion-MNIST, CIFAR-10,
                                                        # zip/folder + "path", text + "path",
                                                        # builtin-text (gpt2)
               "model": {...CNNConfig or TinyGPTConfig fields...},
               "train": {...TrainConfig fields...}}

Exit codes: 0 done, 1 the training failed, 2 a config or data the user must fix, 3 the
processes could not form a group.

    __main__     `python -m core.train`: calls cli.main
    cli          the command: arguments, one job on this rank, SIGTERM, exit codes
    spec         run.json as RunSpec / DataSpec, the job folder and its files
    kinds/       run.json checked in full and made from a page's settings; one module per
                 kind (cnn, gpt2): its configs, its data, its torchrun job
    data         data paths on the workers, folders as zips, each rank's share
    checkpoints  JobHooks (DDP, shards, a checkpoint per epoch, resume), save_atomic
    recorder     rank 0's Recorder into the run store, open_run, store_progress
    commands     torchrun commands for elsewhere; start_local / local_job: a check here

Importing this package is light: torch and the tools load when a spec is checked or run.
"""

from core.train.cli import EXIT_CONFIG, EXIT_DISTRIBUTED, EXIT_FAILED, EXIT_STOPPED, main
from core.train.commands import LocalJob, commands, local_job, start_local
from core.train.kinds import (
    cnn_run_config,
    gpt2_run_config,
    load_spec,
    run_config,
    spec_from_dict,
)
from core.train.spec import (
    CHECKPOINT,
    CONFIG_FILE,
    KINDS,
    ConfigError,
    DataSpec,
    RunSpec,
    jobs_dir,
    to_dict,
)

__all__ = [
    "CHECKPOINT",
    "CONFIG_FILE",
    "EXIT_CONFIG",
    "EXIT_DISTRIBUTED",
    "EXIT_FAILED",
    "EXIT_STOPPED",
    "KINDS",
    "ConfigError",
    "DataSpec",
    "LocalJob",
    "RunSpec",
    "cnn_run_config",
    "commands",
    "gpt2_run_config",
    "jobs_dir",
    "load_spec",
    "local_job",
    "main",
    "run_config",
    "spec_from_dict",
    "start_local",
    "to_dict",
]
