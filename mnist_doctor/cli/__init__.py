"""The command line: a cheap parser first, then the modes (diagnose, --fix, actions, completion)."""
