"""Defaults shared by the API and the CLI, defined once (importing this module is free: no torch)."""

DEFAULT_CCS_BINS = 50  # the ccs strategy: number of equal-width score strata
DEFAULT_SCORE_EPOCH = 2  # model-based scores: epoch t of the schedule (the data-diet paper scores early)
DEFAULT_DEVICE = "auto"  # where training and scoring run: CUDA when torch sees a GPU, else the CPU
DEFAULT_OUT = "runs"  # the root folder of run directories
