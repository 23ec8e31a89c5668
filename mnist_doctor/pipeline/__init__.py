"""One diagnosis from options to report: the budget, the engine that runs the checks, the report and
its summary."""
