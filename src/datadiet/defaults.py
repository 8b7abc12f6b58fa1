"""Defaults shared by the API and the CLI, defined once (importing this module is free: no torch)."""

DEFAULT_CCS_BINS = 50  # the ccs strategy: number of equal-width score strata
DEFAULT_SCORE_EPOCH = 2  # model-based scores: epoch t of the schedule (the data-diet paper scores early)
DEFAULT_DEVICE = "auto"  # where training and scoring run: CUDA when torch sees a GPU, else the CPU
DEFAULT_NUM_WORKERS = 2  # DataLoader worker processes reading a lazy source (npy:DIR, parquet:DIR) batch by batch
DEFAULT_OUT = "runs"  # the root folder of run directories
# the seeds advisor (`datadiet seeds`): how the kept set moves with the score seeds and the score epoch
DEFAULT_SEEDS_KEEP = 0.5  # the kept fraction whose kept set is compared
DEFAULT_SEED_COUNTS = (1, 2, 4, 8)  # numbers of seeds tried (those up to the run's seeds)
DEFAULT_SEED_DRAWS = 20  # random subsets of seeds per number of seeds (all of them when fewer exist)
DEFAULT_SEEDS_TARGET = 0.95  # the share of the reference's kept set a cheaper setting must keep
