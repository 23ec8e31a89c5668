"""Development helpers shared by the tests, the TensorFlow matrix and the benchmarks.

Real parts only (virtual environments with chosen metadata, loopback servers, hostile files,
the doctor run as a subprocess), and no pytest: the tooling in ``matrix/`` and
``benchmarks/`` imports these, never ``tests``. Not part of the installed package.
"""
