"""Checks of the book's conventions: notebooks, table of contents, configuration."""

import ast
import json
import pathlib
import re
import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC_TEXT = (ROOT / "_toc.yml").read_text()
REPO_URL = CONFIG["repository"]["url"]
CHAPTERS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TEMPLATE = ROOT / "notebooks" / "_template.ipynb"
# Run notebooks (e.g. 14a_one_run): one training run each, executed many times by a
# chapter's papermill sweep and shown in the book as a section of that chapter.
RUN_NOTEBOOKS = sorted(p for p in (ROOT / "dlgen" / "run_notebooks").glob("[0-9][0-9][a-z]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _tagged(path, tag):
    return [c for c in _cells(path) if tag in c.get("metadata", {}).get("tags", [])]


def _source(cell):
    return "".join(cell["source"])


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks/NN_name.ipynb found"


@pytest.mark.parametrize("path", CHAPTERS + [TEMPLATE], ids=lambda p: p.name)
def test_notebook_conventions(path):
    assert re.fullmatch(r"(\d\d|_)[a-z_]+\.ipynb|_template\.ipynb", path.name), path.name
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        "outputs are stored; run `make strip`")

    (params,) = _tagged(path, "parameters")
    tree = ast.parse(_source(params))
    names = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    assert {"SEED", "QUICK", "N_SEEDS"} <= names

    checks = _tagged(path, "claim-check")
    assert checks and all("assert " in _source(c) or "claims.check(" in _source(c) for c in checks)

    (install,) = _tagged(path, "colab-install")
    assert REPO_URL in _source(install), "the Colab install cell must use _config.yml's repository URL"
    assert "remove-cell" in install["metadata"]["tags"]

    text = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    assert text.lstrip().startswith("# ")
    exercises = re.findall(r"```\{exercise\}\n:label: ([\w-]+)", text)
    solutions = re.findall(r"```\{solution\} ([\w-]+)\n:class: dropdown", text)
    if path != TEMPLATE:
        assert len(exercises) >= 3, "at least three exercises"
        assert "## What we saw" in text and "{glue:text}" in text
    assert sorted(exercises) == sorted(solutions), "every exercise has one folded solution"


@pytest.mark.parametrize("path", RUN_NOTEBOOKS, ids=lambda p: p.name)
def test_run_notebook_conventions(path):
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
        "outputs are stored; run `make strip`")
    (params,) = _tagged(path, "parameters")
    names = {t.id for node in ast.parse(_source(params)).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert "SEED" in names
    assert "dlgen.publish_record(" in _source(code[-1]), "a run notebook ends by publishing its record"
    (install,) = _tagged(path, "colab-install")
    assert REPO_URL in _source(install)
    chapter = path.name[:2]
    # A chapter finds its run notebook inside the installed package, never beside itself.
    users = [c for c in CHAPTERS if c.name.startswith(chapter)
             and f'dlgen.run_notebook(\\"{path.stem}\\")' in c.read_text()]
    assert users, f"no chapter {chapter}_* runs {path.name} through dlgen.run_notebook"
    assert f"file: dlgen/run_notebooks/{path.stem}\n" in TOC_TEXT


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_in_the_toc(path):
    assert f"file: notebooks/{path.stem}\n" in TOC_TEXT


def test_book_configuration():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "cache"
    assert execute["timeout"] >= 600
    assert "sphinx_exercise" in CONFIG["sphinx"]["extra_extensions"]
    assert CONFIG["launch_buttons"]["colab_url"]
    assert (ROOT / CONFIG["bibtex_bibfiles"][0]).exists()


def test_repository_url_is_kept_in_one_place():
    path = REPO_URL.removeprefix("https://github.com/")
    readme = (ROOT / "README.md").read_text()
    assert f"colab.research.google.com/github/{path}/blob/{CONFIG['repository']['branch']}/" in readme


def test_packaging_floors_and_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    assert not any(d.startswith("tensorflow") for d in deps), "plain installs must not pull TensorFlow"
    assert not any("==" in d for d in deps), "floors, not pins"
    extras = project["optional-dependencies"]
    assert any(d.startswith("tensorflow-cpu>=") for d in extras["cpu"])
    assert any(re.fullmatch(r"jupyter-book>=1[\d.]*,<2", d) for d in extras["book"])


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_claims_page_pastes_every_chapters_computed_verdicts():
    from dlgen.claims import collect

    claims = (ROOT / "book" / "claims.md").read_text()
    for path, _ in collect(CHAPTERS):
        text = path.read_text()
        assert f"{{doc}}`../notebooks/{path.stem}`" in claims, f"book/claims.md does not link {path.stem}"
        # computed verdicts: glued by the chapter, shown in it, pasted on the claims page
        assert "claims.check(QUICK).glue(" in text and "```{glue} verdicts" in text, path.name
        assert f":doc: ../notebooks/{path.name}" in claims, f"book/claims.md does not paste {path.name}"
        assert "VerdictTable" not in text, f"{path.name} still builds a VerdictTable"


# The numbered sections of the source essay's sections 3 (the techniques) and 4
# (the case studies), as its headings number them (../shared/seed/, "3.1 模型初始化"
# to "4.3.6 使用增量学习").
ESSAY_SECTIONS = ([f"3.{i}" for i in range(1, 12)] + [f"4.1.{i}" for i in range(1, 8)]
                  + [f"4.2.{i}" for i in range(1, 8)] + [f"4.3.{i}" for i in range(1, 7)])


def test_every_numbered_claim_of_the_essay_is_declared_in_one_chapter():
    from dlgen.claims import collect

    homes = {}
    for path, claims in collect(CHAPTERS):
        for claim in claims.claims.values():
            homes.setdefault(claim.section, set()).add(path.stem)
    missing = [s for s in ESSAY_SECTIONS if s not in homes]
    assert not missing, f"essay sections without a declared claim: {missing}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_a_chapter_reads_no_notebook_beside_it(path):
    # Colab opens one notebook alone: a run notebook comes from dlgen.run_notebook, not from a path.
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert ".ipynb" not in _source(cell), f"{path.name} names a notebook file: {_source(cell)[:200]}"
