"""THE comparison of the doctor's prediction with reality — the only place it is decided.

*Prediction*: the results of the metadata checks (families ``compat`` and ``env``) from a
doctor run that never imports TensorFlow (``--select compat,env``). Any ``fail`` there is a
prediction that ``tf.keras`` will not work.

*Observation*: the ``runtime.import`` result of a separate run (``--select runtime``): the
import probe imported numpy, TensorFlow and ``tf.keras`` in a subprocess, for real. It also
counts as broken when the TensorFlow that runs is not the version some installed TensorFlow
distribution claims (two distributions overwrote each other's files).

Used by ``noxfile.py`` (every matrix session) and by ``tests/test_matrix_verdict.py``,
which replays recorded observations against the current compatibility table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from matrix.cases import Case

#: Families whose checks judge from metadata alone (never import TensorFlow).
PREDICTING_FAMILIES = ("compat", "env")
OBSERVING_CHECK = "runtime.import"

#: Distributions that ship the ``tensorflow`` package itself (not add-ons like tensorflow-estimator).
TF_PROVIDERS = frozenset(
    {
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "tensorflow-intel",
        "tensorflow-macos",
        "tensorflow-aarch64",
        "tensorflow-cpu-aws",
        "intel-tensorflow",
        "tf-nightly",
        "tf-nightly-cpu",
    }
)


@dataclass
class Prediction:
    outcome: str  # "ok" | "broken" | "doctor-error"
    failing: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)


@dataclass
class Observation:
    outcome: str  # "imports" | "fails" | "runs-other-version" | "unknown"
    summary: str = ""
    failed_stage: str | None = None
    diagnosis: str | None = None
    tensorflow: str | None = None
    keras_kind: str | None = None
    keras_version: str | None = None
    #: Where ``tf.keras.datasets.mnist.load_data`` really lives (``keras.src...``, ``tf_keras.src...``).
    keras_module: str | None = None
    #: The module ``tf.keras`` itself is (``keras.api._v2.keras``, ``keras._tf_keras.keras``, ...).
    keras_api: str | None = None
    #: The package whose import raised, as the probe read it from the traceback.
    raised_in: str | None = None

    @property
    def broken(self) -> bool:
        return self.outcome in ("fails", "runs-other-version")


@dataclass
class Verdict:
    case: str
    expect: str
    prediction: Prediction
    observation: Observation
    problems: list[str]

    @property
    def agree(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "expect": self.expect,
            "agree": self.agree,
            "problems": self.problems,
            "prediction": asdict(self.prediction),
            "observation": asdict(self.observation),
        }


def _results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    # Schema 2 added "mode" and "diagnosis"; "results" kept schema 1's shape (recorded runs are schema 1).
    known = isinstance(doc, dict) and doc.get("schema") in (1, 2)
    if not known or not isinstance(doc.get("results"), list):
        raise ValueError("not a mnist-doctor JSON report (schema 1 or 2)")
    return doc["results"]


def _family(result: dict[str, Any]) -> str:
    return result.get("family") or str(result.get("id", "")).split(".", 1)[0]


def predict(doc: dict[str, Any]) -> Prediction:
    """What the metadata checks say, ignoring anything that observed TensorFlow at run time."""
    judged = [r for r in _results(doc) if _family(r) in PREDICTING_FAMILIES]
    if not judged:
        return Prediction("doctor-error", summaries={"-": "no compat/env result in the report"})
    errors = [r for r in judged if r.get("status") == "error"]
    failing = [r for r in judged if r.get("status") == "fail"]
    outcome = "doctor-error" if errors else ("broken" if failing else "ok")
    return Prediction(
        outcome,
        failing=[r["id"] for r in failing],
        hints={r["id"]: r.get("hint") or "" for r in failing},
        summaries={r["id"]: r.get("summary", "") for r in failing + errors},
        statuses={r["id"]: r.get("status", "") for r in judged},
    )


def _stage_value(stages: dict[str, Any], name: str) -> dict[str, Any]:
    return (stages.get(name) or {}).get("value") or {}


def observe(doc: dict[str, Any], installed: dict[str, str]) -> Observation:
    """What the import probe saw; ``installed`` maps distribution names to versions (pip list)."""
    probe = next((r for r in _results(doc) if r.get("id") == OBSERVING_CHECK), None)
    if probe is None:
        return Observation("unknown", "runtime.import did not run")
    data = probe.get("data") or {}
    stages = data.get("stages") or {}
    tf_seen = _stage_value(stages, "tensorflow").get("version")
    keras = _stage_value(stages, "tf.keras") or _stage_value(stages, "keras")
    obs = Observation(
        "unknown",
        probe.get("summary", ""),
        data.get("failed_stage"),
        data.get("diagnosis"),
        tf_seen,
        keras.get("kind"),
        keras.get("version"),
        keras.get("load_data_module"),
        keras.get("module"),
        data.get("raised_in"),
    )
    status = probe.get("status")
    if status == "fail":
        obs.outcome = "fails"
    elif status in ("ok", "warn"):
        if not (stages.get("tensorflow", {}).get("ok") and (stages.get("tf.keras") or {}).get("ok")):
            obs.outcome = "unknown"
            obs.summary += " (TensorFlow or tf.keras stage missing)"
            return obs
        claimed = {n: v for n, v in installed.items() if n in TF_PROVIDERS}
        others = {n: v for n, v in claimed.items() if v != tf_seen}
        if others or status == "warn":
            obs.outcome = "runs-other-version"
            obs.summary = f"TensorFlow {tf_seen} runs, but installed: " + ", ".join(
                f"{n} {v}" for n, v in sorted(claimed.items())
            )
        else:
            obs.outcome = "imports"
    return obs


def compare(
    case: Case, prediction_doc: dict[str, Any], observation_doc: dict[str, Any], installed: dict[str, str]
) -> Verdict:
    """Decide whether the doctor's prediction matches what really happened, for one case."""
    pred = predict(prediction_doc)
    obs = observe(observation_doc, installed)
    problems: list[str] = []
    if pred.outcome == "doctor-error":
        problems.append(f"a metadata check crashed: {pred.summaries}")
    if obs.outcome == "unknown":
        problems.append(f"no usable observation: {obs.summary}")
    if not problems:
        predicted_broken = pred.outcome == "broken"
        if predicted_broken != obs.broken:
            said = f"predicted broken ({', '.join(pred.failing)})" if predicted_broken else "predicted ok"
            problems.append(f"{said}, but the import probe observed: {obs.outcome} — {obs.summary}")
        if (case.expect == "broken") != obs.broken:
            problems.append(
                f"case expects {case.expect}, reality is {obs.outcome}: the case is not built as described"
            )
    if case.expect == "broken" and pred.outcome == "broken":
        unnamed = [cid for cid in case.names if cid not in pred.failing]
        if unnamed:
            problems.append(
                f"the doctor did not name the problem: {', '.join(unnamed)} did not fail "
                f"(failing: {', '.join(pred.failing)})"
            )
        elif case.hint_contains and not any(
            case.hint_contains in pred.hints.get(cid, "") for cid in case.names
        ):
            problems.append(
                f"no hint of {', '.join(case.names)} contains {case.hint_contains!r}: {pred.hints}"
            )
    if case.diagnosis and obs.outcome == "fails" and obs.diagnosis != case.diagnosis:
        problems.append(
            f"the import probe classified the failure as {obs.diagnosis!r}, reality is {case.diagnosis!r}"
        )
    if case.raised_in and obs.outcome == "fails" and obs.raised_in != case.raised_in:
        problems.append(
            f"the import probe blamed {obs.raised_in!r} for the failure, reality is {case.raised_in!r}"
        )
    for cid in case.warns:
        if pred.statuses.get(cid) != "warn":
            problems.append(f"{cid} should warn (works, but unsupported), it said {pred.statuses.get(cid)!r}")
    for name, version in case.installed.items():
        if name in installed and installed[name] != version:
            problems.append(f"{name} {installed[name]} is installed, the case pins {version}")
    return Verdict(case.name, case.expect, pred, obs, problems)
