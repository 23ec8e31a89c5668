"""mnist-doctor: find out why ``tf.keras.datasets.mnist.load_data()`` fails, and how to fix it.

This module must stay import-free: ``mnist-doctor --version`` and ``--help`` read it
before anything heavy is loaded.
"""

__version__ = "0.1.0"
