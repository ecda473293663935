"""Agent plug-in interface, request/result types and the registry of built-in and entry-point agents."""

from __future__ import annotations

import importlib
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, get_args, runtime_checkable

from compiler.language.plugins import AGENT_ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from compiler.language.plugins import AGENT_FACTORIES, BUILTIN_AGENTS, LOCK

__all__ = [
    "BUILTIN_AGENTS",
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentError",
    "AgentMode",
    "AgentNotFound",
    "AgentOutcome",
    "AgentRequest",
    "AgentResult",
    "AgentStatus",
    "RepositoryAgent",
    "available_agents",
    "get_agent",
    "register_agent",
    "resolve_repository_root",
    "unregister_agent",
]

_log = logging.getLogger(__name__)


# "dry_run" must not change anything on disk; "apply" may write (for example PG_DISCOVERY's inventory).
AgentMode = Literal["dry_run", "apply"]
AgentStatus = Literal["completed", "failed"]

# The YAML layer also says "live" for "may write"; accepting it here keeps the two vocabularies from drifting.
_MODE_ALIASES: Mapping[str, str] = {"live": "apply"}


# Agent names end up in YAML, events and logs: keep them to identifier-like tokens.
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class AgentRequest:
    """What to inspect and whether the agent may write; ``options`` carries extra parameters from YAML."""

    repository_root: Path
    mode: AgentMode = "dry_run"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise via object.__setattr__ once, so every agent sees canonical values.
        object.__setattr__(self, "repository_root", Path(self.repository_root))
        mode = _MODE_ALIASES.get(self.mode, self.mode)
        if mode not in get_args(AgentMode):
            raise ValueError(f"mode must be 'dry_run' or 'apply' (alias 'live'); got {self.mode!r}")
        object.__setattr__(self, "mode", mode)
        # A private plain dict: detached from the caller's mapping and picklable for subprocess runners.
        object.__setattr__(self, "options", dict(self.options))


@dataclass(frozen=True)
class AgentResult:
    """Outcome of one run; ``data`` is JSON-serialisable and becomes the action's output and event payload."""

    agent_name: str
    status: AgentStatus
    summary: str
    data: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: int = 0

    def __post_init__(self) -> None:
        if self.status not in get_args(AgentStatus):
            raise ValueError(f"status must be 'completed' or 'failed'; got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable when ``data`` and ``findings`` are)."""
        return asdict(self)


@runtime_checkable
class Agent(Protocol):
    """A plug-in agent. ``run`` is synchronous; the runtime runs it in a subprocess/thread with a deadline."""

    name: str
    description: str

    def run(self, request: AgentRequest) -> AgentResult: ...


class AgentNotFound(LookupError):
    """No agent of that name is available; the message lists the known names."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        # Both values go into args so the exception pickles across a subprocess boundary.
        super().__init__(name, tuple(sorted(known)))

    @property
    def name(self) -> str:
        return str(self.args[0])

    @property
    def known(self) -> tuple[str, ...]:
        return tuple(self.args[1])

    def __str__(self) -> str:
        return f"unknown agent {self.name!r}; known: {', '.join(self.known) or '(none)'}"


class AgentError(RuntimeError):
    """An agent cannot run: bad input (e.g. missing repository_root) or a plug-in that fails to load."""


@dataclass
class AgentOutcome:
    """What a ``RepositoryAgent.inspect`` returns; ``run`` adds the agent name and the duration."""

    summary: str
    data: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    status: AgentStatus = "completed"


def resolve_repository_root(repository_root: Path | str) -> Path:
    """Absolute, symlink-resolved root; AgentError when it does not exist or is not a directory."""
    root = Path(repository_root).expanduser()
    if not root.exists():
        raise AgentError(f"repository_root '{root}' does not exist")
    if not root.is_dir():
        raise AgentError(f"repository_root '{root}' is not a directory")
    return root.resolve()


class RepositoryAgent(ABC):
    """Base for agents that inspect a repository folder: validates input, times the run, reports I/O failure.

    Subclasses set ``name``, ``description`` and ``accepted_options`` and implement ``inspect``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    accepted_options: ClassVar[frozenset[str]] = frozenset()

    def run(self, request: AgentRequest) -> AgentResult:
        started = time.monotonic()
        # Bad input is the caller's error, so it raises instead of becoming a "failed" result.
        root = resolve_repository_root(request.repository_root)
        try:
            outcome = self.inspect(root, request)
        except OSError as exc:
            # The disk misbehaved mid-run (permissions, vanished files, full disk): a failed run, not a crash.
            outcome = AgentOutcome(
                summary=f"{self.name} failed: {exc}",
                data={"error": f"{type(exc).__name__}: {exc}"},
                status="failed",
            )
        ignored = sorted(set(request.options) - self.accepted_options)
        if ignored:
            # Unknown YAML parameters are reported rather than rejected, so a typo is visible in the output.
            outcome.data["ignored_options"] = ignored
        return AgentResult(
            agent_name=self.name,
            status=outcome.status,
            summary=outcome.summary,
            data=outcome.data,
            findings=outcome.findings,
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    @abstractmethod
    def inspect(self, root: Path, request: AgentRequest) -> AgentOutcome:
        """Do the work on the resolved ``root``; must not write anything unless ``request.mode == "apply"``."""

    @staticmethod
    def int_option(request: AgentRequest, key: str, default: int, *, minimum: int, maximum: int) -> int:
        """Read an integer option, raising AgentError when it is not an int within [minimum, maximum]."""
        value = request.options.get(key, default)
        # bool is an int subclass; ``max_files: true`` in YAML is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise AgentError(f"option {key!r} must be an integer in [{minimum}, {maximum}]; got {value!r}")
        return value


# --- registry -----------------------------------------------------------------------------------------

# The registrations live in the language's table (validate checks agent names without loading them).
_lock = LOCK
_registered: dict[str, Callable[[], Agent]] = AGENT_FACTORIES
_warned: set[tuple[str, str]] = set()  # warn about each shadowed entry point once per process, not per lookup


def _warn_once(name: str, value: str, message: str) -> None:
    with _lock:
        if (name, value) in _warned:
            return
        _warned.add((name, value))
    _log.warning(message)


def _load_target(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _discover() -> tuple[dict[str, Callable[[], Agent]], dict[str, str]]:
    """Factories by name plus load errors of entry points that could not be imported.

    Precedence: built-ins, then ``register_agent``, then entry points. An entry point whose name is taken
    by a different object is ignored with a warning (nothing is overridden silently); the project's own
    entry points for the built-ins point at the same objects and are simply recognised.
    """
    factories: dict[str, Callable[[], Agent]] = {
        name: _load_target(target) for name, target in BUILTIN_AGENTS.items()
    }
    with _lock:
        registered = dict(_registered)
    factories.update(registered)  # register_agent refuses built-in names, so this cannot replace one
    errors: dict[str, str] = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        name, value = entry_point.name, entry_point.value
        if name in BUILTIN_AGENTS:
            if value.replace(" ", "") != BUILTIN_AGENTS[name]:
                _warn_once(name, value, f"entry point agent {name}={value} ignored: built-in {name} wins")
            continue
        if name in factories:
            owner = "register_agent" if name in registered else "an earlier entry point"
            _warn_once(name, value, f"entry point agent {name}={value} ignored: {name} already provided by {owner}")
            continue
        try:
            factory = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in (any error at import) must not hide the others
            errors[name] = f"entry point {name}={value} failed to load: {type(exc).__name__}: {exc}"
            _warn_once(name, value, errors[name])
            continue
        if not callable(factory):
            errors[name] = f"entry point {name}={value} is not callable"
            continue
        factories[name] = factory
    return factories, errors


def available_agents() -> dict[str, Callable[[], Agent]]:
    """All loadable agents by name: built-ins, in-code registrations and ``platform_god.agents`` entry points.

    Entry points are re-read on every call so a plug-in installed while the worker runs is picked up.
    Entry points that fail to import are left out here; ``get_agent`` of such a name raises AgentError.
    """
    factories, _errors = _discover()
    return dict(sorted(factories.items()))


def get_agent(name: str) -> Agent:
    """Instantiate the agent called ``name``; AgentNotFound if unknown, AgentError if it cannot be built."""
    factories, errors = _discover()
    factory = factories.get(name)
    if factory is None:
        if name in errors:
            raise AgentError(f"agent {name!r} is unavailable: {errors[name]}")
        raise AgentNotFound(name, factories)
    try:
        agent = factory()
    except Exception as exc:  # plug-in constructors are third-party code; report them uniformly
        raise AgentError(f"agent {name!r} could not be constructed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(agent, Agent):
        raise AgentError(f"agent {name!r} does not implement the Agent protocol (name, description, run)")
    return agent


def register_agent(name: str, factory: Callable[[], Agent]) -> None:
    """Register an agent in code (tests, embedding).

    Raises ValueError for a malformed name, a built-in name, or a name already registered to a different
    factory; re-registering the same factory is a no-op so module reloads stay harmless.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"invalid agent name {name!r}: use letters, digits, '_', '.', '-', starting with a letter")
    if not callable(factory):
        raise ValueError(f"factory for agent {name!r} is not callable")
    if name in BUILTIN_AGENTS:
        raise ValueError(f"agent name {name!r} is a built-in and cannot be replaced")
    with _lock:
        existing = _registered.get(name)
        if existing is not None and existing is not factory:
            raise ValueError(f"agent {name!r} is already registered to {existing!r}; unregister it first")
        _registered[name] = factory


def unregister_agent(name: str) -> None:
    """Remove an in-code registration (no-op when absent); built-ins and entry points are unaffected."""
    with _lock:
        _registered.pop(name, None)
