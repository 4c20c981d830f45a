"""The one registry: verbs, the unknown-name error, built-ins, entry-point plug-ins and the
precedence rule on name clashes. Plug-ins come from a real distribution (a dist-info
folder on ``sys.path``), found by ``importlib.metadata`` as an installed package is."""

from __future__ import annotations

import doctest
import logging
import sys
import textwrap
import types
from pathlib import Path

import pytest

from triops.core import registry as registry_module
from triops.core.errors import InvalidInput
from triops.core.registry import Registry

GROUP = "triops_test.widgets"


class Widget:
    def __init__(self, name: str) -> None:
        self.name = name


def _install(site: Path, module: str, source: str, entries: dict[str, str]) -> None:
    """Write a module and a dist-info that declares ``entries`` in :data:`GROUP`."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{lines}\n")


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("triops_test_plugin")]:
        del sys.modules[name]


def test_register_as_call_and_as_decorator_and_the_verbs():
    widgets = Registry[Widget]("widget")
    first = widgets.register(Widget("a"))
    assert widgets.register(Widget("b"), name="c").name == "b"

    @widgets.register(name="z")
    class Named(Widget):
        pass

    assert widgets.get("a") is first
    assert widgets.names() == ["a", "c", "z"]
    assert [name for name, _ in widgets.items()] == ["a", "c", "z"]
    assert "c" in widgets and "b" not in widgets and len(widgets) == 3
    assert widgets.get("z") is Named
    assert widgets.unregister("c").name == "b"
    assert list(widgets) == ["a", "z"]


def test_unknown_name_is_invalid_input_naming_the_known_ones():
    widgets = Registry[Widget]("widget", code="invalid_request_error")
    for name in ("b", "c", "a"):
        widgets.register(Widget(name))
    with pytest.raises(InvalidInput) as caught:
        widgets.get("x")
    assert str(caught.value) == "unknown widget 'x'; known: a, b, c"
    assert caught.value.code == "invalid_request_error"


def test_registering_a_taken_name_raises():
    widgets = Registry[Widget]("widget")
    widgets.register(Widget("a"))
    with pytest.raises(ValueError, match="a widget named 'a' is registered already"):
        widgets.register(Widget("a"))
    with pytest.raises(TypeError, match="needs a non-empty 'name'"):
        widgets.register(object())  # type: ignore[arg-type]


def test_builtins_are_imported_first_so_they_win(site, monkeypatch):
    widgets = Registry[Widget]("widget", builtins=("triops_test_plugin_builtin",))
    holder = types.ModuleType("triops_test_plugin_holder")
    holder.widgets, holder.Widget = widgets, Widget  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, holder.__name__, holder)
    (site / "triops_test_plugin_builtin.py").write_text(
        "from triops_test_plugin_holder import Widget, widgets\n"
        "widgets.register(Widget('stock'))\n")
    # Registering a built-in's name in code fails even before any lookup happened.
    with pytest.raises(ValueError, match="'stock' is registered already"):
        widgets.register(Widget("stock"))
    assert widgets.names() == ["stock"]


def test_entry_point_plugins_load_lazily_and_lose_name_clashes(site, caplog):
    _install(site, "triops_test_plugin_widgets", """
        class Gear:
            name = "gear"

        class Clash:
            name = "stock"
        """, {"gear": "triops_test_plugin_widgets:Gear",
              "stock": "triops_test_plugin_widgets:Clash",
              "broken": "triops_test_plugin_widgets:Missing"})
    widgets = Registry[Widget]("widget", group=GROUP, plugin=lambda cls: cls())
    stock = widgets.register(Widget("stock"))
    assert "triops_test_plugin_widgets" not in sys.modules  # nothing loaded before a lookup

    with caplog.at_level(logging.WARNING, logger="triops.registry"):
        assert widgets.names() == ["gear", "stock"]
    assert type(widgets.get("gear")).__name__ == "Gear"  # made by ``plugin``
    assert widgets.get("stock") is stock  # the built-in kept its name
    messages = [r.getMessage() for r in caplog.records]
    assert any("plug-in 'stock'" in m and "first registration wins" in m for m in messages)
    assert any("could not load widget plug-in 'broken'" in m for m in messages)


def test_the_module_example_runs():
    result = doctest.testmod(registry_module)
    assert result.attempted > 0 and result.failed == 0
