"""The TensorFlow compatibility matrix: real environments that check the doctor against reality.

``cases`` describes each environment (healthy release or broken combination), ``verdict``
compares the doctor's metadata-only prediction with what the import probe observed, and
``report`` renders ``docs/compat-matrix.md``/``.json``. ``noxfile.py`` builds the
environments and wires these together; ``tests/test_matrix_verdict.py`` tests the comparison.
"""
