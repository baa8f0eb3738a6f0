"""Training engine: optimizers, schedulers, EMA, metrics, checkpoints, run directories, export."""
