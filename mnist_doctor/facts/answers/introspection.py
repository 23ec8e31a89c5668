"""The introspection's answer, read by shape into a typed record before anything uses it.

The answer comes from another program (``--python``), so it is input like any other: a program
that prints a well-formed JSON line of another shape (``{"env": [1]}``) made the doctor fail with
``TypeError: cannot unpack non-iterable int object`` in every format. Here every value the doctor
reads is checked against the shape ``target/introspect.py`` emits (:data:`ANSWER`); the first value
of another kind is named by its place (``env.HOME is a list, not a string``) and the answer is
refused as a whole: the interpreter is not a working Python (exit 2), never a traceback.

A section the script could not compute is ``null`` with its reason under ``errors``: that is a
shape too, read as an empty section. Keys the doctor does not read may hold anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

# ---------------------------------------------------------------- a small vocabulary of shapes


@dataclass(frozen=True)
class Opt:
    """``None`` or ``shape``."""

    shape: Any


@dataclass(frozen=True)
class ListOf:
    """A list whose every item has ``shape`` (and, with ``limit``, at most that many items)."""

    shape: Any
    limit: int | None = None


@dataclass(frozen=True)
class OneOf:
    """One of a few strings the script emits (a name the doctor compares, not free text)."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class MapOf:
    """An object whose every value has ``shape`` (keys are strings in JSON)."""

    shape: Any


@dataclass(frozen=True)
class Obj:
    """An object; each listed key, when present, has its shape (absent keys read as missing)."""

    fields: Mapping[str, Any]


#: Anything at all (a value the doctor only shows, or does not read).
ANY = object()

_KIND = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
         bool: "true or false", type(None): "null"}  # fmt: skip


def _kind(value: object) -> str:
    return _KIND.get(type(value), type(value).__name__)


def problem(value: object, shape: Any, where: str = "") -> str | None:
    """Where ``value`` departs from ``shape`` and how, or ``None`` when it fits."""
    here = where or "the answer"
    if shape is ANY:
        return None
    if isinstance(shape, Opt):
        return None if value is None else problem(value, shape.shape, where)
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return f"{here} is {_kind(value)}, not a list"
        if shape.limit is not None and len(value) > shape.limit:
            return f"{here} has {len(value)} items, more than {shape.limit}"
        for index, item in enumerate(value):
            found = problem(item, shape.shape, f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(shape, (MapOf, Obj)):
        if not isinstance(value, dict):
            return f"{here} is {_kind(value)}, not an object"
        for key, item in value.items():
            inner = shape.shape if isinstance(shape, MapOf) else shape.fields.get(key, ANY)
            found = problem(item, inner, f"{where}.{key}" if where else str(key))
            if found:
                return found
        return None
    if isinstance(shape, OneOf):
        if value in shape.values:
            return None
        shown = ascii(value)[:60] if isinstance(value, str) else _kind(value)
        return f"{here} is {shown}, not one of {', '.join(shape.values)}"
    # a JSON scalar: bool is not an int here, an int is a float
    fits = type(value) is shape or (shape is float and type(value) is int)
    return None if fits else f"{here} is {_kind(value)}, not {_KIND.get(shape, shape.__name__)}"


def record_of(cls: type[T], value: Mapping[str, Any], /, **read: Any) -> T:
    """An instance of the dataclass ``cls`` from an object already checked against its shape.

    Each of the object's keys that names a field fills it as given (the shape vouched for its
    kind); keys the record does not keep are left out, absent keys keep the field's default.
    ``read`` gives the fields that need reading first (a nested record, a list made a tuple).
    """
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    given = {key: item for key, item in value.items() if key in names and key not in read}
    return cls(**given, **read)


# ---------------------------------------------------------------- what target/introspect.py emits

_PATH_STATE = Obj({"path": str, "exists": bool, "is_dir": bool, "is_link": bool, "writable": bool})

#: The answer's shape, section by section (``target/introspect.py`` is the other half).
ANSWER = Obj(
    {
        "schema": int,
        "errors": MapOf(str),
        "python": Opt(
            Obj(
                {
                    "executable": Opt(str),
                    "version": ListOf(int),
                    "version_str": str,
                    "implementation": str,
                    "platform": str,
                    "machine": str,
                    "system": str,
                    "release": str,
                    "prefix": str,
                    "base_prefix": str,
                    "in_venv": bool,
                    "sys_path": ListOf(str),
                    "cwd": str,
                    "uid": Opt(int),
                    "user": Opt(str),
                }
            )
        ),
        "distributions": Opt(
            ListOf(
                Obj(
                    {
                        "name": Opt(str),
                        "key": Opt(str),
                        "version": Opt(str),
                        "location": Opt(str),
                        "requires": ListOf(str),
                        "purelib": Opt(bool),
                        "error": str,
                        "path": str,
                    }
                )
            )
        ),
        "modules": Opt(MapOf(Opt(Obj({"origin": Opt(str), "locations": ListOf(str), "error": str})))),
        "shadows": Opt(ListOf(Obj({"name": str, "path": str, "is_dir": bool}))),
        "env": Opt(MapOf(str)),
        "urllib": Opt(Obj({"getproxies": MapOf(str), "bypass": Opt(bool), "error": Opt(str), "host": str})),
        "ssl": Opt(
            Obj(
                {
                    "error": Opt(str),
                    "openssl_version": str,
                    "cafile": Opt(str),
                    "capath": Opt(str),
                    "openssl_cafile_env": Opt(str),
                    "openssl_cafile": Opt(str),
                    "openssl_capath_env": Opt(str),
                    "openssl_capath": Opt(str),
                    "https_context": str,
                    "x509_strict": bool,
                    "default_store": Obj({"x509_ca": int, "x509": int, "error": str}),
                }
            )
        ),
        "keras_paths": Opt(
            Obj({"home": str, "keras_home": Opt(str), "tempdir": str, "states": ListOf(_PATH_STATE)})
        ),
        "markers": Opt(MapOf(str)),
        "installers": Opt(Obj({"pip": Opt(bool)})),
        "trust": Opt(
            Obj(
                {
                    "ssl_context_class": str,
                    "create_default_context": str,
                    "truststore_importable": bool,
                    "pip_vendored_truststore": bool,
                    "hooks": ListOf(Obj({"kind": str, "path": str, "mentions": ListOf(str)})),
                    "pip_config": MapOf(Obj({"value": str, "source": str})),
                    "pip_system_certs": Obj({"loaded": bool, "injected": ANY}),
                }
            )
        ),
    }
)


@dataclass(frozen=True)
class PythonInfo:
    """The ``python`` section: which interpreter answered, where it runs (None: not reported)."""

    executable: str | None = None
    #: ``sys.version_info[:3]`` (three numbers, :meth:`Introspection.parse` checks).
    version: tuple[int, ...] | None = None
    version_str: str | None = None
    implementation: str | None = None
    platform: str | None = None
    machine: str | None = None
    system: str | None = None
    release: str | None = None
    prefix: str | None = None
    in_venv: bool | None = None
    cwd: str | None = None

    @classmethod
    def read(cls, section: Mapping[str, Any]) -> PythonInfo:
        """From a section already checked against :data:`ANSWER` (absent keys stay None)."""
        version = section.get("version")
        return record_of(cls, section, version=tuple(version) if version else None)


@dataclass(frozen=True)
class ModuleSpec:
    """Where ``importlib.util.find_spec`` finds a module (``modules`` section)."""

    origin: str | None = None
    locations: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Shadow:
    """A file or folder in the working directory named like a package (``shadows`` section)."""

    name: str
    path: str
    is_dir: bool = False


@dataclass(frozen=True)
class UrllibInfo:
    """The ``urllib`` section: the proxies ``urllib.request.getproxies()`` returns, by scheme."""

    getproxies: Mapping[str, str] = field(default_factory=dict)
    #: ``proxy_bypass`` said the dataset host goes direct (None: not asked).
    bypass: bool | None = None
    error: str | None = None


@dataclass(frozen=True)
class SslInfo:
    """The ``ssl`` section: where the default context looks for CAs, and what it found there."""

    #: ``import ssl`` failed (its message); nothing else is known then.
    error: str | None = None
    openssl_version: str | None = None
    cafile: str | None = None
    capath: str | None = None
    openssl_cafile: str | None = None
    openssl_capath: str | None = None
    #: ``default``, ``unverified`` or ``patched:<name>``: what ``ssl._create_default_https_context`` is.
    https_context: str | None = None
    x509_strict: bool = False
    #: CA certificates the default context loaded (``cert_store_stats()["x509_ca"]``); None: unknown.
    store_ca_count: int | None = None

    @classmethod
    def read(cls, section: Mapping[str, Any]) -> SslInfo:
        """From a section already checked against :data:`ANSWER` (absent keys stay empty)."""
        store = section.get("default_store") or {}
        return record_of(cls, section, store_ca_count=store.get("x509_ca"))


@dataclass(frozen=True)
class StartupHook:
    """A ``.pth`` file or sitecustomize that touches TLS at start-up."""

    kind: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class PipSetting:
    """One pip configuration value (``cert``, ``use-feature`` …) and the file or variable it came from."""

    value: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class TrustInfo:
    """The ``trust`` section: who decides which CAs the target's clients trust."""

    ssl_context_class: str | None = None
    truststore_importable: bool = False
    pip_vendored_truststore: bool = False
    hooks: tuple[StartupHook, ...] = ()
    pip_config: Mapping[str, PipSetting] = field(default_factory=dict)
    pip_system_certs_loaded: bool = False
    #: What pip_system_certs reported about its injection (shown as given).
    pip_system_certs_injected: Any = None

    @classmethod
    def read(cls, section: Mapping[str, Any]) -> TrustInfo:
        """From a section already checked against :data:`ANSWER` (absent keys stay empty)."""
        psc = section.get("pip_system_certs") or {}
        return record_of(
            cls,
            section,
            hooks=tuple(record_of(StartupHook, h) for h in section.get("hooks") or ()),
            pip_config={k: record_of(PipSetting, v) for k, v in (section.get("pip_config") or {}).items()},
            pip_system_certs_loaded=psc.get("loaded", False),
            pip_system_certs_injected=psc.get("injected"),
        )


def _shadow(item: Mapping[str, Any]) -> Shadow:
    if "name" not in item or "path" not in item:
        raise WrongShape("a shadows entry has no name or no path")
    return record_of(Shadow, item)


class WrongShape(ValueError):
    """The answer is not what a Python running ``target/introspect.py`` prints; says where."""


@dataclass(frozen=True)
class Introspection:
    """The examined interpreter's answer, every value of the kind :data:`ANSWER` names.

    ``python``, ``modules``, ``shadows``, ``urllib``, ``ssl`` and ``trust`` are typed records; the other
    sections stay mappings (their keys are the script's vocabulary, read by the checks that own
    them), but each is one (never ``None``) and every value in it has its documented kind.
    """

    python: PythonInfo
    distributions: tuple[Mapping[str, Any], ...]
    #: Each module's spec (None: not found).
    modules: Mapping[str, ModuleSpec | None]
    shadows: tuple[Shadow, ...]
    env: Mapping[str, str]
    urllib: UrllibInfo
    ssl: SslInfo
    keras_paths: Mapping[str, Any]
    markers: Mapping[str, str]
    installers: Mapping[str, Any]
    trust: TrustInfo
    errors: Mapping[str, str]

    @property
    def version(self) -> tuple[int, ...] | None:
        """The interpreter's ``sys.version_info[:3]``, when it reported one."""
        return self.python.version

    @classmethod
    def parse(cls, answer: object) -> Introspection:
        """Read ``answer`` by shape, or raise :class:`WrongShape` naming the first value that departs."""
        found = problem(answer, ANSWER)
        if found:
            raise WrongShape(found)
        assert isinstance(answer, dict)
        version = (answer.get("python") or {}).get("version")
        if version is not None and len(version) != 3:
            raise WrongShape(f"python.version has {len(version)} numbers, not 3")

        def section(name: str) -> Any:
            return answer.get(name) or {}

        return cls(
            python=PythonInfo.read(section("python")),
            distributions=tuple(answer.get("distributions") or ()),
            modules={
                name: record_of(ModuleSpec, spec, locations=tuple(spec.get("locations") or ()))
                if spec
                else None
                for name, spec in section("modules").items()
            },
            shadows=tuple(_shadow(item) for item in answer.get("shadows") or ()),
            env=section("env"),
            urllib=record_of(UrllibInfo, section("urllib")),
            ssl=SslInfo.read(section("ssl")),
            keras_paths=section("keras_paths"),
            markers=section("markers"),
            installers=section("installers"),
            trust=TrustInfo.read(section("trust")),
            errors=section("errors"),
        )
