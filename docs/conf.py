"""Sphinx configuration of the gradfusion documentation.

Build (from the repository root, no network needed):
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import contextlib
import inspect
import io
import os
import re

import gradfusion

project = "gradfusion"
author = "gradfusion developers"
copyright = "gradfusion developers"
version = release = gradfusion.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",   # MathJax 3 copied into _static: the pages render math offline too
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]

# Markdown pages (MyST): $...$ and $$...$$ math, \begin{align} environments, heading anchors.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# API pages: numpydoc renders the docstrings; class members are documented explicitly
# (SolveResult and BlendResult are dicts, the operators SciPy LinearOperators: their
# inherited members are not gradfusion's API).
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# No intersphinx: the build must not touch the network. Every cross-reference to gradfusion must
# resolve (nitpicky); references to other projects render as plain code.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(numpy|scipy|skimage)(\..*)?")]

html_theme = "pydata_sphinx_theme"
html_title = f"gradfusion {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
# The guide pages have no sub-pages: no (empty) section navigation on their left.
html_sidebars = {name[:-3]: [] for name in os.listdir(os.path.dirname(os.path.abspath(__file__)))
                 if name.endswith(".md")}


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """Show ``__init__``'s parameters for classes whose ``__new__`` takes ``*args, **kwargs``.

    The operators subclass SciPy's ``LinearOperator``, whose ``__new__`` autodoc would otherwise show.
    """
    if what != "class" or signature != "(*args, **kwargs)" or "__init__" not in vars(obj):
        return None
    sig = inspect.signature(obj.__init__)
    sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    text = re.sub(r"<class '(numpy\.\w+)'>", r"\1", str(sig))     # dtype=numpy.float64
    return text, return_annotation


def _cli_help(argv):
    """The text ``gradfusion ARGV`` prints (argparse help), for the command-line page."""
    from gradfusion.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit:
            pass
    return out.getvalue()


def _write_cli_help():
    """Write the ``--help`` texts that docs/cli.md includes (regenerated at every build)."""
    folder = os.path.join(os.path.dirname(__file__), "_generated")
    os.makedirs(folder, exist_ok=True)
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"           # argparse wraps to the terminal width
    try:
        for name, argv in (("help.txt", ["--help"]), ("help-solve.txt", ["solve", "--help"]),
                           ("help-evaluate.txt", ["evaluate", "--help"]),
                           ("help-tradeoff.txt", ["tradeoff", "--help"]),
                           ("help-demo.txt", ["demo", "--help"])):
            text = _cli_help(argv)
            path = os.path.join(folder, name)
            if not os.path.exists(path) or open(path).read() != text:
                with open(path, "w") as fh:     # rewrite only on change: no needless rebuilds
                    fh.write(text)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


_write_cli_help()


def setup(app):
    app.connect("autodoc-process-signature", _init_signature)
