"""The cache actions: ``--clear-cache``, ``--seed FILE`` and ``--fetch [--mirror URL]``.

All three act on the folders :mod:`mnist_doctor.facts.cache` predicts, for each dataset
``--dataset`` selects (MNIST by default), so they touch exactly the files Keras will read and
only the dataset's own names: its files (``fashion-mnist/`` for Fashion-MNIST), and for an
archive the names each Keras line gives it (the ``keras_flavour`` fact says which line reads
which; :mod:`mnist_doctor.datasets.table` has the layouts). Installs are atomic — a
temporary file in the target folder, verified, then ``os.replace`` — so an interrupted seed
or download never leaves a half file where Keras looks (Keras' own ``urlretrieve`` writes
straight to the final path). Each entry point returns the process exit code.

Why not pooch for ``--fetch``: its design is the model here (temp file beside the target,
hash check, rename, retries), but it downloads with ``requests``, which trusts certifi and
``REQUESTS_CA_BUNDLE`` while Keras' urllib trusts the system store and ``SSL_CERT_FILE``;
the doctor must fetch the way Keras would. Its temp files are named ``tmpXXXX`` (which
``--clear-cache`` could not safely recognise after a kill), its retries only catch
``requests`` errors, and its progress bar is tqdm's. So the ~100 lines below use urllib.
"""

from mnist_doctor.actions._common import ATTEMPTS
from mnist_doctor.actions.clear import clear_cache
from mnist_doctor.actions.fetch import fetch_dataset, mirror_url
from mnist_doctor.actions.install import seed_file
from mnist_doctor.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE

__all__ = [
    "ATTEMPTS",
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "clear_cache",
    "fetch_dataset",
    "mirror_url",
    "seed_file",
]
