"""dlgen.VerdictTable: verdicts decided by measurements, shown in a chapter and on the claims page."""

import pytest

import dlgen


def test_a_verdict_table_holds_rows_and_renders_them_as_html():
    table = dlgen.VerdictTable("99 Demo")
    table.add("4.1.3", "a lower learning rate prevents overfitting", "wrong", "best epoch 14 -> 32, gap 0.17 -> 0.17")
    table.add("3.7", "dropout <helps> & more", "depends", "gap 0.20 -> 0.14")
    frame = table.frame()
    assert frame.columns.tolist() == ["essay", "claim", "verdict", "evidence"]
    assert frame["verdict"].tolist() == ["wrong", "depends"]
    page = table._repr_html_()
    assert page.count("<tr>") == 3 and 'class="verdict verdict-wrong"' in page
    assert "dropout &lt;helps&gt; &amp; more" in page          # escaped, not raw HTML


def test_a_verdict_table_refuses_unknown_verdicts_and_empty_fields():
    table = dlgen.VerdictTable("99 Demo")
    with pytest.raises(ValueError, match=r"verdict must be one of \('confirmed', 'wrong', 'depends', 'not tested'\), got 'true'"):
        table.add("3.1", "claim", "true", "evidence")
    with pytest.raises(ValueError, match="evidence must be a non-empty string"):
        table.add("3.1", "claim", "confirmed", "")
    with pytest.raises(ValueError, match="no verdicts"):
        table.glue()
    with pytest.raises(ValueError, match="chapter"):
        dlgen.VerdictTable("")
