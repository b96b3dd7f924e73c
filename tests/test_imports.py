"""How the areas may use each other, read from the code's own imports.

- An area uses another only through its `service` (what it does), `rules` (plain rules)
  and `schemas` (the shapes it answers with); never its `models` or other insides.
- No two areas depend on each other both ways.
- The lower layers (`galley/http`, `errors.py`, `db.py` and the other modules they build
  on) import no area.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

GALLEY = Path(__file__).parent.parent / "galley"
AREAS = frozenset(
    {"audit", "catalog", "events", "identity", "inventory", "orders", "purchasing", "webhooks"}
)
PUBLIC = frozenset({"service", "rules", "schemas"})
LOWER = frozenset(
    {
        "http",
        "errors",
        "db",
        "config",
        "money",
        "timestamps",
        "outages",
        "logs",
        "operations",
        "privacy",
    }
)


def _imports() -> dict[str, set[str]]:
    """Each module of galley/ (dotted, without `galley.`) and the galley modules it imports."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in GALLEY.rglob("*.py"):
        module = ".".join(path.relative_to(GALLEY).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "galley":
                    found[module] |= {alias.name for alias in node.names}
                elif node.module.startswith("galley."):
                    base = node.module.removeprefix("galley.")
                    # `from galley.orders import service` names the module it imports.
                    found[module] |= {
                        f"{base}.{alias.name}"
                        if (GALLEY / base / f"{alias.name}.py").exists()
                        else base
                        for alias in node.names
                    }
            elif isinstance(node, ast.Import):
                found[module] |= {
                    alias.name.removeprefix("galley.")
                    for alias in node.names
                    if alias.name.startswith("galley.")
                }
    return found


def _violations() -> set[str]:
    wrong: set[str] = set()
    depends: dict[str, set[str]] = defaultdict(set)
    for module, imported in _imports().items():
        home = module.split(".")[0]
        for target in imported:
            parts = target.split(".")
            if parts[0] not in AREAS or parts[0] == home:
                continue
            if home in LOWER:
                wrong.add(f"{module} imports {target}")
            elif home in AREAS:
                depends[home].add(parts[0])
                if len(parts) < 2 or parts[1] not in PUBLIC:
                    wrong.add(f"{module} imports {target}")
    for area, others in depends.items():
        wrong |= {
            f"areas both ways: {area} <-> {other}"
            for other in others
            if area < other and area in depends.get(other, set())
        }
    return wrong


def test_areas_use_each_other_only_through_their_service_rules_and_schemas() -> None:
    assert sorted(_violations()) == []


def test_the_reading_of_imports_sees_an_area_using_another() -> None:
    imports = _imports()
    assert "orders.service" in imports["reactions"]
    assert "inventory.service" in imports["orders.placing"]
    assert "inventory.levels" in imports["inventory.service"]


def test_every_module_imports_on_its_own() -> None:
    """No import circle that only some orders of importing would hit."""
    modules = sorted(
        "galley." + module if module else "galley"
        for module in _imports()
        if not module.startswith("migrations") and module != "__main__"
    )
    # Each in a fresh copy of galley, whose metrics register afresh.
    script = (
        "import importlib, sys\n"
        "import prometheus_client\n"
        "failed = []\n"
        f"for name in {modules!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'galley' or m.startswith('galley.')]:\n"
        "        del sys.modules[loaded]\n"
        "    for metric in list(prometheus_client.REGISTRY._collector_to_names):\n"
        "        prometheus_client.REGISTRY.unregister(metric)\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=GALLEY.parent,
    )
    assert done.stdout.strip() == ""


def test_settings_reach_services_as_arguments_not_through_the_session() -> None:
    """`session.info` holds only what one transaction keeps for itself: what was handed to
    `galley.appends`, the stock figures and the purchase orders it holds locked, its seat
    in a convoy (`galley.convoys`), whether it only reads."""
    keepers = set()
    for path in GALLEY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "info"
                and isinstance(node.value, ast.Name)
                and "session" in node.value.id
            ):
                keepers.add(".".join(path.relative_to(GALLEY).with_suffix("").parts))
    assert keepers == {"appends", "convoys", "db", "inventory.levels", "purchasing.views"}
