"""Built-in checks, one module per family: the id ``network.dns`` lives in ``checks/network.py``.

Each module exposes ``CHECKS``; pyproject.toml registers it under the entry-point group
``mnist_doctor.checks`` exactly as a third-party plugin would.
"""
