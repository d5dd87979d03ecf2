"""The documentation's wiring, checked without building it (CI builds it: see .ci/run).

The README names one command that builds the site; CI must run that same Sphinx invocation, and the
getting-started page, which includes the README's first code blocks, must get the install commands and
the Python example.
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPHINX = "python -m sphinx -W --keep-going -b html docs docs/_build/html"


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


def _section(text, heading):
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def test_readme_names_the_docs_command_and_ci_runs_it():
    section = _section(_read("README.md"), "Documentation")
    commands = [line for line in section.splitlines() if "sphinx" in line and not line.startswith("#")]
    assert len(commands) == 1, commands
    assert commands[0].endswith(".venv/bin/" + SPHINX)
    assert '.venv/bin/pip install ".[docs]"' in commands[0]
    ci = _read(".ci", "run").splitlines()
    assert ".venv/bin/" + SPHINX in ci
    assert ci.index(".venv/bin/" + SPHINX) > ci.index(".venv/bin/python -m pytest")


def test_getting_started_includes_the_readme_first_screen():
    readme = _read("README.md")
    # docs/getting_started.md includes the lines after the first "```bash" and "```python" fences
    bash = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in bash.splitlines() if not line.startswith("#")]
    assert len(commands) == 2
    assert commands[0].endswith("gradfusion demo --out gradfusion-demo")
    assert commands[1].endswith("python -m pytest")
    python = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "gradfusion.solve(" in python
    page = _read("docs", "getting_started.md")
    assert page.count("```{literalinclude} ../README.md") == 2
    assert ':start-after: "```bash"' in page and ':start-after: "```python"' in page



def _references(doc):
    """The body of a numpydoc docstring's References section ('' if none)."""
    match = re.search(r"^References\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", doc, re.M | re.S)
    return match.group(1) if match else ""


def test_docstring_references_render_as_references():
    """A reference such as ``.. [1] P. Perez, ...`` on one line is read by docutils as an
    alphabetic list item ("P.") and rendered "[1P. Perez..."; every public docstring's
    references must parse without an enumerated list."""
    import inspect

    import docutils.core
    import docutils.nodes

    import gradfusion
    from gradfusion import baselines, evaluation, io, metrics, poisson

    checked = 0
    for module in (gradfusion, baselines, metrics, evaluation, poisson, io):
        for name in module.__all__:
            obj = getattr(module, name)
            text = _references(inspect.getdoc(obj) or "")
            if not text:
                continue
            tree = docutils.core.publish_doctree(text, settings_overrides={"report_level": 5})
            lists = list(tree.findall(docutils.nodes.enumerated_list))
            assert not lists, f"{module.__name__}.{name}: {lists[0].astext()[:80]!r}"
            checked += 1
    assert checked >= 8


def test_one_line_initial_reference_is_caught():
    import docutils.core
    import docutils.nodes

    bad = '.. [1] P. Perez, M. Gangnet, A. Blake, "Poisson image editing", 2003.\n'
    tree = docutils.core.publish_doctree(bad, settings_overrides={"report_level": 5})
    assert list(tree.findall(docutils.nodes.enumerated_list))
    assert _references(f"Text.\n\nReferences\n----------\n{bad}\nExamples\n--------\nx\n") == bad + "\n"
