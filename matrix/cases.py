"""Every environment of the TensorFlow matrix, described as data.

A *case* is one row of ``docs/compat-matrix.md``: what to install (in order, some steps with
``--no-deps`` to force a combination pip would refuse), which environment variables and
working-directory files the doctor and the probe run with, and what reality is expected to
do. Cases that differ only by environment variables or working-directory files share one
virtualenv (``venv``), so the matrix builds each set of packages once.

Healthy rows pin the newest patch of each TensorFlow minor with a NumPy and Keras of its
own era that its wheel metadata accepts (resolved with ``uv pip compile`` for cp311).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    """One ``pip install`` call; ``no_deps`` forces what the resolver would refuse."""

    requirements: tuple[str, ...]
    no_deps: bool = False

    def args(self) -> list[str]:
        return (["--no-deps"] if self.no_deps else []) + list(self.requirements)


@dataclass(frozen=True)
class Case:
    """One row of the matrix: an environment, how the doctor runs in it, what must happen."""

    name: str
    venv: str
    title: str
    steps: tuple[Step, ...]
    #: ``ok``: compat/env checks pass and tf.keras imports. ``broken``: the doctor fails a
    #: metadata check *and* the probe sees the failure.
    expect: str = "ok"
    env: dict[str, str] = field(default_factory=dict)
    #: Files written into the (temporary) working directory the doctor runs from.
    cwd_files: dict[str, str] = field(default_factory=dict)
    #: Check ids that must fail for a broken case (the doctor *names* the problem).
    names: tuple[str, ...] = ()
    #: Text the hint of one of those checks must contain (the exact fix).
    hint_contains: str = ""
    #: How the import probe must classify the real failure (``runtime.import`` data ``diagnosis``).
    diagnosis: str = ""
    #: The package the import probe must blame (``runtime.import`` data ``raised_in``), when named.
    raised_in: str = ""
    #: Check ids that must *warn* (not fail): combinations that work in reality but are unsupported.
    warns: tuple[str, ...] = ()
    #: Why the case's expectation is what it is, when reality surprised us (shown in the report).
    note: str = ""
    #: Part of the short slice CI runs (``nox -t ci``).
    ci: bool = False

    @property
    def installed(self) -> dict[str, str]:
        """Pinned versions this case installs (last pin wins), e.g. ``{"numpy": "2.0.2"}``."""
        pins: dict[str, str] = {}
        for step in self.steps:
            for req in step.requirements:
                if "==" in req:
                    name, version = req.split("==", 1)
                    pins[name.strip().lower()] = version.strip()
        return pins


def _healthy(tf: str, numpy: str, keras: str, *extra: str, ci: bool = False) -> Case:
    minor = ".".join(tf.split(".")[:2])
    return Case(
        name=f"tf{minor}",
        venv=f"tf{minor}",
        title=f"TensorFlow {tf}, NumPy {numpy}, Keras {keras}",
        steps=(Step((f"tensorflow=={tf}", f"numpy=={numpy}", f"keras=={keras}", *extra)),),
        ci=ci,
    )


HEALTHY: tuple[Case, ...] = (
    _healthy("2.12.1", "1.24.3", "2.12.0", ci=True),
    _healthy("2.13.1", "1.24.3", "2.13.1"),
    _healthy("2.14.1", "1.26.4", "2.14.0"),
    _healthy("2.15.1", "1.26.4", "2.15.0"),
    _healthy("2.16.2", "1.26.4", "3.3.3"),
    _healthy("2.17.1", "1.26.4", "3.4.1"),
    _healthy("2.18.1", "2.0.2", "3.6.0"),
    _healthy("2.19.1", "2.1.3", "3.9.2"),
    _healthy("2.20.0", "2.3.5", "3.11.3"),
    _healthy("2.21.0", "2.4.6", "3.15.1", ci=True),
)

_BASE_216 = Step(("tensorflow==2.16.2", "numpy==1.26.4", "keras==3.3.3"))
_BASE_217 = Step(("tensorflow==2.17.1", "numpy==1.26.4", "keras==3.4.1"))

#: TensorFlow 2.21.0's requirements at the versions the healthy tf2.21 row resolved, except Keras
#: (TensorFlow itself then goes in with --no-deps): "pip uninstall keras" expressed as installs.
_TF221_DEPS_WITHOUT_KERAS = Step(
    (
        "numpy==2.4.6",
        "absl-py==2.5.1",
        "astunparse==1.6.3",
        "flatbuffers==25.12.19",
        "gast==0.7.0",
        "google-pasta==0.2.0",
        "grpcio==1.85.3",
        "h5py==3.14.0",
        "libclang==18.1.1",
        "ml-dtypes==0.6.0",
        "opt-einsum==3.4.0",
        "packaging==26.3",
        "protobuf==7.36.2",
        "requests==2.34.2",
        "setuptools==84.2.1",
        "six==1.17.0",
        "termcolor==3.3.0",
        "typing-extensions==4.16.0",
        "wrapt==2.5.2",
    )
)

#: A user's script that happens to be called tensorflow.py (the classic self-import).
SHADOW_SCRIPT = (
    "import tensorflow as tf\n"
    "(x_train, y_train), (x_test, y_test) = tf.keras.datasets.mnist.load_data()\n"
    "print(x_train.shape)\n"
)

#: Combinations users hit. Most are broken; a few that the issue expected broken turned out to
#: work in reality, and are kept with ``expect="ok"`` and a ``note`` (the doctor must warn).
BROKEN: tuple[Case, ...] = (
    Case(
        name="numpy2-tf2.16",
        venv="numpy2-tf2.16",
        title="NumPy 2 forced onto TensorFlow 2.16.2",
        steps=(_BASE_216, Step(("numpy==2.0.2",), no_deps=True)),
        expect="broken",
        diagnosis="numpy-abi",
        names=("compat.numpy",),
        hint_contains="numpy<2",
        ci=True,
    ),
    Case(
        name="numpy2-tf2.17",
        venv="numpy2-tf2.17",
        title="NumPy 2 forced onto TensorFlow 2.17.1",
        steps=(_BASE_217, Step(("numpy==2.0.2",), no_deps=True)),
        expect="broken",
        diagnosis="numpy-abi",
        names=("compat.numpy",),
        hint_contains="numpy<2",
    ),
    Case(
        name="numpy2-tf2.14.0",
        venv="numpy2-tf2.14.0",
        title="TensorFlow 2.14.0 (declares no NumPy cap) with NumPy 2, installed by the resolver itself",
        steps=(Step(("tensorflow==2.14.0", "numpy==2.0.2", "keras==2.14.0")),),
        expect="broken",
        diagnosis="numpy-abi",
        names=("compat.numpy",),
        hint_contains="numpy<2",
    ),
    Case(
        name="keras2-tf2.16",
        venv="keras2-tf2.16",
        title="Keras 2.15 forced onto TensorFlow 2.16.2",
        steps=(_BASE_216, Step(("keras==2.15.0",), no_deps=True)),
        expect="broken",
        diagnosis="keras-mismatch",
        names=("compat.keras",),
        hint_contains="keras",
    ),
    Case(
        name="keras3-tf2.15",
        venv="keras3-tf2.15",
        title="Keras 3 forced onto TensorFlow 2.15.1",
        steps=(
            # Keras 3's own dependencies first, so the only thing wrong is the pairing.
            Step(("tensorflow==2.15.1", "numpy==1.26.4", "keras==2.15.0", "namex", "optree", "rich", "h5py")),
            Step(("keras==3.3.3",), no_deps=True),
        ),
        expect="ok",
        warns=("compat.keras",),
        note="TF 2.15's lazy loader routes tf.keras to keras._tf_keras.keras when Keras 3 is installed: "
        "it imports (and a small model fits), so the doctor must warn (unsupported: TF declares "
        "keras<2.16), not fail",
    ),
    Case(
        name="legacy-without-tf-keras",
        venv="tf2.21",
        title="TF_USE_LEGACY_KERAS=1 on TensorFlow 2.21.0 without tf-keras",
        steps=HEALTHY[-1].steps,
        expect="broken",
        env={"TF_USE_LEGACY_KERAS": "1"},
        diagnosis="tf-keras-missing",
        names=("compat.keras",),
        hint_contains="tf-keras",
        ci=True,
    ),
    Case(
        name="legacy-without-tf-keras-tf2.15",
        venv="tf2.15",
        title="TF_USE_LEGACY_KERAS=1 on TensorFlow 2.15.1 without tf-keras (2.15 already honours it)",
        steps=HEALTHY[3].steps,
        expect="broken",
        env={"TF_USE_LEGACY_KERAS": "1"},
        diagnosis="tf-keras-missing",
        names=("compat.keras",),
        hint_contains="tf-keras",
    ),
    Case(
        name="tf-keras-other-minor",
        venv="tf-keras-other-minor",
        title="TF_USE_LEGACY_KERAS=1 with tf-keras 2.15.1 on TensorFlow 2.17.1",
        steps=(_BASE_217, Step(("tf-keras==2.15.1",), no_deps=True)),
        expect="broken",
        env={"TF_USE_LEGACY_KERAS": "1"},
        diagnosis="keras-mismatch",
        names=("compat.keras",),
        hint_contains="tf-keras",
    ),
    Case(
        name="tf-keras-adjacent-minor",
        venv="tf-keras-adjacent-minor",
        title="TF_USE_LEGACY_KERAS=1 with tf-keras 2.16.0 on TensorFlow 2.17.1",
        steps=(_BASE_217, Step(("tf-keras==2.16.0",), no_deps=True)),
        expect="ok",
        env={"TF_USE_LEGACY_KERAS": "1"},
        warns=("compat.keras",),
        note="a neighbouring tf-keras minor imports and fits a model (so do 2.18 and 2.19 on TF 2.17; "
        "2.15 and 2.21 do not): the doctor must warn, not fail",
    ),
    Case(
        name="tensorflow-and-tensorflow-cpu",
        venv="tensorflow-and-tensorflow-cpu",
        title="tensorflow 2.20.0 and tensorflow-cpu 2.21.0 installed together",
        steps=(
            Step(("tensorflow==2.20.0", "numpy==2.3.5", "keras==3.15.1")),
            Step(("tensorflow-cpu==2.21.0",), no_deps=True),
        ),
        expect="broken",
        diagnosis="mixed-install",
        names=("compat.tensorflow",),
        hint_contains="uninstall",
    ),
    Case(
        name="tensorflow-cpu-and-tensorflow-same-version",
        venv="tensorflow-cpu-and-tensorflow-same-version",
        title="tensorflow-cpu 2.21.0, then tf-keras 2.21.0, which pulls tensorflow 2.21.0 in beside it",
        steps=(
            Step(("tensorflow-cpu==2.21.0", "numpy==2.4.6", "keras==3.15.1")),
            Step(("tf-keras==2.21.0", "tensorflow==2.21.0")),
        ),
        expect="ok",
        warns=("compat.tensorflow",),
        note="two distributions of one version write the same files: it imports and works, so the doctor "
        "warns (uninstalling either one later removes files the other needs), it does not fail",
    ),
    Case(
        name="h5py-above-declared-tf2.21",
        venv="h5py-above-declared-tf2.21",
        title="h5py 3.16.0 forced onto TensorFlow 2.21.0, which declares h5py<3.15.0",
        steps=(*HEALTHY[-1].steps, Step(("h5py==3.16.0",), no_deps=True)),
        expect="ok",
        warns=("compat.requirements",),
        note="outside TensorFlow's declared range, yet TensorFlow and tf.keras import: a warn, not a fail",
    ),
    Case(
        name="keras-missing-tf2.21",
        venv="keras-missing-tf2.21",
        title="TensorFlow 2.21.0 installed with --no-deps beside all its requirements except Keras",
        steps=(_TF221_DEPS_WITHOUT_KERAS, Step(("tensorflow==2.21.0",), no_deps=True)),
        expect="broken",
        diagnosis="keras-missing",
        names=("compat.keras",),
        hint_contains="keras>=3.12",
    ),
    Case(
        name="ml-dtypes-numpy1-tf2.21",
        venv="ml-dtypes-numpy1-tf2.21",
        title="ml_dtypes 0.3.2 (compiled for NumPy 1.x) forced onto TensorFlow 2.21.0 with NumPy 2.4.6",
        steps=(*HEALTHY[-1].steps, Step(("ml-dtypes==0.3.2",), no_deps=True)),
        expect="broken",
        diagnosis="numpy-abi",
        raised_in="ml_dtypes",
        names=("compat.requirements",),
        hint_contains="ml_dtypes",
        note="the NumPy ABI banner is raised while importing ml_dtypes, not TensorFlow: "
        "the fix names ml_dtypes",
    ),
    Case(
        name="ml-dtypes-numpy2-build-numpy1-tf2.21",
        venv="ml-dtypes-numpy2-build-numpy1-tf2.21",
        title="NumPy 1.26.4 (inside TensorFlow 2.21.0's range) with ml_dtypes 0.7.0, which declares "
        "numpy>=2.0.0 and is compiled for NumPy 2.0",
        steps=(*HEALTHY[-1].steps, Step(("numpy==1.26.4", "ml-dtypes==0.7.0"), no_deps=True)),
        expect="broken",
        diagnosis="numpy-abi",
        raised_in="ml_dtypes",
        names=("compat.closure",),
        hint_contains='"ml_dtypes<1.0.0,>=0.5.1" numpy==1.26.4',
        note="TensorFlow's own requirements are all met: the requirement broken is ml_dtypes' own, and "
        "its extension targets NumPy 2.0's C-API (read from its bytes), so the import fails; the fix "
        "keeps the NumPy TensorFlow accepts and lets the resolver pick an ml_dtypes built for it",
    ),
    Case(
        name="ml-dtypes-0.6-numpy1-tf2.21",
        venv="ml-dtypes-0.6-numpy1-tf2.21",
        title="NumPy 1.26.4 with ml_dtypes 0.6.0, which declares numpy>=2.0.0 but is compiled for "
        "NumPy 1.23's C-API, on TensorFlow 2.21.0",
        steps=(*HEALTHY[-1].steps, Step(("numpy==1.26.4", "ml-dtypes==0.6.0"), no_deps=True)),
        expect="ok",
        warns=("compat.closure",),
        note="a requirement states what a package supports, not what its compiled code loads: "
        "ml_dtypes 0.6.0 imports under NumPy 1.26.4, so the doctor warns (inconsistent), not fails",
    ),
    Case(
        name="shadow-tensorflow-py",
        venv="tf2.21",
        title="a tensorflow.py in the working directory (TensorFlow 2.21.0)",
        steps=HEALTHY[-1].steps,
        expect="broken",
        cwd_files={"tensorflow.py": SHADOW_SCRIPT},
        diagnosis="shadowed",
        names=("env.shadowing",),
        hint_contains="tensorflow.py",
        ci=True,
    ),
)

CASES: tuple[Case, ...] = HEALTHY + BROKEN


def by_name(name: str) -> Case:
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(f"no matrix case named {name!r}; known: {', '.join(c.name for c in CASES)}")


def venvs() -> dict[str, tuple[Case, ...]]:
    """Cases grouped by the virtualenv they run in, in matrix order."""
    groups: dict[str, list[Case]] = {}
    for case in CASES:
        groups.setdefault(case.venv, []).append(case)
    return {venv: tuple(cases) for venv, cases in groups.items()}
