"""The datasets the run examines (``--dataset``), each pointed at ``--origin`` when one was given.

Its own provider so that everything that depends on the dataset (network stages, cache rules,
the load probe, the actions) asks one fact for it, never re-derives it from the options.
``dataset`` is MNIST's one file (the richer spec the deep ``.npz`` inspection uses);
``datasets`` is every selected loader from :mod:`mnist_doctor.datasets.table`.
"""

from __future__ import annotations

from dataclasses import replace

from mnist_doctor.datasets.spec import DatasetSpec, OriginChoice, choose_origin, dataset_spec
from mnist_doctor.datasets.table import Dataset, pins_from_env, table, with_pins
from mnist_doctor.datasets.verification import spec_from_env
from mnist_doctor.facts import Options, fact


@fact
def origin_choice(options: Options) -> OriginChoice:
    """The origin in force: ``--origin``, a usable ``$MNIST_DOCTOR_ORIGIN``, or Keras' own (None)."""
    return choose_origin(options.origin)


@fact
def dataset(origin_choice: OriginChoice) -> DatasetSpec:
    """The MNIST file spec, pointed at the origin in force (and the test hook of ``verification``)."""
    return spec_from_env(dataset_spec(origin_choice.url))


@fact
def datasets(options: Options, dataset: DatasetSpec, origin_choice: OriginChoice) -> tuple[Dataset, ...]:
    """The selected loaders, in table order.

    A folder ``--origin`` (or ``$MNIST_DOCTOR_ORIGIN``) serves every file by its name.
    """
    pins = pins_from_env()
    origin = origin_choice.url or ""
    chosen: list[Dataset] = []
    for name in options.datasets:
        loader = table()[name]
        if loader.is_default:
            # Its one file is the ``dataset`` fact: --origin completed, verification's test hook applied.
            loader = replace(loader, files=(replace(loader.files[0], spec=dataset),))
        elif origin.endswith("/"):
            loader = loader.with_origin(origin)
        chosen.append(with_pins(loader, pins))
    return tuple(chosen)
