"""Which Keras ``tf.keras`` (or ``keras``) resolves to in the target environment.

The answer decides the cache rules (Keras 3 honours ``KERAS_HOME``; Keras 2 and
tf-keras do not) and which ``load_data`` the probe calls. It is predicted from
metadata and environment variables only; the import probe confirms it for real.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from mnist_doctor.facts import fact
from mnist_doctor.facts.introspection import Distributions, env_lookup

#: Values of ``TF_USE_LEGACY_KERAS`` that TensorFlow treats as "on"; any other value is off.
LEGACY_ON = ("1", "true", "True")
KERAS3_TF = Version("2.16")
#: From 2.15 TensorFlow resolves ``tf.keras`` lazily: it honours TF_USE_LEGACY_KERAS, and a
#: Keras 3 installed over it becomes ``tf.keras`` (both observed by ``nox -s matrix``).
LEGACY_TF = LAZY_KERAS_TF = Version("2.15")


@dataclass(frozen=True)
class KerasFlavour:
    """``kind`` is ``keras3``, ``keras2``, ``tf_keras`` or ``None`` (no Keras reachable)."""

    kind: str | None
    api: str  # what the user calls: "tf.keras" or "keras"
    package: str | None  # distribution that provides it
    version: Version | None
    tensorflow: Version | None
    legacy_env: str | None
    reason: str

    @property
    def is_keras3(self) -> bool:
        return self.kind == "keras3"

    @property
    def label(self) -> str:
        if self.kind is None:
            return "no Keras"
        names = {"keras3": "Keras", "keras2": "Keras", "tf_keras": "tf-keras"}
        if self.version:
            return f"{names[self.kind]} {self.version}"
        return {"keras3": "Keras 3", "keras2": "Keras 2", "tf_keras": "tf-keras"}[
            self.kind
        ] + " (not installed)"


def legacy_requested(value: str | None) -> bool:
    return value in LEGACY_ON


def predict_flavour(dists: Distributions, env: dict[str, str]) -> KerasFlavour:
    """Predict what ``tf.keras`` is, following TensorFlow's own rules."""
    tf = dists.tensorflow()
    tf_version = tf.version if tf else None
    legacy_raw = env_lookup(env, "TF_USE_LEGACY_KERAS")
    keras = dists.get("keras")
    tf_keras = dists.get("tf-keras")
    if tf_version is None:
        if keras and keras.version and keras.version.major >= 3:
            backend = env_lookup(env, "KERAS_BACKEND") or "tensorflow"
            return KerasFlavour(
                "keras3",
                "keras",
                "keras",
                keras.version,
                None,
                legacy_raw,
                f"no TensorFlow; Keras {keras.version} alone (KERAS_BACKEND={backend})",
            )
        return KerasFlavour(None, "tf.keras", None, None, None, legacy_raw, "no TensorFlow installed")
    minor = tf_version.release[:2]
    if minor >= LEGACY_TF.release[:2] and legacy_requested(legacy_raw):
        return KerasFlavour(
            "tf_keras",
            "tf.keras",
            "tf-keras" if tf_keras else None,
            tf_keras.version if tf_keras else None,
            tf_version,
            legacy_raw,
            f"TF {tf_version} with TF_USE_LEGACY_KERAS={legacy_raw}: tf.keras is tf_keras",
        )
    keras3_installed = bool(keras and keras.version and keras.version.major >= 3)
    if minor >= KERAS3_TF.release[:2] or (minor >= LAZY_KERAS_TF.release[:2] and keras3_installed):
        why = (
            f"TF {tf_version} (≥ 2.16): tf.keras is Keras 3"
            if minor >= KERAS3_TF.release[:2]
            else f"TF {tf_version} loads the installed keras lazily: tf.keras is Keras "
            f"{keras.version if keras else '?'}"
        )
        return KerasFlavour(
            "keras3",
            "tf.keras",
            "keras" if keras else None,
            keras.version if keras else None,
            tf_version,
            legacy_raw,
            why,
        )
    return KerasFlavour(
        "keras2",
        "tf.keras",
        "keras" if keras else None,
        keras.version if keras else None,
        tf_version,
        legacy_raw,
        f"TF {tf_version} (≤ 2.15): tf.keras is Keras 2",
    )


@fact
def keras_flavour(distributions: Distributions, target_env: dict[str, str]) -> KerasFlavour:
    """The Keras that ``load_data`` will run in the target environment."""
    return predict_flavour(distributions, target_env)
