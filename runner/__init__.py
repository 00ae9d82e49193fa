"""Training and what follows it: schedule, data, the training loop, painting and evaluation."""
