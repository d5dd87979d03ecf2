"""The package's layering, checked by walking each module's syntax tree (and, to find the kernel
modules, ``gradfusion._jit``'s registry of Numba functions once every module is imported).

Three rules (issue 18, "architecture"):

1. **No module reaches into another module's private names.** A public module (``synthesis``,
   ``metrics``, ``cli``...) is a thin layer over private machinery (``_solvers/``, ``_lpips``,
   ``_validation``...). It may import a private *module* and use that module's public names,
   but not a name with a leading underscore defined in another module: that is the other
   module's business, free to change. Inside one private package (``_solvers/``, ``_batch/``,
   ``_video/``, ``_multigrid/``, ``_poisson/``) the modules are one unit and share their
   helpers. Checked in every module of the package: every ``from .x import _name`` (or
   ``from gradfusion.x import _name``) where ``_name`` is not a module, and every
   ``alias._name`` where ``alias`` was imported from the package.
2. **Public modules hold API, validation and docs; kernels live in private modules.** No
   public module (no leading underscore) imports Numba or defines a Numba kernel, and a
   family's public module (:data:`THIN`) holds no machinery of its own (no multigrid levels
   or solver hooks either).
3. **Data flows one way**: command line -> files -> public functions -> private machinery
   (the solvers) -> operators -> kernels (:data:`LAYERS`). A module imports modules of its
   own layer or of later ones only, plus the shared helpers (:data:`HELPERS`): a private
   module imports no public function, no ``io`` and no ``cli`` (``operators``, the layer below
   the solvers, it may), kernels import only kernels, and only ``__main__`` imports ``cli``.
   Every exception is listed in :data:`UPSTREAM` with its reason.

Imports inside functions (lazy imports) count as imports.
"""

import ast
import importlib
import os

import pytest

PACKAGE_NAME = "gradfusion"
PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), PACKAGE_NAME)

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


def _import_from(node, package_dir):
    """``(folder, dotted module below it)`` of a ``from ... import`` of the package (relative,
    or absolute ``from gradfusion... import``), else None."""
    if not isinstance(node, ast.ImportFrom):
        return None
    if node.level > 0:
        base = package_dir
        for _ in range(node.level - 1):
            base = os.path.dirname(base)
        return base, node.module or ""
    name = node.module or ""
    if name == PACKAGE_NAME or name.startswith(PACKAGE_NAME + "."):
        return PACKAGE, name[len(PACKAGE_NAME) + 1:]
    return None


def private_references(rel, path):
    """The references of module ``rel`` to other modules' private names."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    package_dir = os.path.dirname(path)
    in_private_package = "/" in rel and rel.split("/")[0].startswith("_")
    found, aliases = [], set()
    for node in ast.walk(tree):
        target = _import_from(node, package_dir)
        if target is None:
            if isinstance(node, ast.Import):
                aliases.update(alias.asname for alias in node.names
                               if alias.asname and alias.name.startswith(PACKAGE_NAME + "."))
            continue
        base, module = target
        same_package = node.level == 1 and in_private_package
        for alias in node.names:
            aliases.add(alias.asname or alias.name)
            if (_private(alias.name) and not same_package
                    and not _is_module(base, module, alias.name)):
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


# --------------------------------------------------------------------------- the import graph


def _target(base, dotted, name=None):
    """The module file (relative to the package) that ``dotted`` (or ``dotted.name``, when that is
    a module) names below ``base``; a package is its ``__init__.py``."""
    parts = [p for p in dotted.split(".") if p]
    for candidate in ([*parts, name] if name else None, parts):
        if candidate is None:
            continue
        path = os.path.join(base, *candidate)
        if os.path.isdir(path):
            path = os.path.join(path, "__init__.py")
        elif os.path.isfile(path + ".py"):
            path += ".py"
        else:
            continue
        return os.path.relpath(path, PACKAGE).replace(os.sep, "/")
    return None


def imports(path):
    """The package's modules that the module at ``path`` imports (at the top or in a function)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE_NAME or alias.name.startswith(PACKAGE_NAME + "."):
                    found.add(_target(PACKAGE, alias.name[len(PACKAGE_NAME) + 1:]))
            continue
        target = _import_from(node, os.path.dirname(path))
        if target is not None:
            found.update(_target(*target, alias.name) for alias in node.names)
    found.discard(None)
    found.discard(os.path.relpath(path, PACKAGE).replace(os.sep, "/"))
    return found


def imports_numba(path):
    """Whether the module at ``path`` imports Numba (anywhere in it)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.level == 0]
    return any(n == "numba" or n.startswith("numba.") for n in names)


GRAPH = {rel: imports(path) for rel, path in MODULES}


def is_public(rel):
    """A module of the public API: a top-level module without a leading underscore, or the
    package itself (``__init__.py``)."""
    return rel == "__init__.py" or ("/" not in rel and not rel.startswith("_"))


#: the decorators of gradfusion._jit: a module importing one of them makes Numba kernels
JIT_DECORATORS = {"jit", "serial", "parallel", "serial_fast", "parallel_fast", "inline", "BySize"}


def _kernel_modules():
    """The modules that make Numba kernels: those that import a decorator of ``_jit`` (flavours
    such as ``_poisson/grid.py``'s included), those whose functions Numba compiled (every
    dispatcher registers in ``_jit.KERNELS``: after importing every module, none is missed),
    and ``_jit.py`` itself."""
    found = {"_jit.py"}
    for rel, path in MODULES:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in ast.walk(tree):
            target = _import_from(node, os.path.dirname(path))
            if (target is not None and _target(*target) == "_jit.py"
                    and {alias.name for alias in node.names} & JIT_DECORATORS):
                found.add(rel)
    for rel, _ in MODULES:
        if rel != "__main__.py":                       # it runs the command line
            parts = [p for p in rel[:-3].split("/") if p != "__init__"]
            importlib.import_module(".".join([PACKAGE_NAME, *parts]))
    from gradfusion import _jit

    for dispatcher in _jit.KERNELS:
        dotted = dispatcher.py_func.__module__
        if dotted == PACKAGE_NAME or dotted.startswith(PACKAGE_NAME + "."):
            found.add(_target(PACKAGE, dotted[len(PACKAGE_NAME) + 1:]))
    return found


KERNELS = _kernel_modules()

#: public modules allowed to import Numba, each with its reason. None: every kernel lives in a
#: private module (baselines' in _baseline_kernels.py; video.py and synthesis.py hold none, their
#: kernels are _video/_kernels.py and the _solvers/ and _stencils ones). Keep it empty.
NUMBA_IN_PUBLIC = {}

#: private modules outside the chain of :data:`LAYERS`, which every layer may import; they
#: import only each other and kernels
HELPERS = {
    "_validation.py": "the input checks and their messages, at every boundary (io, the public "
                      "functions, operators, _poisson/arguments.py)",
    "_deprecation.py": "renamed names that warn for one release: results of public functions "
                       "and of solve_many's workers (_batch/_tasks.py)",
}

#: the chain the data flows along, first to last: a module imports its own layer, later layers
#: and :data:`HELPERS` only (the private machinery is every private module that is neither a
#: kernel nor a helper: _solvers/, _multigrid/, _poisson/, _batch/, _video/, _problem.py,
#: _memory.py, _threads.py, _tables.py, _lpips.py)
LAYERS = ["command line", "files", "public functions", "private machinery", "operators",
          "kernels"]


def layer(rel):
    """The layer of module ``rel`` (None for a helper)."""
    if rel in HELPERS:
        return None
    if rel in ("cli.py", "__main__.py"):
        return "command line"
    if rel == "io.py":
        return "files"
    if rel == "operators.py":
        return "operators"
    if rel in KERNELS:
        return "kernels"
    return "public functions" if is_public(rel) else "private machinery"


#: ``(module, imported module)``: imports against the flow, each with its reason
UPSTREAM = {
    ("demo.py", "io.py"):
        "the demo writes its panels and table to a folder: a command as much as a function",
    ("video.py", "io.py"):
        "read_frames reads video files and folders of frames, and raises io.ImageFileError for "
        "a missing or unusable path",
    ("_video/frames.py", "io.py"):
        "the frame sources and sinks of video.py: folders of image files",
    ("_batch/_folder.py", "io.py"):
        "gradfusion batch's manifest is written with io.write_text (atomic, never half a file)",
    ("_batch/_tasks.py", "io.py"):
        "a worker of solve_many reads its pair's files and writes the output",
    ("_batch/_tasks.py", "__init__.py"):
        "a worker of solve_many runs the public solve on its pair: solve_many is a layer above "
        "solve",
    ("operators.py", "_problem.py"):
        "the boundary names (BOUNDARY_MODES) are the QP's, defined once in _problem.py",
}


def _upstream(rel):
    here = LAYERS.index(layer(rel)) if layer(rel) else len(LAYERS)
    bad = []
    for other in sorted(GRAPH[rel]):
        if layer(other) is None:
            continue
        if layer(rel) is None or LAYERS.index(layer(other)) < here:
            bad.append(other)
    return bad


PUBLIC = [(rel, path) for rel, path in MODULES if is_public(rel)]


@pytest.mark.parametrize("rel, path", PUBLIC, ids=[rel for rel, _ in PUBLIC])
def test_public_modules_do_not_import_numba(rel, path):
    """API, validation and docs only: no Numba import and no kernel (:data:`KERNELS`)."""
    if rel in NUMBA_IN_PUBLIC:
        pytest.skip(NUMBA_IN_PUBLIC[rel])
    assert not imports_numba(path), f"{rel} imports numba: move its kernels to a private module"
    assert rel not in KERNELS, f"{rel} makes Numba kernels: move them to a private module"


def test_kernel_modules_are_found():
    """The kernel files the other checks rely on (a sample, so that a change in how kernels
    are declared does not empty :data:`KERNELS` unnoticed)."""
    assert {"_jit.py", "_stencils.py", "_solvers/_kernels.py", "_poisson/grid.py",
            "_poisson/level_kernels.py", "_video/_kernels.py", "_baseline_kernels.py"} <= KERNELS


@pytest.mark.parametrize("rel", sorted(GRAPH))
def test_imports_follow_the_flow(rel):
    """cli -> io -> public functions -> private machinery -> operators -> kernels: no import
    against it but those of :data:`UPSTREAM` (so no private module imports a public one and
    kernels import only kernels); helpers import only helpers and kernels."""
    bad = [other for other in _upstream(rel) if (rel, other) not in UPSTREAM]
    assert not bad, (f"{rel} ({layer(rel) or 'helper'}) imports {bad} "
                     f"({[layer(b) or 'helper' for b in bad]}): against the flow")


def test_the_upstream_table_has_no_stale_entries():
    found = {(rel, other) for rel in GRAPH for other in _upstream(rel)}
    assert not set(UPSTREAM) - found, sorted(set(UPSTREAM) - found)


def test_only_the_entry_point_imports_the_command_line():
    assert {rel for rel, deps in GRAPH.items() if "cli.py" in deps} == {"__main__.py"}


def test_the_graph_check_finds_what_it_should(tmp_path, monkeypatch):
    package = tmp_path / PACKAGE_NAME
    (package / "_sub").mkdir(parents=True)
    for name in ("__init__.py", "io.py", "public.py", "_sub/__init__.py"):
        (package / name).write_text("")
    (package / "_sub" / "tool.py").write_text(
        "import numba\nfrom .. import io, public\nfrom ..public import thing\n"
        "def f():\n    from gradfusion import solve\n    import gradfusion._sub as s\n")
    monkeypatch.setitem(globals(), "PACKAGE", str(package))
    assert imports(str(package / "_sub" / "tool.py")) == {"io.py", "public.py", "__init__.py",
                                                          "_sub/__init__.py"}
    assert imports_numba(str(package / "_sub" / "tool.py"))
    assert not imports_numba(str(package / "public.py"))


def test_the_flow_check_finds_what_it_should(monkeypatch):
    monkeypatch.setitem(globals(), "GRAPH", {
        "_solvers/x.py": {"synthesis.py", "_stencils.py", "_validation.py", "operators.py"},
        "_stencils.py": {"_problem.py", "_jit.py"},
        "_validation.py": {"io.py", "_deprecation.py"},
        "io.py": {"cli.py"},
        "cli.py": {"io.py", "synthesis.py", "_solvers/x.py", "operators.py", "_stencils.py"},
    })
    assert _upstream("_solvers/x.py") == ["synthesis.py"]       # a private module: a public one
    assert _upstream("_stencils.py") == ["_problem.py"]          # a kernel: machinery
    assert _upstream("_validation.py") == ["io.py"]              # a helper: any layer
    assert _upstream("io.py") == ["cli.py"]
    assert _upstream("cli.py") == []
