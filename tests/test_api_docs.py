"""The API reference (book/api.md) covers every public name of dlgen, each with an example."""

import inspect
import pathlib
import re

import pytest

import dlgen

API_PAGE = (pathlib.Path(__file__).resolve().parents[1] / "book" / "api.md").read_text()
DOCUMENTED_MODULES = set(re.findall(r"\.\. automodule:: (dlgen\.\w+)", API_PAGE))
PUBLIC = [n for n in dlgen.__all__ if inspect.isfunction(getattr(dlgen, n)) or inspect.isclass(getattr(dlgen, n))]


def test_the_public_names_are_many():
    assert len(PUBLIC) >= 60, PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_is_on_the_api_page_with_an_example(name):
    obj = getattr(dlgen, name)
    assert obj.__module__ in DOCUMENTED_MODULES, f"{obj.__module__} has no automodule on book/api.md"
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert ">>>" in doc, f"{name}'s docstring has no example"
    if not name.startswith("_"):
        module = __import__(obj.__module__, fromlist=["__all__"])
        assert name in getattr(module, "__all__", [name]), f"{name} is not in {obj.__module__}.__all__"
