"""The final word: call the real ``load_data()`` and cross-check it with the other findings.

``load.real`` runs the user's own ``load_data`` in the target interpreter (see
:mod:`mnist_doctor.loadprobe`) and names the root cause of a failure
(:mod:`mnist_doctor.load_failures`). ``load.consistency`` compares that verdict with the
network and cache families: a doctor whose predictions disagree with the real call must
say so rather than show two contradicting reports.
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

from mnist_doctor.dataset import DatasetSpec
from mnist_doctor.engine import ENTRY_POINT_GROUP
from mnist_doctor.facts import Facts, Options
from mnist_doctor.load_failures import CACHE, NETWORK, LoadDiagnosis, diagnose
from mnist_doctor.loadprobe import LoadProbe
from mnist_doctor.model import BaseCheck, CheckResult, Result, Status

#: Families whose verdicts ``load.consistency`` weighs against the real call.
NETWORK_FAMILIES = ("proxy", "tls", "network")
CACHE_FAMILIES = ("cache",)


def _tf_minor(facts: Facts) -> str | None:
    try:
        flavour = facts.get("keras_flavour")
    except Exception:
        return None
    tf = getattr(flavour, "tensorflow", None)
    return f"{tf.major}.{tf.minor}" if tf else None


def _cached_dataset_present(facts: Facts) -> bool | None:
    """Whether the cache helper's fact sees a file where Keras will look (None: unknown)."""
    try:
        cache = facts.get("keras_cache")
    except Exception:
        return None
    path = getattr(cache, "dataset_path", None)
    if path is None:
        return None
    return os.path.isfile(path)


def success_result(probe: LoadProbe, spec: DatasetSpec) -> Result:
    """Shapes, dtypes, labels, the file read and the seed's preprocessing, checked against the spec."""
    load = probe.stage("load_data") or {}
    value = load.get("value") or {}
    arrays = value.get("arrays") or {}
    problems = []
    details = []
    for expected in spec.arrays:
        got = arrays.get(expected.name) or {}
        shape, dtype = tuple(got.get("shape") or ()), got.get("dtype")
        details.append(f"{expected.name}: {shape} {dtype}")
        if shape != expected.shape or dtype != expected.dtype:
            problems.append(f"{expected.name} is {shape} {dtype}, expected {expected.shape} {expected.dtype}")
    low, high = spec.label_range
    for name in ("y_train", "y_test"):
        got = arrays.get(name) or {}
        counts = got.get("class_counts") or []
        details.append(f"{name}: labels {got.get('min')}..{got.get('max')}, class counts {counts}")
        if got.get("min") is None or got["min"] < low or got["max"] > high:
            problems.append(f"{name} labels outside {low}..{high}")
    pre = probe.stage("preprocess") or {}
    pre_value = pre.get("value") or {}
    first = spec.arrays[0].shape if spec.arrays else ()
    if pre.get("ok"):
        details.append(
            f"x_train / 255 in [{pre_value.get('min')}, {pre_value.get('max')}], "
            f"with channel axis {tuple(pre_value.get('shape') or ())}"
        )
        if not (pre_value.get("min", -1) >= 0.0 and pre_value.get("max", 2) <= 1.0) or tuple(
            pre_value.get("shape") or ()
        ) != (*first, 1):
            problems.append("preprocessing sanity step gave unexpected values")
    else:
        problems.append(
            "preprocessing sanity step failed: " + str((pre.get("error") or {}).get("message", "did not run"))
        )
    file = value.get("file") or {}
    if file:
        details.append(f"read {file.get('path')} ({file.get('size', 0):,} bytes)")
    details.append(f"load_data took {value.get('elapsed_s')}s (probe total {probe.run.elapsed_s:.1f}s)")
    data = {
        "succeeded": True,
        "file": file.get("path"),
        "arrays": arrays,
        "elapsed_s": value.get("elapsed_s"),
    }
    if problems:
        return Result.fail(
            "load_data returned unexpected data: " + "; ".join(problems),
            details=details,
            hint="clear the cache (`mnist-doctor --clear-cache`) and download again",
            data=data,
        )
    return Result.ok(
        f"load_data works: 60000+10000 images {first[1:] if first else ''} uint8, labels 0–9",
        details=details,
        data=data,
    )


def failure_result(diag: LoadDiagnosis, probe: LoadProbe, verbose: bool) -> Result:
    details = list(diag.details)
    error = probe.error
    if error:
        details.append(
            f"exception: {error.get('type', '').rsplit('.', 1)[-1]}: {str(error.get('message'))[:300]}"
        )
        details.extend(
            f"  from {c.get('type', '').rsplit('.', 1)[-1]}: {str(c.get('message'))[:200]}"
            for c in error.get("chain") or []
        )
        if verbose and error.get("traceback"):
            details.append(error["traceback"])
    if probe.run.timed_out:
        details.append(
            f"the probe was killed after {probe.run.elapsed_s:.1f}s (its timeout was "
            f"{probe.timeout_s:.0f}s, what --timeout left)"
        )
    if verbose and probe.run.stderr.strip():
        details.append("probe stderr (tail): " + probe.run.stderr.strip()[-1500:])
    data = {
        "succeeded": False,
        "cause": diag.name,
        "category": diag.category,
        "timed_out": probe.run.timed_out,
    }
    if diag.fix:
        data["fix"] = diag.fix
    return Result.fail(f"load_data failed — {diag.summary}", details=details, hint=diag.hint, data=data)


class RealLoadCheck(BaseCheck):
    """Call the real tf.keras.datasets.mnist.load_data() in the target interpreter."""

    id = "load.real"
    family = "load"
    title = "the real load_data()"
    slow = True

    def run(self, facts: Facts, options: Options, dataset: DatasetSpec, target_python: str) -> Result:
        if options.offline and _cached_dataset_present(facts) is not True:
            return Result.skip("--offline: load_data would have to download mnist.npz")
        probe: LoadProbe = facts.get("load_probe")
        if probe.succeeded:
            return success_result(probe, dataset)
        host = "storage.googleapis.com"  # load_data's own origin, whatever --origin says
        diag = diagnose(probe, host=host, target_python=target_python, tf_minor=_tf_minor(facts))
        return failure_result(diag, probe, options.verbose)


def _family_verdict(
    results: dict[str, CheckResult], families: tuple[str, ...]
) -> tuple[str | None, list[str]]:
    """``pass``/``fail``/None (nothing ran) for a group of families, with the failing ids."""
    ran = [r for r in results.values() if r.family in families and r.status not in (Status.SKIP,)]
    if not ran:
        return None, []
    failing = [r.id for r in ran if r.status in (Status.FAIL, Status.ERROR)]
    return ("fail" if failing else "pass"), failing


def _registered_ids(families: tuple[str, ...]) -> tuple[str, ...]:
    """Ids of the checks registered under these families' entry points (their modules, not ours)."""
    ids: list[str] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in families:
            continue
        try:
            loaded = ep.load()
        except Exception:  # the engine reports broken plugins itself
            continue
        for check in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
            check_id = getattr(check, "id", None)
            if isinstance(check_id, str):
                ids.append(check_id)
    return tuple(ids)


class ConsistencyCheck(BaseCheck):
    """Does the real load_data agree with what the network and cache checks predicted?"""

    id = "load.consistency"
    family = "load"
    title = "load_data agrees with the other checks"

    @property
    def after(self) -> tuple[str, ...]:  # type: ignore[override]
        """``load.real`` and every registered check of the network and cache families (ordering only)."""
        return ("load.real", *_registered_ids(NETWORK_FAMILIES + CACHE_FAMILIES))

    def run(self, results: dict[str, CheckResult]) -> Result:
        real = results.get("load.real")
        if real is None or real.status in (Status.SKIP, Status.ERROR):
            return Result.skip("load.real did not run")
        network, net_failing = _family_verdict(results, NETWORK_FAMILIES)
        cache, cache_failing = _family_verdict(results, CACHE_FAMILIES)
        data: dict[str, Any] = {"load": real.status.value, "network": network, "cache": cache}
        if network is None and cache is None:
            return Result.skip("no network or cache check ran to compare with", data=data)
        succeeded = bool(real.data.get("succeeded"))
        category = real.data.get("category")
        cause = real.summary.removeprefix("load_data failed — ")
        disagreements = []
        if not succeeded and category == NETWORK and network == "pass":
            disagreements.append(f"network checks passed but load_data failed with {cause}")
        if not succeeded and category == CACHE and cache == "pass":
            disagreements.append(f"cache checks passed but load_data failed with {cause}")
        if succeeded and network == "fail" and cache == "fail":
            disagreements.append(
                f"load_data worked although network ({', '.join(net_failing)}) and cache "
                f"({', '.join(cache_failing)}) checks failed"
            )
        if disagreements:
            details = ["the load_data verdict is the one that counts: the real call is what your code runs"]
            if not succeeded and category == NETWORK:
                details.append(
                    "the network checks test the route and the first bytes; load_data downloads the "
                    "whole file through Keras' own urllib call"
                )
            return Result.warn(
                "; ".join(disagreements),
                data=data,
                details=details,
                hint="follow load.real's hint; if a check's prediction looks wrong, report the output of "
                "`mnist-doctor --format json --verbose`",
            )
        if succeeded:
            how = "from the cache" if network == "fail" else "as predicted"
            return Result.ok(f"load_data works {how}", data=data)
        agree = [name for name, verdict in (("network", network), ("cache", cache)) if verdict == "fail"]
        return Result.ok(
            "the other checks agree: "
            + (
                f"{' and '.join(agree)} checks failed too"
                if agree
                else "no contradiction with the network and cache findings"
            ),
            data=data,
        )


CHECKS = [RealLoadCheck(), ConsistencyCheck()]
