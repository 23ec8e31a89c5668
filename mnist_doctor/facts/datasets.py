"""The dataset the run examines: its spec, pointed at ``--origin`` when the user gave one.

Its own provider so that everything that depends on the dataset (network stages, cache rules,
the load probe, the actions) asks one fact for it, never re-derives it from the options.
"""

from __future__ import annotations

from mnist_doctor.dataset import DatasetSpec, dataset_spec
from mnist_doctor.facts import Options, fact
from mnist_doctor.npz_check import spec_from_env


@fact
def dataset(options: Options) -> DatasetSpec:
    """The dataset spec, pointed at ``--origin`` when given (and the test hook of npz_check)."""
    return spec_from_env(dataset_spec(options.origin))
