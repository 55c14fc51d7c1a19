"""The registries of the model's components: one table per kind, each mapping a name to everything the suite needs to
know about it. A table is also the list of valid names: config validation, the CLI help, the report's labels, the
timing suite's variants and profiler scopes, and the cost estimates all read it.

- :data:`MODEL_FAMILY`: ``gaitset`` and ``gstsn``, the members selected by ``ModelConfig.temporal``;
- :data:`IDR_STATISTICS`: the statistics IDR reduces each frame map's width with (``ModelConfig.idr_stat``, one name
  or a ``+``-joined sum of several);
- :data:`TEMPORAL_MODULES`: what runs over the IDR features of each row, frame after frame, before temporal pooling
  (``ModelConfig.temporal_module``).

An entry (:class:`Component`) gives its name, its label, its constructor (an import path, resolved only when a model
is built, so that this module and everything that reads it stay free of torch: the report never imports it), the
config fields its constructor reads, its profiler scope (its module path in the model, also the prefix of its weights
in a state dict) and its part of a timing-suite variant id. Costs are not declared here: they are measured from the
built module (``gstsn.timing.flops.model_flops``). ``docs/extending.md`` shows how to add an entry.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gstsn.config.checks import ConfigError


@dataclass(frozen=True)
class Component:
    """One registered component.

    - ``label``: its name on report pages and in timing labels, a format string over the fields it reads
      (``"LSTM×{lstm_layers}"``); empty: the name.
    - ``build``: ``"package.module:attribute"`` (or the callable itself) taking the ``ModelConfig`` and returning the
      built part; None: nothing to build.
    - ``reads``: the ``ModelConfig`` fields its constructor reads beyond the channel widths (an axis over a field that
      no cell's model reads is refused by the study loader).
    - ``scope``: its module path in the model (``temporal.lstm``), the profiler scope ``gstsn::<scope>`` and the
      prefix of its weights; the registry's prefix plus the name when not given.
    - ``timing_tag``: its part of a timing variant id, a format string like ``label``; empty: the name.
    - ``timed``: whether the timing suite times it on its own (False when another entry already times the same
      computation).
    """

    name: str
    label: str = ""
    build: str | Callable[..., Any] | None = None
    reads: tuple[str, ...] = ()
    scope: str | None = None
    timing_tag: str = ""
    help: str = ""
    timed: bool = True

    def constructor(self) -> Callable[..., Any] | None:
        """The callable that builds the component (imported now), or None."""
        if self.build is None or callable(self.build):
            return self.build
        module, _, attribute = self.build.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def describe(self) -> str:
        """``help``, else the first line of the constructor's docstring (imported now), else ""."""
        build = self.constructor() if not self.help else None
        doc = (getattr(build, "__doc__", None) or "").strip()
        return self.help or doc.split("\n")[0].rstrip(".")

    def label_for(self, fields: Mapping[str, Any], show: Callable[[Any], str] = str) -> str | None:
        """``label`` filled in with ``fields`` (each value through ``show``); None when one of them is missing."""
        return _fill(self.label or self.name, fields, show)

    def timing_tag_for(self, fields: Mapping[str, Any]) -> str:
        return _fill(self.timing_tag or self.name, fields, str) or self.name


@dataclass(frozen=True)
class FamilyMember(Component):
    """A member of the model family: the value of ``ModelConfig.temporal`` that selects it."""

    temporal: bool = False


def _fill(template: str, fields: Mapping[str, Any], show: Callable[[Any], str]) -> str | None:
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(fields.get(name) is None for name in names):
        return None
    return template.format(**{name: show(fields[name]) for name in names})


class Registry:
    """The components of one kind, by name, in the order they were added."""

    def __init__(self, kind: str, field: str, scope_prefix: str | None = None, scope: str | None = None) -> None:
        """``scope_prefix``: an entry's default scope is the prefix plus its name (one module each); ``scope``: the
        one scope every entry fills (the IDR statistics all run inside ``temporal.idr``)."""
        self.kind, self.field, self.scope_prefix, self.scope = kind, field, scope_prefix, scope
        self._entries: dict[str, Component] = {}

    def add(self, component: Component) -> Component:
        """Register ``component`` (a name may be registered once); returns it with its default scope filled in."""
        name = component.name
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"a {self.kind} needs a name that is a Python identifier; got {name!r}")
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is registered already; choose another name")
        if component.scope is None and component.build is not None:
            default = self.scope or (f"{self.scope_prefix}{name}" if self.scope_prefix is not None else None)
            component = replace(component, scope=default)
        self._entries[name] = component
        return component

    def remove(self, name: str) -> None:
        """Unregister ``name`` (a component registered for a while, e.g. by a test)."""
        del self._entries[name]

    def __getitem__(self, name: str) -> Component:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names)}") from None

    def get(self, name: str) -> Component | None:
        """The entry of ``name``, or None (a name read from a file may be one this process has not registered)."""
        return self._entries.get(name) if isinstance(name, str) else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[Component]:
        return iter(list(self._entries.values()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def choices_help(self) -> str:
        """``name (help), ...`` for the CLI help (an entry without ``help``: the first line of its constructor's
        docstring, which imports it)."""
        return ", ".join(f"{e.name} ({text})" if (text := e.describe()) else e.name for e in self)


MODEL_FAMILY = Registry("model", "temporal")
IDR_STATISTICS = Registry("IDR statistic", "idr_stat", scope="temporal.idr")
TEMPORAL_MODULES = Registry("temporal module", "temporal_module", scope_prefix="temporal.")

#: the registries whose names are the values of a config field (the CLI lists them in the field's help)
FIELD_REGISTRIES: dict[str, Registry] = {r.field: r for r in (IDR_STATISTICS, TEMPORAL_MODULES)}

_SPATIAL = ("temporal", "channels", "hpm_bins", "embed_dim")
_FAMILY_CLASS = "gstsn.models.gstsn:GaitSetFamily"  # one class, both members: the temporal branch only with GSTSN
MODEL_FAMILY.add(FamilyMember("gaitset", "GaitSet", _FAMILY_CLASS, _SPATIAL, "spatial", temporal=False))
MODEL_FAMILY.add(
    FamilyMember(
        "gstsn",
        "GSTSN",
        _FAMILY_CLASS,
        (*_SPATIAL, "idr_stat", "temporal_module"),
        "temporal",
        help="GaitSet plus the temporal branch: IDR, a temporal module, temporal pooling, HPM",
        temporal=True,
    )
)
for _stat in ("median", "max", "min", "mean"):
    IDR_STATISTICS.add(Component(_stat, build=f"gstsn.models.layers:{_stat}_over"))
TEMPORAL_MODULES.add(
    Component("none", "no temporal module", help="IDR features straight to pooling, as lstm_layers = 0", timed=False)
)
TEMPORAL_MODULES.add(
    Component(
        "lstm",
        "LSTM×{lstm_layers}",
        "gstsn.models.lstm:lstm_over_frames",
        reads=("lstm_layers",),
        timing_tag="L{lstm_layers}",
        help="the paper's: an LSTM over the frames of each row, lstm_layers deep",
    )
)
TEMPORAL_MODULES.add(Component("tconv", "temporal conv k=3", "gstsn.models.temporal_conv:TemporalConv"))


def family_member(fields: Mapping[str, Any]) -> FamilyMember:
    """The family member a config selects (``fields``: a ``ModelConfig`` or a mapping with ``temporal``)."""
    temporal = _get(fields, "temporal")
    for member in MODEL_FAMILY:
        if isinstance(member, FamilyMember) and member.temporal is bool(temporal):
            return member
    raise ConfigError(f"no model of the family has temporal = {temporal!r}")


def model_reads(fields: Any) -> tuple[str, ...]:
    """The ``ModelConfig`` fields the model of ``fields`` (a ``ModelConfig`` or a mapping) is built from: its family
    member's and, for GSTSN, those its temporal module reads. A field outside them changes nothing in the model."""
    member = family_member(fields)
    reads = list(member.reads)
    if member.temporal:
        reads += TEMPORAL_MODULES[_get(fields, "temporal_module")].reads
    return tuple(dict.fromkeys(reads))


def temporal_branch_fields() -> tuple[str, ...]:
    """The fields only GSTSN's temporal branch reads (every temporal module's included), with ``temporal`` itself."""
    spatial = set(family_member({"temporal": False}).reads)
    fields = [*family_member({"temporal": True}).reads, *(f for e in TEMPORAL_MODULES for f in e.reads)]
    return ("temporal", *dict.fromkeys(f for f in fields if f not in spatial))


def why_unread(fields: Any, name: str) -> str:
    """Why the model of ``fields`` does not read the field ``name`` (see :func:`model_reads`), in words."""
    member = family_member(fields)
    owners = [e.name for e in TEMPORAL_MODULES if name in e.reads]
    if not member.temporal and name in temporal_branch_fields():
        return f"{name} belongs to GSTSN's temporal branch, which temporal = false turns off (the model is GaitSet)"
    if owners:
        module = _get(fields, "temporal_module")
        reads = ", ".join(TEMPORAL_MODULES[module].reads) or "no field"
        return (
            f"{name} is read only by the temporal module(s) {', '.join(owners)}, and temporal_module = {module!r} "
            f"reads {reads}"
        )
    return f"the {member.name} model does not read {name} (it reads {', '.join(model_reads(fields))})"


def model_label(fields: Mapping[str, Any], show: Callable[[Any], str] = str) -> str:
    """``GaitSet``, or ``GSTSN median, LSTM×2``: the family member's label, then for GSTSN its IDR statistic and its
    temporal module's label (parts whose fields are missing are left out; an old row without ``temporal_module`` has
    the LSTM, the only module there was)."""
    member = family_member(fields)
    if not member.temporal:
        return member.label or member.name
    parts = [show(fields["idr_stat"])] if fields.get("idr_stat") is not None else []
    name = _module_name(fields)
    entry = TEMPORAL_MODULES.get(name)  # a module this process does not know (a row from elsewhere): its name
    module = entry.label_for(fields, show) if entry is not None else name
    parts += [module] if module else []
    return f"{member.label} " + ", ".join(parts) if parts else member.label


def timing_id(fields: Any) -> str:
    """The timing suite's id of a model: ``gaitset``, ``gstsn-median-L2``, ``gstsn-median-tconv``, ..."""
    member = family_member(fields)
    if not member.temporal:
        return member.name
    values = _as_mapping(fields)
    name = _module_name(values)
    entry = TEMPORAL_MODULES.get(name)
    tag = entry.timing_tag_for(values) if entry is not None else name
    return f"{member.name}-{values['idr_stat']}-{tag}"


def _module_name(fields: Mapping[str, Any]) -> str:
    value = fields.get("temporal_module")
    return "lstm" if value is None or value != value else str(value)  # absent (or NaN in a table): the LSTM


def _get(fields: Any, name: str) -> Any:
    return fields.get(name) if isinstance(fields, Mapping) else getattr(fields, name)


def _as_mapping(fields: Any) -> Mapping[str, Any]:
    if isinstance(fields, Mapping):
        return fields
    return {name: getattr(fields, name) for name in ("temporal", "idr_stat", "temporal_module", *model_reads(fields))}


__all__ = [
    "Component",
    "FIELD_REGISTRIES",
    "FamilyMember",
    "IDR_STATISTICS",
    "MODEL_FAMILY",
    "Registry",
    "TEMPORAL_MODULES",
    "family_member",
    "model_label",
    "model_reads",
    "temporal_branch_fields",
    "timing_id",
    "why_unread",
]
