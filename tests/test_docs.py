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

