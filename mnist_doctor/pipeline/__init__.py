"""One diagnosis from options to report: the engine that runs the checks, the run, the report and
its summary, and what --fix changed."""
