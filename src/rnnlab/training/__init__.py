"""Training: one trainer for every task, optimizers and schedules, checkpoints."""
