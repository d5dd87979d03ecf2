"""The package's layering: no module reaches into another module's private names.

A public module (``synthesis``, ``metrics``, ``cli``...) is a thin layer over private machinery
(``_solvers/``, ``_lpips``, ``_validation``...). It may import a private *module* and use that
module's public names, but not a name with a leading underscore defined in another module: that
is the other module's business, free to change. Inside one private package (``_solvers/``,
``_batch/``, ``_video/``, ``_multigrid/``, ``_poisson/``) the modules are one unit and share their
helpers. A family's public module (:data:`THIN`) holds no machinery of its own: no Numba, no
multigrid levels or solver hooks.

The check walks each module's syntax tree (no import needed): every ``from .x import _name``
where ``_name`` is not a module, and every ``alias._name`` where ``alias`` was imported from the
package.
"""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gradfusion")

#: ``(module, reference)`` pairs still allowed, each with its reason (none left: keep it so)
ALLOWED = set()


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, PACKAGE).replace(os.sep, "/"), path


def _is_module(folder, dotted, name):
    target = os.path.join(folder, *[p for p in dotted.split(".") if p], name)
    return os.path.isdir(target) or os.path.isfile(target + ".py")


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def private_references(rel, path):
    """The references of module ``rel`` to other modules' private names."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    package_dir = os.path.dirname(path)
    in_private_package = "/" in rel and rel.split("/")[0].startswith("_")
    found, aliases = [], set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level > 0):
            continue
        base = package_dir
        for _ in range(node.level - 1):
            base = os.path.dirname(base)
        same_package = node.level == 1 and in_private_package
        for alias in node.names:
            aliases.add(alias.asname or alias.name)
            if (_private(alias.name) and not same_package
                    and not _is_module(base, node.module or "", alias.name)):
                found.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)):
            found.append(f"{node.value.id}.{node.attr}")
    return sorted(set(found))


MODULES = list(_modules())

#: the public module of each family and the private package that holds its machinery
THIN = {"synthesis.py": "_solvers", "poisson.py": "_poisson"}

#: base classes of solver machinery (multigrid levels and hierarchies, conjugate-gradient hooks)
MACHINERY = {"Level", "Hierarchy", "PCGHooks"}


@pytest.mark.parametrize("rel, path", MODULES, ids=[rel for rel, _ in MODULES])
def test_no_module_uses_another_modules_private_names(rel, path):
    bad = [ref for ref in private_references(rel, path) if (rel, ref) not in ALLOWED]
    assert not bad, f"{rel} uses private names of other modules: {bad}"


def test_the_allowed_table_has_no_stale_entries():
    found = {(rel, ref) for rel, path in _modules() for ref in private_references(rel, path)}
    assert not ALLOWED - found, sorted(ALLOWED - found)


@pytest.mark.parametrize("rel", sorted(THIN))
def test_family_modules_are_thin(rel):
    """``poisson.py`` over ``_poisson/`` as ``synthesis.py`` over ``_solvers/``: the public module
    imports its private package, and neither Numba nor machinery base classes."""
    with open(os.path.join(PACKAGE, rel), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    absolute = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    absolute |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert "numba" not in absolute, f"{rel} imports numba"
    relative = {node.module or "" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 1}
    assert any(m.split(".")[0] == THIN[rel] for m in relative), f"{rel} does not use {THIN[rel]}"
    names = {alias.asname or alias.name for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) for alias in node.names}
    bases = {ast.unparse(b).split(".")[-1] for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef) for b in node.bases}
    assert not (names | bases) & MACHINERY, f"{rel} holds machinery: {(names | bases) & MACHINERY}"


def test_the_check_finds_what_it_should(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "_helpers.py").write_text("x = 1\n")
    (package / "public.py").write_text(
        "from . import _helpers as h\nfrom .other import _secret\nfrom . import _helpers\n"
        "y = h._hidden + h.visible\n")
    assert private_references("public.py", str(package / "public.py")) == [
        "from .other import _secret", "h._hidden"]
