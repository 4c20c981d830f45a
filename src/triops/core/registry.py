"""One registry for every family of pluggable parts: detectors, drift tests, scorers,
guardrails, gateway providers, model loaders, pipeline executors.

A family declares one :class:`Registry` and registers its built-ins in it; other
packages add theirs through the family's entry-point group
(``[project.entry-points."<group>"] name = "package.module:Object"``). Every family
uses the same verbs: ``register``, ``get``, ``names``, ``items`` and ``in``.

Precedence, the one rule for name clashes: **the first registration of a name wins**,
and built-ins always come first, because the registry imports the family's built-in
modules before it takes any other registration or answers any lookup. So a second
``register`` of a taken name raises ``ValueError`` (a mistake in code, found when the
module is imported), while an entry-point plug-in whose name is taken is skipped with a
warning in the log, as is one that fails to load: a broken plug-in never takes the
server down. Plug-ins are loaded once, at the first lookup, and registered under their
entry point's name.

>>> colours = Registry[str]("colour", name_of=str.lower)
>>> colours.register("Red")
'Red'
>>> colours.get("red"), colours.names()
('Red', ['red'])
>>> colours.get("blue")
Traceback (most recent call last):
...
triops.client.errors.InvalidInput: unknown colour 'blue'; known: red
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, overload

from triops.core.errors import InvalidInput

log = logging.getLogger("triops.registry")

T = TypeVar("T")


def _own_name(item: Any) -> str:
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{item!r} needs a non-empty 'name' attribute to be registered")
    return name


class Registry(Generic[T]):
    """Named items of one family, in registration order.

    ``kind`` names the family in errors (``unknown <kind> 'x'; known: ...``);
    ``group`` is the entry-point group plug-ins come from; ``builtins`` are modules
    that register the family's built-ins when imported; ``name_of`` names an item
    registered without an explicit name (its ``name`` attribute by default);
    ``plugin`` turns what an entry point loads into an item (e.g. instantiates a
    class); ``code`` is the error code of the unknown-name error.
    """

    def __init__(
        self,
        kind: str,
        *,
        group: str | None = None,
        builtins: Sequence[str] = (),
        name_of: Callable[[T], str] = _own_name,
        plugin: Callable[[Any], T] | None = None,
        code: str | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtins = tuple(builtins)
        self._name_of = name_of
        self._plugin = plugin
        self._code = code
        self._items: dict[str, T] = {}
        self._builtins_loaded = not self._builtins
        self._plugins_loaded = group is None
        self._lock = threading.RLock()

    @overload
    def register(self, item: T, /, *, name: str | None = None) -> T: ...

    @overload
    def register(self, *, name: str) -> Callable[[T], T]: ...

    def register(self, item: T | None = None, /, *, name: str | None = None
                 ) -> T | Callable[[T], T]:
        """Add ``item`` under ``name`` (or its own name); usable as a decorator, with or
        without ``name=``. Raises ``ValueError`` when the name is taken."""
        if item is None:
            if name is None:
                raise TypeError("register() needs an item or a name")
            return lambda found: self.register(found, name=name)
        self._load_builtins()
        key = name if name is not None else self._name_of(item)
        with self._lock:
            if key in self._items:
                raise ValueError(f"a {self.kind} named {key!r} is registered already")
            self._items[key] = item
        return item

    def unregister(self, name: str) -> T:
        """Remove and return the item called ``name`` (KeyError when there is none)."""
        with self._lock:
            return self._items.pop(name)

    def get(self, name: str) -> T:
        """The item called ``name``; ``InvalidInput`` naming the known ones otherwise."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise InvalidInput(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}",
                               code=self._code) from None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """Every (name, item), in registration order: built-ins, then the rest."""
        self._load()
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"

    def _load(self) -> None:
        self._load_builtins()
        if self._plugins_loaded:
            return
        with self._lock:
            if self._plugins_loaded:
                return
            self._plugins_loaded = True
            for entry in entry_points(group=self.group or ""):
                self._add_plugin(entry)

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        with self._lock:
            if self._builtins_loaded:
                return
            # Set first: the modules imported here call register(), which lands here.
            self._builtins_loaded = True
            for module in self._builtins:
                importlib.import_module(module)

    def _add_plugin(self, entry: Any) -> None:
        if entry.name in self._items:
            log.warning("%s plug-in %r (%s) ignored: a %s of that name is registered "
                        "already, and the first registration wins", self.kind, entry.name,
                        entry.value, self.kind)
            return
        try:
            loaded = entry.load()
            item = self._plugin(loaded) if self._plugin is not None else loaded
        except Exception:  # one broken plug-in must not take the server down
            log.exception("could not load %s plug-in %r (%s)", self.kind, entry.name,
                          entry.value)
            return
        # A plug-in module may register itself when imported; then it is there already.
        self._items.setdefault(entry.name, item)
