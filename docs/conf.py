"""Sphinx configuration of the gradfusion documentation.

Build (from the repository root, no network needed):
``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import contextlib
import importlib.util
import inspect
import io
import os
import re
import shutil

import gradfusion

project = "gradfusion"
author = "gradfusion developers"
copyright = "gradfusion developers"
version = release = gradfusion.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",       # MathJax 3 from _static (see _copy_mathjax): math renders offline too
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
# Wide tables: wrap instead of overflowing the text column (docs/_static/gradfusion.css).
html_static_path = ["_static"]
html_css_files = ["gradfusion.css"]
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
                           ("help-batch.txt", ["batch", "--help"]),
                           ("help-video.txt", ["video", "--help"]),
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


# MathJax 3, served from the site itself. The files come from the sphinx-mathjax-offline package (its
# own extension copies the whole 24 MB distribution, 106 files): only what the pages load is copied,
# tex-chtml.js (TeX input, CommonHTML output, the menu and assistive MathML in one file), its web fonts,
# and the TeX extensions that its autoload fetches when a page uses their macros (\boldsymbol, \cancel, ...).
# Not copied: the other combined builds, SVG and MathML variants, and the speech/explorer components that
# only the menu's accessibility options load.
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_FILES = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


def _mathjax_source():
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the docs need the sphinx-mathjax-offline package (pip install '.[docs]')")
    return os.path.join(os.path.dirname(spec.origin), "static", "mathjax")


def _copy_mathjax(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    source, target = _mathjax_source(), os.path.join(app.outdir, "_static", "mathjax")
    for name in MATHJAX_FILES:
        src, dst = os.path.join(source, name), os.path.join(target, name)
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)


def setup(app):
    _mathjax_source()                   # fail at the start of a build, not after it
    app.connect("autodoc-process-signature", _init_signature)
    app.connect("build-finished", _copy_mathjax)
