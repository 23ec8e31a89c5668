"""Name the reason an ``import tensorflow`` (or tf.keras) failed, from its error text and stderr.

TensorFlow's failures rarely have a telling exception type: NumPy 2 against a TF built
for NumPy 1 surfaces as ImportError, AttributeError or SystemError depending on the
release, so the diagnosis matches the *text* (banner on stderr, message, chain).

Two facts decide *whom* to blame, so that the fix is the right one:

- the module whose import raised, read from the traceback (the innermost frame inside an
  installed package other than NumPy): the NumPy 1.x/2.x ABI banner raised while importing
  ``ml_dtypes`` or ``h5py`` is that package's fault, not TensorFlow's;
- the direction of a NumPy ABI mismatch, read from the evidence (:func:`abi_direction`): a
  module built for NumPy 1 under NumPy 2 ("A module that was compiled using NumPy 1.x cannot
  be run in NumPy 2", ``_ARRAY_API not found``) needs NumPy 1 or a rebuilt module; one built
  for NumPy 2 under NumPy 1 ("module was compiled against NumPy C-API version 0x12 (NumPy
  2.0) but the running NumPy has C-API version 0x11") needs a build of that module for the
  running NumPy — the NumPy TensorFlow accepts is kept (``numpy==`` the running version), as
  ``compat.closure`` does for the same case;
- the target's environment: ``TF_USE_LEGACY_KERAS`` is blamed only when it holds a value
  TensorFlow honours (``1``, ``true``, ``True``), as read in the target process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from mnist_doctor.causes import IMPORT, Diagnosis, Rule, RuleTable, rx
from mnist_doctor.facts.closure import merged
from mnist_doctor.facts.flavour import LEGACY_ON
from mnist_doctor.text.hints import Command, install_command, said, uninstall_command


@dataclass(frozen=True)
class Context:
    """What the classifier knows about the target beyond the text."""

    text: str
    target_python: str
    tf_minor: str | None
    legacy_keras: str | None
    declared: dict[str, str] = field(default_factory=dict)
    module: str | None = None
    #: The NumPy that imported in the probe (its ``numpy`` stage), when it did.
    numpy_version: str | None = None

    def install(self, *specs: str, flags: tuple[str, ...] = ()) -> Command:
        return install_command(self.target_python, *specs, flags=flags)

    def wanted(self, dist: str, fallback: str = "") -> str:
        """``dist`` with the specifier TensorFlow declares for it (``ml_dtypes<1,>=0.5.1``)."""
        spec = self.declared.get(_canonical(dist))
        return f"{dist}{spec}" if spec else f"{dist}{fallback}"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+', re.MULTILINE)
_PACKAGE = re.compile(r"[\\/](?:site|dist)-packages[\\/](?P<top>[A-Za-z_][\w]*)(?:\.py)?(?:[\\/]|$)")
_BLOCK = re.compile(r"Traceback \(most recent call last\):\n(?P<frames>(?:[ \t].*\n?)*)(?P<error>.*)")
#: Frames that only relay an import: blame the package that imported *through* them.
_RELAYS = {"numpy", "importlib", "six", "_distutils_hack"}


def raising_module(text: str, error: re.Pattern[str] | None = None) -> str | None:
    """The top-level package whose import raised, read from a traceback in ``text``.

    The innermost frame inside an installed package (``site-packages/<pkg>/...``) other
    than NumPy (whose frames only report the mismatch). With several tracebacks, the first
    one whose exception line matches ``error`` wins, else the last one.
    """
    blocks = list(_BLOCK.finditer(text))
    if not blocks:
        return _innermost(text)
    chosen = next((b for b in blocks if error is not None and error.search(b.group("error"))), blocks[-1])
    return _innermost(chosen.group("frames"))


def _innermost(frames: str) -> str | None:
    for frame in reversed(list(_FRAME.finditer(frames))):
        found = _PACKAGE.search(frame.group("path"))
        if found and found.group("top") not in _RELAYS:
            return found.group("top")
    return None


#: (summary, hint text after the command, command) for a context; None: the rule does not apply.
Verdict = tuple[str, str, Command | None]


def _rule(
    name: str, pattern: re.Pattern[str], judge: Callable[[Context], Verdict | None]
) -> Rule[Context, Diagnosis]:
    """A cause of the table: ``judge`` words it once ``pattern`` appeared in the text."""

    def diagnose(ctx: Context, match: re.Match[str] | None) -> Diagnosis | None:
        ctx = replace(ctx, module=raising_module(ctx.text, pattern))
        verdict = judge(ctx)
        return _diagnosis(name, ctx, verdict) if verdict is not None else None

    return Rule(name, diagnose, pattern)


#: The compat check whose failure foretells each cause: the import failure folds into it.
PREDICTED_BY = {
    "numpy-abi": ("compat.numpy",),
    "keras-missing": ("compat.keras",),
    "tf-keras-missing": ("compat.keras",),
    "keras-mismatch": ("compat.keras",),
}


def _diagnosis(name: str, ctx: Context, verdict: Verdict) -> Diagnosis:
    summary, rest, command = verdict
    hint = str(command) + rest if command is not None else rest
    fixes = command.steps if command is not None else ()
    links = PREDICTED_BY.get(name, ())
    return Diagnosis(name, IMPORT, summary, hint, module=ctx.module, fixes=fixes, explained_by=links)


#: The first TensorFlow minor built against NumPy 2 (earlier ones need NumPy 1.x at run time,
#: whatever their metadata says: 2.14.0 declares no cap and still breaks).
FIRST_NUMPY2_TF = (2, 18)


def _tf_needs_numpy1(ctx: Context) -> bool:
    """TensorFlow itself cannot run on NumPy 2 here (its declared range or its release says so)."""
    spec = ctx.declared.get("numpy")
    if spec:
        try:
            if not SpecifierSet(spec).contains("2.0.0"):
                return True
        except InvalidSpecifier:
            pass
    try:
        major, minor = (int(p) for p in (ctx.tf_minor or "").split(".")[:2])
    except ValueError:
        return False
    return (major, minor) < FIRST_NUMPY2_TF


#: NumPy's own words for each direction of an ABI mismatch. ``built`` and ``running`` are the
#: C-API (or ABI) versions of the module's build and of the running NumPy, when it says them.
_NEWER_BUILD = re.compile(
    r"compiled against NumPy C-API version (?P<built>0x[0-9a-fA-F]+) \(NumPy (?P<numpy>[\d.]+)\) "
    r"but the running NumPy has C-API version (?P<running>0x[0-9a-fA-F]+)"
)
_VERSIONS = re.compile(
    r"module compiled against (?:ABI|API) version (?P<built>0x[0-9a-fA-F]+) "
    r"but this version of numpy is (?P<running>0x[0-9a-fA-F]+)"
)
_OLDER_BUILD = re.compile(r"compiled using NumPy 1\.x cannot be run in\s+NumPy 2|_ARRAY_API not found")


@dataclass(frozen=True)
class AbiDirection:
    """Whether the module was built for a *newer* NumPy than the running one, and which, if said."""

    newer: bool
    built_for: str | None = None


def abi_direction(text: str, numpy_version: str | None) -> AbiDirection:
    """The direction of a NumPy ABI mismatch, from NumPy's message; else from the running NumPy
    (under NumPy 1, a module that fails NumPy's import check was built for NumPy 2)."""
    found = _NEWER_BUILD.search(text)
    if found:
        return AbiDirection(int(found["built"], 16) > int(found["running"], 16), f"NumPy {found['numpy']}")
    found = _VERSIONS.search(text)
    if found:
        return AbiDirection(int(found["built"], 16) > int(found["running"], 16))
    if _OLDER_BUILD.search(text):
        return AbiDirection(False, "NumPy 1.x")
    return AbiDirection(bool(numpy_version and numpy_version.split(".")[0] == "1"))


def _numpy_abi(ctx: Context) -> tuple[str, str, Command | None]:
    direction = abi_direction(ctx.text, ctx.numpy_version)
    if direction.newer:
        return _built_for_newer_numpy(ctx, direction)
    culprit = ctx.module
    numpy1 = ctx.install("numpy<2")
    if _tf_needs_numpy1(ctx):
        # The first extension to fail (often ml_dtypes, imported by TensorFlow) is a symptom:
        # TensorFlow itself is built for NumPy 1.x, so only NumPy 1 or a newer TensorFlow helps.
        first = f" ({culprit} failed first)" if culprit and culprit != "tensorflow" else ""
        return (
            f"NumPy 2 with a TensorFlow built for NumPy 1.x{first}",
            "  (or upgrade TensorFlow: " + ctx.install("tensorflow>=2.18").advice + ")",
            numpy1,
        )
    if culprit and culprit not in ("tensorflow", "tf_keras", "keras"):
        upgrade = ctx.install(
            ctx.wanted(culprit), flags=() if ctx.declared.get(_canonical(culprit)) else ("--upgrade",)
        )
        return (
            f"{culprit} was compiled for NumPy 1.x and cannot run with NumPy 2 "
            f"(raised while importing {culprit}, not TensorFlow)",
            f"  (or keep that {culprit} and go back to NumPy 1: " + numpy1.advice + ")",
            upgrade,
        )
    return (
        "NumPy 2 with a TensorFlow built for NumPy 1.x",
        "  (or upgrade TensorFlow: " + ctx.install("tensorflow>=2.18").advice + ")",
        numpy1,
    )


def _within(declared: str | None, floor: str) -> str:
    """``floor`` inside TensorFlow's declared range: ``>=2.0`` and ``>=1.26.0`` give ``>=2.0``."""
    try:
        return merged([SpecifierSet(declared or ""), SpecifierSet(floor)])
    except InvalidSpecifier:
        return floor


def _built_for_newer_numpy(ctx: Context, direction: AbiDirection) -> tuple[str, str, Command | None]:
    """A module built for a newer NumPy than the running one (ml_dtypes 0.6 under NumPy 1.26).

    The running NumPy is kept when TensorFlow accepts it: the module is reinstalled within
    TensorFlow's range with NumPy pinned, so the resolver picks a build for this NumPy (why
    that direction: :func:`mnist_doctor.facts.closure.plan_move`). Upgrading NumPy is the
    alternative, within TensorFlow's own NumPy range.
    """
    built = direction.built_for or "a newer NumPy"
    running = f"NumPy {ctx.numpy_version}" if ctx.numpy_version else "the installed NumPy"
    floor = f">={direction.built_for.split()[-1]}" if direction.built_for else ""
    upgrade = ctx.install(f"numpy{_within(ctx.declared.get('numpy'), floor)}") if floor else None
    culprit = ctx.module
    if culprit and culprit not in ("tensorflow", "tf_keras", "keras"):
        keep = (f"numpy=={ctx.numpy_version}",) if ctx.numpy_version else ()
        alternative = (
            "; or upgrade NumPy: " + upgrade.advice
            if upgrade is not None and not _tf_needs_numpy1(ctx)
            else ""
        )
        return (
            f"{culprit} was compiled for {built} and cannot run with {running} "
            f"(raised while importing {culprit}, not TensorFlow)",
            f"  (keeps {running}: the resolver picks a {culprit} built for it" + alternative + ")",
            ctx.install(ctx.wanted(culprit), *keep),
        )
    where = "TensorFlow" if culprit in (None, "tensorflow") else culprit
    return (
        f"{where if culprit else 'a module'} was compiled for {built} and cannot run with {running}",
        "  (a NumPy within TensorFlow's range)"
        if upgrade is not None
        else "run with --verbose to see which module",
        upgrade,
    )


#: What TensorFlow itself logs (stderr) when it honoured TF_USE_LEGACY_KERAS and found no tf_keras:
#: its own witness of the variable's value (its ImportError then carries no chain).
_TF_LEGACY_WARNING = re.compile(r"TF_USE_LEGACY_KERAS set to True, but you do not have the tf_keras package")


def _keras_missing(ctx: Context) -> tuple[str, str, Command | None] | None:
    text = ctx.text
    wants_tf_keras = (
        re.search(r"No module named 'tf_keras'", text)
        or _TF_LEGACY_WARNING.search(text)
        or (not re.search(r"No module named 'keras'", text) and ctx.legacy_keras in LEGACY_ON)
    )
    if wants_tf_keras:
        pin = f"tf-keras~={ctx.tf_minor}.0" if ctx.tf_minor else "tf-keras"
        value = f"={ctx.legacy_keras}" if ctx.legacy_keras in LEGACY_ON else ""
        return (
            f"TF_USE_LEGACY_KERAS{value} asks for tf-keras, which is not installed",
            "  (or " + said("unset TF_USE_LEGACY_KERAS") + ")",
            ctx.install(pin),
        )
    legacy = ""
    if ctx.legacy_keras is not None and ctx.legacy_keras not in LEGACY_ON:
        legacy = f"; TF_USE_LEGACY_KERAS={ctx.legacy_keras!r} is not a value TensorFlow honours"
    want = ctx.wanted("keras", ">=3")
    tf = f"TensorFlow {ctx.tf_minor}" if ctx.tf_minor else "TensorFlow"
    return (
        f"Keras is not installed, and {tf} needs {want} for tf.keras{legacy}",
        "  (the Keras this TensorFlow declares)",
        ctx.install(want),
    )


_KERAS_GONE = rx(r"Keras cannot be imported", r"No module named 'tf_keras'")


def _keras(ctx: Context, match: re.Match[str] | None) -> Diagnosis | None:
    ctx = replace(ctx, module=raising_module(ctx.text, _KERAS_GONE))
    verdict = _keras_missing(ctx)
    if verdict is None:
        return None
    asks_legacy = verdict[0].startswith("TF_USE_LEGACY_KERAS")
    return _diagnosis("tf-keras-missing" if asks_legacy else "keras-missing", ctx, verdict)


def _fixed(summary: str, hint: str) -> Callable[[Context], tuple[str, str, Command | None]]:
    return lambda ctx: (summary, hint, None)


def _protobuf(ctx: Context) -> tuple[str, str, Command | None]:
    return (
        "protobuf does not match what this TensorFlow was generated with",
        "  (the version TensorFlow declares; see compat.requirements)",
        ctx.install(ctx.wanted("protobuf"))
        if ctx.declared.get("protobuf")
        else ctx.install("tensorflow", "protobuf", flags=("--upgrade",)),
    )


def _mixed(ctx: Context) -> tuple[str, str, Command | None]:
    cmd = uninstall_command(ctx.target_python, "tensorflow", "tensorflow-cpu", "tensorflow-intel").then(
        ctx.install("tensorflow", flags=("--force-reinstall",))
    )
    return (
        "TensorFlow's files come from two different builds (two TF distributions, or one over another)",
        "",
        cmd,
    )


def _keras_mismatch(ctx: Context) -> tuple[str, str, Command | None]:
    return (
        "the installed Keras does not match this TensorFlow",
        "",
        ctx.install("tensorflow", "keras", flags=("--upgrade",)),
    )


def _missing(ctx: Context) -> tuple[str, str, Command | None]:
    found = re.search(r"No module named '([\w]+)", ctx.text)
    name = found.group(1) if found else "tensorflow"
    return (f"{name} is not installed in this environment", "", ctx.install(ctx.wanted(name)))


def _missing_module(ctx: Context) -> tuple[str, str, Command | None]:
    found = re.search(r"No module named '([\w]+)", ctx.text)
    name = found.group(1) if found else "tensorflow"
    return ("a module TensorFlow needs is not installed", "", ctx.install(ctx.wanted(name)))


_RULES = (
    _rule(
        "numpy-abi",
        rx(
            r"compiled using NumPy 1\.x cannot be run in\s+NumPy 2",
            r"compiled against NumPy C-API version",
            r"_ARRAY_API not found",
            r"numpy\._?core\.\w*(multiarray|umath) failed to import",
            r"numpy\.dtype size changed",
            r"module compiled against (ABI|API) version",
        ),
        _numpy_abi,
    ),
    _rule(
        "protobuf",
        rx(
            r"Descriptors cannot be created directly",
            r"cannot import name 'builder' from 'google\.protobuf",
            r"google\.protobuf\.runtime_version",
            r"Detected mismatched Protobuf Gencode/Runtime",
        ),
        _protobuf,
    ),
    # One message for two causes: tf-keras-missing when TF_USE_LEGACY_KERAS asks for it.
    Rule("keras-missing", _keras, _KERAS_GONE),
    _rule(
        "mixed-install",
        rx(r"tensorflow[\w/.-]*\.so: undefined symbol", r"undefined symbol: \w*(PyInit|pywrap)"),
        _mixed,
    ),
    _rule(
        "keras-mismatch",
        rx(
            r"Keras 3 only supports",
            r"keras\.src",
            r"module 'keras\.\w+' has no attribute",
            r"cannot import name '[\w]+' from 'keras",
            # Keras 2 / tf-keras of another minor calling TensorFlow's private API
            r"module 'tensorflow\._api\.[\w.]+' has no attribute",
        ),
        _keras_mismatch,
    ),
    _rule(
        "cpu-instructions",
        # Not a bare "AVX": every TF import prints "optimized to use available CPU instructions ... AVX2".
        rx(
            r"Illegal instruction",
            r"SIGILL",
            r"compiled to use AVX instructions, but these aren't available",
        ),
        _fixed(
            "this CPU lacks instructions (AVX) the TensorFlow wheel was compiled for",
            "use a TensorFlow build for this CPU (e.g. conda-forge's tensorflow, or build from source)",
        ),
    ),
    _rule(
        "dll",
        rx(r"DLL load failed", r"msvcp140", r"vcruntime140"),
        _fixed(
            "a native library TensorFlow needs could not be loaded (Windows DLL)",
            "install the Microsoft Visual C++ Redistributable (x64) and restart the shell",
        ),
    ),
    _rule(
        "glibc",
        rx(r"GLIBC_[\d.]+' not found", r"GLIBCXX_[\d.]+' not found"),
        _fixed(
            "this system's C library is older than the TensorFlow wheel needs",
            "use a newer OS image, or an older TensorFlow built for this glibc",
        ),
    ),
    _rule(
        "shadowed",
        rx(
            r"partially initialized module '(tensorflow|keras|numpy)'",
            r"module '(tensorflow|keras|numpy)' has no attribute '(__version__|keras|datasets)'",
        ),
        _fixed(
            "a file or folder in the working directory shadows the real package",
            "rename the file named like the package (see env.shadowing), and remove its __pycache__",
        ),
    ),
    _rule(
        "memory",
        rx(r"MemoryError", r"std::bad_alloc", r"Cannot allocate memory"),
        _fixed(
            "out of memory while importing",
            "close other programs or raise the memory limit (container/ulimit)",
        ),
    ),
    _rule("not-installed", rx(r"No module named '(tensorflow|keras|numpy)'"), _missing),
    _rule("missing-module", rx(r"No module named '([\w.]+)'"), _missing_module),
)

#: Most specific first; the first rule whose pattern appears and whose judge agrees names the cause.
RULES: RuleTable[Context, Diagnosis] = RuleTable(_RULES)


def classify_import_failure(
    text: str,
    *,
    target_python: str,
    signal_name: str | None = None,
    tf_minor: str | None = None,
    legacy_keras: str | None = None,
    declared: dict[str, str] | None = None,
    numpy_version: str | None = None,
) -> Diagnosis:
    """The first rule whose pattern appears in ``text`` (error + chain + stderr + traceback).

    ``legacy_keras`` is ``TF_USE_LEGACY_KERAS`` as the target process saw it (None: unset);
    ``declared`` maps distribution names to the specifiers TensorFlow's ``Requires-Dist``
    gives them, so a fix installs what TensorFlow declares (``keras>=3.12.0``);
    ``numpy_version`` is the NumPy the probe imported, when it did (the ABI's direction).
    """
    if signal_name == "SIGILL":
        text = text + "\nSIGILL"
    ctx = Context(
        text,
        target_python,
        tf_minor,
        legacy_keras,
        {_canonical(k): v for k, v in (declared or {}).items()},
        numpy_version=numpy_version,
    )
    found = RULES.first(ctx)
    if found is not None:
        return found
    if signal_name:
        return Diagnosis(
            "crash",
            IMPORT,
            f"the interpreter crashed ({signal_name}) while importing",
            'run python -X faulthandler -c "import tensorflow" to see where; reinstall TensorFlow',
        )
    return Diagnosis("unknown", IMPORT, "import failed", "run with --verbose for the full traceback")
