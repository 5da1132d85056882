"""Verdicts on the source essay's claims, computed from a chapter's own measurements.

A chapter collects its verdicts in a `VerdictTable`: for each claim of the
essay, the section, the claim in a few words, a verdict from `VERDICT_WORDS`
decided by the measured numbers, and one line of evidence with those
numbers. `VerdictTable.glue()` stores the table for the book: the chapter
shows it, and the page *Claims and verdicts* pastes every chapter's table
(`{glue}` with `:doc:`), so that when a number changes, both change.
"""

import html

import pandas as pd

__all__ = ["VERDICT_WORDS", "VerdictTable"]

VERDICT_WORDS = ("confirmed", "wrong", "depends", "not tested")
"""The verdicts a claim can get."""


class VerdictTable:
    """The verdicts of one chapter on the essay's claims.

    Args:
        chapter: the chapter's name, e.g. `"14 Model selection"`.

    Example:

    >>> table = VerdictTable("14 Model selection")
    >>> gain = 0.004
    >>> table.add("2", "model selection picks the best model on validation data",
    ...           "confirmed" if gain < 0.01 else "depends", f"fresh minus validation {gain:+.3f}")
    >>> table.frame()[["essay", "verdict"]].values.tolist()
    [['2', 'confirmed']]
    """

    def __init__(self, chapter):
        if not isinstance(chapter, str) or not chapter.strip():
            raise ValueError(f"chapter must be a non-empty string, got {chapter!r}.")
        self.chapter = chapter
        self.rows = []

    def add(self, section, claim, verdict, evidence):
        """Add the verdict on one claim.

        Args:
            section: the essay's section, e.g. `"4.1.3"`.
            claim: the claim, in a few words.
            verdict: one of `VERDICT_WORDS`, decided from the measurements.
            evidence: one line with the measured numbers behind the verdict.
        """
        if verdict not in VERDICT_WORDS:
            raise ValueError(f"verdict must be one of {VERDICT_WORDS}, got {verdict!r}.")
        for name, value in [("section", section), ("claim", claim), ("evidence", evidence)]:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
        self.rows.append({"essay": section, "claim": claim, "verdict": verdict, "evidence": evidence})

    def frame(self):
        """The verdicts as a DataFrame: `essay`, `claim`, `verdict`, `evidence`."""
        return pd.DataFrame(self.rows, columns=["essay", "claim", "verdict", "evidence"])

    def _repr_html_(self):
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(r[c])}</td>" for c in ("essay", "claim")) +
            f'<td class="verdict verdict-{r["verdict"].replace(" ", "-")}"><strong>{html.escape(r["verdict"])}</strong></td>'
            f"<td>{html.escape(r['evidence'])}</td></tr>"
            for r in self.rows)
        return ('<table class="dlgen-verdicts"><thead><tr><th>essay</th><th>claim</th><th>verdict</th>'
                f"<th>evidence</th></tr></thead><tbody>{rows}</tbody></table>")

    def __repr__(self):
        return self.frame().to_string(index=False)

    def glue(self, name="verdicts", display=True):
        """Store the table under `name` for `{glue}` (and show it when `display`).

        Returns:
            The table.
        """
        if not self.rows:
            raise ValueError("the table has no verdicts; add them with add(...) first.")
        from .notebook import glue

        glue(name, self, display=display)
        return self
