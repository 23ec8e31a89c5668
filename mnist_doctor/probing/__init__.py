"""Talking to the examined interpreter: the handshake, the run's one time budget, bounded
subprocesses, signals, safekeeping and the target scripts it runs."""
