"""Talking to the examined interpreter: the handshake, the run's one time budget, bounded
subprocesses, signals, safekeeping, the target scripts it runs and their answers read by shape."""
