"""Talking to the examined interpreter: the handshake, bounded subprocesses, signals, safekeeping and
the target scripts it runs."""
