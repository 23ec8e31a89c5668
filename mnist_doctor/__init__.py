"""mnist-doctor: find out why ``tf.keras.datasets.mnist.load_data()`` fails, and how to fix it.

This module must stay import-free: ``mnist-doctor --version`` and ``--help`` read it
before anything heavy is loaded. The Python API and the IPython extension import their
modules only when called.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "diagnose", "load_ipython_extension"]


def diagnose(**kwargs: object) -> object:
    """Run the diagnosis and return the report; see :func:`mnist_doctor.api.diagnose`."""
    from mnist_doctor.api import diagnose as run

    return run(**kwargs)  # type: ignore[arg-type]  # the API checks its own arguments


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext mnist_doctor``: registers the ``%mnist_doctor`` line magic."""
    from mnist_doctor.notebook import register

    register(ipython)
