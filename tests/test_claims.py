"""dlgen.claims: one rule for every verdict, claims declared before the experiment, the claims page generated."""

import json
import math
import os
import pathlib
import re

import numpy as np
import pandas as pd
import pytest

import dlgen
from dlgen import claims as claims_mod

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DECLARED = claims_mod.collect(CHAPTERS)
# Where the chapters published their claims: read at import, before the autouse fixture points
# DLGEN_CACHE at an empty folder for each test.
PUBLISHED = dlgen.cache.default_cache_dir() / "claims"


def _demo(margin=0.02, expect="confirmed", budgets=("quick", "full")):
    c = dlgen.Claims("99 Demo")
    c.declare("9.9/demo", section="9.9", words="示例", says="a demo claim", quantity="treated minus control",
              margin=margin, unit="accuracy", why="a demo margin", expect=expect, budgets=budgets)
    return c


# -- the rule --------------------------------------------------------------

def test_the_interval_is_students_t_over_the_per_seed_values():
    values = [0.1, 0.3, 0.2, 0.25]
    m = dlgen.decide(values, margin=0.0)
    sd = np.std(values, ddof=1)
    # t quantile for 3 degrees of freedom at 0.95 (two-sided 90%): 2.3534
    assert m.mean == pytest.approx(0.2125)
    assert m.high - m.mean == pytest.approx(2.353363 * sd / 2, rel=1e-5)
    assert m.mean - m.low == pytest.approx(m.high - m.mean)
    assert m.n == 4 and m.verdict == "confirmed"


@pytest.mark.parametrize("values, margin, verdict", [
    ([0.05, 0.06, 0.07], 0.02, "confirmed"),       # all above the margin
    ([0.00, 0.01, -0.01], 0.02, "wrong"),          # inside the band of no practical effect
    ([-0.05, -0.06, -0.04], 0.02, "wrong"),        # the other side
    ([0.0, 0.04, 0.08], 0.02, "depends"),          # straddles
    ([-0.01, -0.015, -0.012], -0.02, "confirmed"),  # non-inferiority: no worse than 2 points
    ([-0.05, -0.06, -0.04], -0.02, "wrong"),
])
def test_one_rule_turns_an_interval_and_a_margin_into_a_verdict(values, margin, verdict):
    assert dlgen.decide(values, margin).verdict == verdict


def test_a_wider_interval_from_noisier_seeds_turns_a_verdict_into_depends():
    assert dlgen.decide([0.05, 0.05, 0.05], 0.02).verdict == "confirmed"
    assert dlgen.decide([0.15, -0.05, 0.05], 0.02).verdict == "depends"


def test_welchs_interval_for_unpaired_groups():
    a, b = [0.80, 0.82, 0.81, 0.83], [0.70, 0.71, 0.69]
    m = dlgen.decide(a, margin=0.05, control=b)
    assert m.mean == pytest.approx(np.mean(a) - np.mean(b))
    assert m.low > 0.05 and m.verdict == "confirmed"


@pytest.mark.parametrize("values, match", [
    ([0.1], "at least 2 values"),
    ([0.1, float("nan")], "not finite"),
])
def test_bad_effects_get_clear_errors(values, match):
    with pytest.raises(ValueError, match=match):
        dlgen.decide(values, 0.0)
    with pytest.raises(ValueError, match="margin must be a finite number"):
        dlgen.decide([0.1, 0.2], float("inf"))


def test_conditions_that_disagree_make_a_claim_depend():
    c = _demo()
    m = c.measure("9.9/demo", conditions={"MLP": [0.0, 0.01, -0.01], "CNN": [0.05, 0.06, 0.07]})
    assert [p.verdict for _, p in m.conditions] == ["wrong", "confirmed"]
    assert m.verdict == "depends"
    same = c.measure("9.9/demo", conditions={"a": [0.05, 0.06], "b": [0.07, 0.071]})
    assert same.verdict == "confirmed"


def test_paired_differences_match_runs_of_one_seed():
    runs = pd.DataFrame({"name": ["a", "b"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                         "acc": [0.8, 0.7, 0.9, 0.7, 0.6, 0.65]})
    diff = dlgen.paired(runs, "acc", "a", "b")
    assert diff.round(3).tolist() == [0.1, 0.2, -0.05]
    assert dlgen.paired(runs, "acc", "a", "b", relative=True).round(4).tolist() == [0.1429, 0.2857, -0.0769]
    with pytest.raises(ValueError, match="no runs named 'c'"):
        dlgen.paired(runs, "acc", "c", "b")


# -- declaring and checking -------------------------------------------------

def test_check_passes_when_the_data_agree_with_the_text_and_names_the_claim_when_not():
    c = _demo()
    c.measure("9.9/demo", [0.05, 0.06, 0.07])
    assert c.check(quick=True) is c
    c.measure("9.9/demo", [0.0, 0.01, -0.01])
    with pytest.raises(AssertionError, match=r"9\.9/demo \(a demo claim\): expected confirmed, measured wrong"):
        c.check(quick=True)


def test_a_claim_a_budget_skips_is_not_tested_there_and_must_be_measured_elsewhere():
    c = _demo(budgets=("full",))
    c.check(quick=True)
    assert c.verdict("9.9/demo", quick=True) == "not tested"
    assert c.frame()["verdict"].tolist() == ["not tested"]
    with pytest.raises(ValueError, match="never measured in the full budget"):
        c.check(quick=False)
    c.measure("9.9/demo", [-0.05, -0.06])        # measured where it is not decided: shown, decides nothing
    assert c.check(quick=True).verdict("9.9/demo", quick=True) == "not tested"
    assert "too small to decide it" in c._repr_html_()


@pytest.mark.parametrize("field, value, match", [
    ("expect", "not tested", "expect must be one of"),
    ("expect", "true", "expect must be one of"),
    ("margin", float("nan"), "margin must be a finite number"),
    ("words", "", "words must be a non-empty string"),
    ("budgets", ("ci",), "budgets must be a non-empty subset"),
])
def test_bad_declarations_get_clear_errors(field, value, match):
    kwargs = dict(section="9.9", words="示例", says="s", quantity="q", margin=0.0, unit="u", why="w",
                  expect="confirmed")
    kwargs[field] = value
    with pytest.raises(ValueError, match=match):
        dlgen.Claims("99 Demo").declare("9.9/demo", **kwargs)
    c = _demo()
    with pytest.raises(ValueError, match="declared twice"):
        c.declare("9.9/demo", **dict(kwargs, **{field: "confirmed" if field == "expect" else kwargs[field]}))


def test_publish_writes_the_measured_claims_as_json(tmp_path):
    c = _demo()
    c.measure("9.9/demo", [0.05, 0.06, 0.07], note="demo")
    c.check(quick=False)
    path = c.publish(tmp_path)
    records = json.loads(path.read_text(encoding="utf-8"))
    assert records[0]["key"] == "9.9/demo" and records[0]["measurement"]["verdict"] == "confirmed"
    assert records[0]["measurement"]["values"] == [0.05, 0.06, 0.07] and records[0]["budget"] == "full"
    assert [p.name for p in tmp_path.iterdir()] == ["99_demo.json"]   # no temporary file left behind


def test_the_tables_render_the_declaration_before_and_the_verdict_after():
    c = _demo()
    assert "expected" in c._repr_html_() and "示例" in c._repr_html_()
    c.measure("9.9/demo", [0.05, 0.06, 0.07])
    c.check(quick=True)
    html = c._repr_html_()
    assert 'class="verdict verdict-confirmed"' in html and "n = 3" in html


# -- the book's claims ------------------------------------------------------

def test_every_chapter_with_claims_declares_them_in_a_cell_of_literals():
    assert len(DECLARED) >= 1
    for path, claims in DECLARED:
        assert claims.claims, path.name


@pytest.mark.parametrize("path, claims", DECLARED, ids=[p.stem for p, _ in DECLARED])
def test_each_declared_claim_can_come_out_confirmed_and_wrong(path, claims):
    # The rule reaches both verdicts for the claim's own margin: a clear effect beyond the margin
    # confirms it, a clear effect short of it makes it wrong.
    for key, claim in claims.claims.items():
        scale = max(abs(claim.margin), 1e-3)
        above = claim.margin + scale * np.array([1.0, 1.1, 0.9])
        below = claim.margin - scale * np.array([1.0, 1.1, 0.9])
        assert dlgen.decide(above, claim.margin).verdict == "confirmed", key
        assert dlgen.decide(below, claim.margin).verdict == "wrong", key
        assert re.search(r"[\u4e00-\u9fff]", claim.words), f"{key}: words must quote the essay's original"


def test_each_claim_of_the_essay_has_one_home():
    homes = {}
    keys = set()
    for path, claims in DECLARED:
        for key, c in claims.claims.items():
            assert key not in keys, f"claim key {key} is declared in two chapters"
            keys.add(key)
            homes.setdefault((c.section, c.words), set()).add(path.stem)
    shared = {k: v for k, v in homes.items() if len(v) > 1}
    assert not shared, f"claims decided in more than one chapter: {shared}"


def test_the_claims_page_is_generated_from_the_declarations():
    page = (ROOT / "book" / "claims.md").read_text(encoding="utf-8")
    assert page == claims_mod.page(CHAPTERS), (
        "book/claims.md is out of date: run `make claims-page` (python -m dlgen.claims page ...)")


def test_claim_checks_assert_nothing_but_the_computed_verdicts():
    # The verdict is never held in place by a separate assert: a chapter with declared claims
    # asserts through claims.check only.
    for path, _ in DECLARED:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            tags = cell.get("metadata", {}).get("tags", [])
            if "claim-check" in tags:
                source = "".join(cell["source"])
                assert "claims.check(" in source, path.name
                assert not re.search(r"^\s*assert\b", source, re.M), f"{path.name}: an assert beside claims.check"
                assert "VerdictTable" not in source


@pytest.mark.integration
def test_published_quantities_vary_with_the_seed():
    # After the chapters ran (make notebooks), each published claim's per-seed values differ: a
    # quantity that comes out the same for every seed is a constant of the code, not a measurement.
    folder = PUBLISHED
    published = sorted(folder.glob("*.json")) if folder.exists() else []
    if not published:
        if os.environ.get("CI"):
            pytest.fail(f"CI ran no chapter that published its claims into {folder}")
        pytest.skip(f"no chapter has published its claims into {folder} yet (run make notebooks first)")
    for path in published:
        for record in json.loads(path.read_text(encoding="utf-8")):
            m = record["measurement"]
            if m is None:
                continue
            values = m["values"]
            assert len(values) >= 2 and not all(math.isclose(v, values[0]) for v in values), (
                f"{path.name}: {record['key']} came out {values[0]} for every seed")
