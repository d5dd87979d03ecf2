"""Packaging as users expect it: a licence the wheel carries, a changelog, a citation file."""

import configparser
import os
import re

import pytest

import gradfusion

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    return cfg


def test_license_file_is_declared_and_is_the_declared_license():
    meta = _setup_cfg()["metadata"]
    assert meta["license"] == "BSD-3-Clause"
    files = meta["license_files"].split()
    assert files == ["LICENSE"]
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as fh:
        text = fh.read()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def test_changelog_has_the_current_version():
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as fh:
        text = fh.read()
    assert re.search(rf"^## {re.escape(gradfusion.__version__)}\b", text, re.MULTILINE)


def test_citation_credits_the_methods_paper():
    yaml = pytest.importorskip("yaml")
    with open(os.path.join(ROOT, "CITATION.cff"), encoding="utf-8") as fh:
        cff = yaml.safe_load(fh)
    assert cff["cff-version"] == "1.2.0" and cff["version"] == gradfusion.__version__
    paper = cff["preferred-citation"]
    assert paper["title"] == ("Residual Aligned: Gradient Optimization for Non-Negative Image "
                              "Synthesis")
    assert [a["family-names"] for a in paper["authors"]] == [
        "Shen", "Luo", "Yang", "Haraldsson", "Belongie"]
    assert paper["year"] == 2022
