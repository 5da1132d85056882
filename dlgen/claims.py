"""Claims on the source essay, declared before the experiment and decided by one rule.

A chapter declares each claim it tests in a short cell *before* the experiment
that decides it, with `Claims.declare`:

- the essay's section and its words (the Chinese original);
- what the claim says, in English;
- the quantity that decides it: an effect with a sign, positive in the
  direction the essay claims (e.g. "test loss without dropout minus with,
  relative, paired by seed");
- the margin: the smallest effect that matters, justified in one line
  (`why`);
- the verdict the chapter's text expects.

After the experiment the chapter hands the per-seed effects to
`Claims.measure`, and one rule, the same for every claim of the book, turns
them into a verdict (`decide`): the effect's two-sided `LEVEL` t-interval
over seeds (Student's t on the per-seed values, which are paired
differences wherever the design allows; Welch's interval for two unpaired
groups) against the margin:

- **confirmed**: the whole interval lies above the margin;
- **wrong**: the whole interval lies below it, on the other side or inside
  the band of no practical effect;
- **depends**: the interval straddles the margin, or the claim is measured
  under several named conditions and their verdicts differ;
- **not tested**: the budget the chapter runs in skips the experiment
  (the claim's `budgets`).

A 90% interval makes each one-sided conclusion (above the margin, or short
of it) at the 5% level, as in the two one-sided tests of equivalence testing
(Schuirmann 1987).

The claim-check cell calls `Claims.check`, which fails when a computed verdict
differs from the expected one: the data can overturn the text, and CI fails
when it does. `Claims.glue` stores the table for the chapter and for the page
*Claims and verdicts*, which `make claims-page` generates from the
chapters' declarations (`collect`).

Example:

>>> claims = Claims("99 Demo")
>>> _ = claims.declare("4.1.5/gap", section="4.1.5", words="抑制过拟合",
...                says="dropout suppresses overfitting",
...                quantity="gap without dropout minus with, paired by seed",
...                margin=0.02, unit="accuracy", why="two points is a visible change",
...                expect="confirmed")
>>> claims.measure("4.1.5/gap", [0.08, 0.06, 0.07]).verdict
'confirmed'
>>> decide([0.001, -0.002, 0.0], margin=0.02).verdict
'wrong'
>>> decide([0.03, -0.01, 0.05], margin=0.02).verdict
'depends'
"""

import dataclasses
import html
import json
import math
import pathlib
import re
import sys

import numpy as np
import pandas as pd

__all__ = ["LEVEL", "VERDICTS", "Claim", "Claims", "Measurement", "collect", "decide", "page", "paired"]

VERDICTS = ("confirmed", "wrong", "depends", "not tested")
"""The verdicts a claim can get."""

LEVEL = 0.90
"""Confidence level of the interval the rule compares with the margin."""

BUDGETS = ("quick", "full")
_KEY = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-/_]*$")


def _t_quantile(level, df):
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


@dataclasses.dataclass(frozen=True)
class Measurement:
    """A measured effect: its per-seed values, mean, interval and verdict.

    >>> decide([0.1, 0.2], margin=0.0).n
    2
    """

    values: tuple
    mean: float
    low: float
    high: float
    verdict: str
    conditions: tuple = ()

    @property
    def n(self):
        return len(self.values)

    def as_dict(self):
        return {"values": list(self.values), "mean": self.mean, "low": self.low, "high": self.high,
                "n": self.n, "verdict": self.verdict,
                "conditions": [dict(name=name, **m.as_dict()) for name, m in self.conditions]}


def _as_values(values, what):
    if isinstance(values, (pd.Series, pd.DataFrame)):
        values = values.to_numpy()
    array = np.asarray(values, dtype=float).ravel()
    if array.size < 2:
        raise ValueError(f"{what} needs at least 2 values (one per seed) for an interval, got {array.size}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} has values that are not finite: {array.tolist()}.")
    return array


def _verdict(low, high, margin):
    if low > margin:
        return "confirmed"
    if high < margin:
        return "wrong"
    return "depends"


def decide(values, margin, level=LEVEL, control=None):
    """The book's one rule: an effect's interval over seeds against the margin.

    Args:
        values: the effect for each seed (positive in the claimed direction),
            e.g. paired differences; or, with `control`, the treated group's values.
        margin: the smallest effect that matters.
        level: the interval's confidence level.
        control: the control group's values, for an unpaired design (Welch's
            interval on the difference of means, `values` minus `control`).

    Returns:
        A `Measurement`.

    Example:

    >>> m = decide([0.05, 0.07, 0.06], margin=0.02)
    >>> m.verdict, round(m.low, 3), round(m.high, 3)
    ('confirmed', 0.043, 0.077)
    """
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level!r}.")
    a = _as_values(values, "the effect")
    if control is None:
        mean, n = float(a.mean()), a.size
        half = _t_quantile(level, n - 1) * float(a.std(ddof=1)) / math.sqrt(n)
        kept = a
    else:
        b = _as_values(control, "the control group")
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        mean = float(a.mean() - b.mean())
        se = math.sqrt(va + vb)
        if se == 0:
            half = 0.0
        else:
            df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
            half = _t_quantile(level, df) * se
        kept = a
    low, high = mean - half, mean + half
    return Measurement(tuple(float(v) for v in kept), mean, low, high, _verdict(low, high, margin))


def paired(frame, value, treatment, control, within="name", by="seed", relative=False):
    """Per-seed differences `treatment - control` of one column of a runs table.

    Args:
        frame: one row per run, e.g. `dlgen.records_frame(records)`.
        value: the column to compare, e.g. `"test_accuracy"`.
        treatment, control: values of the `within` column that name the two sides.
        within: the column naming each run's configuration.
        by: the column pairing runs (the seed).
        relative: divide each difference by the control's absolute value.

    Returns:
        A Series indexed by `by`, one difference per seed both sides ran.

    >>> runs = pd.DataFrame({"name": ["a", "b", "a", "b"], "seed": [0, 0, 1, 1], "acc": [0.8, 0.7, 0.9, 0.7]})
    >>> paired(runs, "acc", "a", "b").round(3).tolist()
    [0.1, 0.2]
    """
    for column in (value, within, by):
        if column not in frame.columns:
            raise ValueError(f"no column {column!r} in the runs table; it has {list(frame.columns)}.")
    table = frame.pivot_table(index=by, columns=within, values=value, aggfunc="mean")
    for side in (treatment, control):
        if side not in table.columns:
            raise ValueError(f"no runs named {side!r} in column {within!r}; there are {list(table.columns)}.")
    both = table[[treatment, control]].dropna()
    diff = both[treatment] - both[control]
    if relative:
        diff = diff / both[control].abs()
    return diff.rename(f"{value}: {treatment} - {control}")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the essay as a chapter declares it (see `Claims.declare`).

    >>> Claims("99 Demo").declare("3.9/x", section="3.9", words="早停法", says="s", quantity="q",
    ...                           margin=0.0, unit="u", why="w", expect="depends").claims["3.9/x"].expect
    'depends'
    """

    key: str
    section: str
    words: str
    says: str
    quantity: str
    margin: float
    unit: str
    why: str
    expect: str
    budgets: tuple = BUDGETS

    def as_dict(self):
        return dataclasses.asdict(self)


def _text(name, value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
    return value.strip()


class Claims:
    """The claims one chapter tests, their measurements and verdicts.

    Args:
        chapter: the chapter's name, e.g. `"06 Dropout"`.

    Example:

    >>> claims = Claims("99 Demo")
    >>> _ = claims.declare("4.2.6/underfitting", section="4.2.6", words="Dropout可以帮助模型训练更加稳定",
    ...                    says="dropout is a remedy for underfitting",
    ...                    quantity="training accuracy with dropout minus without, paired by seed",
    ...                    margin=0.01, unit="accuracy", why="a remedy must fit the training set a point better",
    ...                    expect="wrong")
    >>> claims.measure("4.2.6/underfitting", [-0.12, -0.09, -0.15]).verdict
    'wrong'
    >>> _ = claims.check(quick=True)   # raises AssertionError when a verdict differs from `expect`
    """

    def __init__(self, chapter):
        self.chapter = _text("chapter", chapter)
        self.claims = {}
        self.measured = {}
        self.notes = {}
        self.budget = None

    # -- declaring --------------------------------------------------------
    def declare(self, key, *, section, words, says, quantity, margin, unit, why, expect,
                budgets=BUDGETS):
        """Declare a claim before the experiment that decides it.

        Args:
            key: a short id, unique in the book, e.g. `"4.1.5/gap"`.
            section: the essay's section, e.g. `"4.1.5"`.
            words: the essay's words the claim stands on (its Chinese original).
            says: the claim in English, in a few words.
            quantity: what is measured, with its sign: positive in the claimed direction.
            margin: the smallest effect that matters, in the quantity's unit.
            unit: the quantity's unit, e.g. `"accuracy"`, `"relative"`, `"nats"`.
            why: one line justifying the margin.
            expect: the verdict the chapter's text expects: `"confirmed"`, `"wrong"` or `"depends"`.
            budgets: the budgets that decide the claim; in the others it is "not tested" (a
                measurement made there anyway is shown, and decides nothing).

        Returns:
            The claims (so that a cell ending in a declaration shows the table).
        """
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"key must be letters, digits and . - / _, got {key!r}.")
        if key in self.claims:
            raise ValueError(f"claim {key!r} is declared twice in {self.chapter}.")
        if expect not in VERDICTS[:3]:
            raise ValueError(f"expect must be one of {VERDICTS[:3]}, got {expect!r}; "
                             "a claim a budget skips is declared with budgets=, not expected 'not tested'.")
        if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not math.isfinite(margin):
            raise ValueError(f"margin must be a finite number, got {margin!r}.")
        budgets = tuple(budgets)
        if not budgets or any(b not in BUDGETS for b in budgets):
            raise ValueError(f"budgets must be a non-empty subset of {BUDGETS}, got {budgets!r}.")
        claim = Claim(key, _text("section", section), _text("words", words), _text("says", says),
                      _text("quantity", quantity), float(margin), _text("unit", unit), _text("why", why),
                      expect, budgets)
        self.claims[key] = claim
        return self

    def _claim(self, key):
        if key not in self.claims:
            raise KeyError(f"no claim {key!r} in {self.chapter}; declared: {list(self.claims)}.")
        return self.claims[key]

    # -- measuring --------------------------------------------------------
    def measure(self, key, effect=None, *, control=None, conditions=None, note=""):
        """Decide a claim from its measured effect.

        Args:
            key: the claim's key.
            effect: the effect for each seed, positive in the claimed direction (paired
                differences where the design allows); with `control`, the treated group.
            control: the control group's values, for an unpaired design.
            conditions: instead of `effect`, a dict `{condition: per-seed effects}`: the
                claim is decided in each, and "depends" when their verdicts differ.
            note: one line of context for the table (what was compared, at which setting).

        Returns:
            The `Measurement`.
        """
        claim = self._claim(key)
        if (effect is None) == (conditions is None):
            raise ValueError("give either effect (per-seed values) or conditions (a dict of them).")
        if conditions is not None:
            if not isinstance(conditions, dict) or len(conditions) < 2:
                raise ValueError(f"conditions must be a dict of at least two conditions, got {conditions!r}.")
            parts = tuple((str(name), decide(values, claim.margin)) for name, values in conditions.items())
            verdicts = {m.verdict for _, m in parts}
            values = tuple(v for _, m in parts for v in m.values)
            measurement = Measurement(values, min(m.mean for _, m in parts), min(m.low for _, m in parts),
                                      max(m.high for _, m in parts),
                                      verdicts.pop() if len(verdicts) == 1 else "depends", parts)
        else:
            measurement = decide(effect, claim.margin, control=control)
        self.measured[key] = measurement
        self.notes[key] = note if isinstance(note, str) else str(note)
        return measurement

    # -- verdicts ---------------------------------------------------------
    def verdict(self, key, quick):
        """The claim's verdict in the given budget."""
        claim = self._claim(key)
        budget = "quick" if quick else "full"
        if budget not in claim.budgets:
            return "not tested"
        if key not in self.measured:
            raise ValueError(f"claim {key!r} of {self.chapter} was declared but never measured "
                             f"in the {budget} budget; call claims.measure({key!r}, ...).")
        return self.measured[key].verdict

    def check(self, quick):
        """Assert that each claim's computed verdict is the one the text expects.

        Args:
            quick: whether the chapter runs in the quick budget (its `QUICK` parameter).

        Returns:
            The claims, for display.

        Raises:
            AssertionError: naming each claim whose verdict differs, with its numbers.
        """
        self.budget = "quick" if quick else "full"
        wrong = []
        for key, claim in self.claims.items():
            if self.budget not in claim.budgets:
                # not tested here: a measurement, if the budget ran one, is shown but decides nothing
                continue
            got = self.verdict(key, quick)
            if got != claim.expect:
                m = self.measured[key]
                wrong.append(f"{key} ({claim.says}): expected {claim.expect}, measured {got}: "
                             f"{claim.quantity} = {m.mean:+.4g}, {LEVEL:.0%} interval "
                             f"[{m.low:+.4g}, {m.high:+.4g}] over {m.n} values, margin {claim.margin:+.4g}")
        if wrong:
            raise AssertionError("the data overturn the text:\n" + "\n".join(wrong))
        return self

    def frame(self):
        """One row per claim: declaration, measured effect, interval and verdict."""
        rows = []
        for key, c in self.claims.items():
            m = self.measured.get(key)
            skipped = self.budget is not None and self.budget not in c.budgets
            rows.append({"key": key, "essay": c.section, "claim": c.says, "quantity": c.quantity,
                         "margin": c.margin, "effect": None if m is None else m.mean,
                         "low": None if m is None else m.low, "high": None if m is None else m.high,
                         "n": None if m is None else m.n,
                         "verdict": "not tested" if skipped else (None if m is None else m.verdict),
                         "expected": c.expect})
        return pd.DataFrame(rows)

    def records(self):
        """The chapter's claims as JSON-ready dicts (declaration and measurement)."""
        out = []
        for key, c in self.claims.items():
            m = self.measured.get(key)
            out.append({**c.as_dict(), "budgets": list(c.budgets), "chapter": self.chapter,
                        "budget": self.budget, "measurement": None if m is None else m.as_dict(),
                        "note": self.notes.get(key, "")})
        return out

    @staticmethod
    def _fmt(x):
        return f"{x:+.3g}"

    def _declared_html(self):
        rows = "".join(
            f"<tr><td>{html.escape(c.section)}</td><td>{html.escape(c.words)}<br><em>{html.escape(c.says)}</em></td>"
            f"<td>{html.escape(c.quantity)}</td><td>{self._fmt(c.margin)} {html.escape(c.unit)}<br>"
            f"<small>{html.escape(c.why)}</small></td><td>{html.escape(c.expect)}"
            + ("" if c.budgets == BUDGETS else f"<br><small>{'/'.join(c.budgets)} budget only</small>")
            + "</td></tr>"
            for c in self.claims.values())
        return ('<table class="dlgen-claims"><thead><tr><th>essay</th><th>claim</th><th>quantity (positive: as claimed)'
                "</th><th>margin</th><th>expected</th></tr></thead><tbody>" + rows + "</tbody></table>")

    def _measured_html(self):
        rows = []
        for key, c in self.claims.items():
            m = self.measured.get(key)
            skipped = self.budget is not None and self.budget not in c.budgets
            verdict = "not tested" if skipped else (m.verdict if m else "not measured")
            if skipped:
                effect = (f"{self.budget} budget: not decided here" if m is None else
                          f"{self._fmt(m.mean)} [{self._fmt(m.low)}, {self._fmt(m.high)}], n = {m.n}: "
                          f"the {self.budget} budget is too small to decide it")
            elif m is None:
                effect = ""
            else:
                effect = (f"{self._fmt(m.mean)} [{self._fmt(m.low)}, {self._fmt(m.high)}], n = {m.n}"
                          if not m.conditions else "; ".join(
                              f"{name}: {self._fmt(p.mean)} [{self._fmt(p.low)}, {self._fmt(p.high)}] {p.verdict}"
                              for name, p in m.conditions))
            note = self.notes.get(key, "")
            rows.append(
                f"<tr><td>{html.escape(c.section)}</td><td>{html.escape(c.says)}</td>"
                f"<td>{html.escape(c.quantity)}</td><td>{self._fmt(c.margin)}</td><td>{html.escape(effect)}"
                + (f"<br><small>{html.escape(note)}</small>" if note else "") +
                f'</td><td class="verdict verdict-{verdict.replace(" ", "-")}"><strong>{html.escape(verdict)}'
                "</strong></td></tr>")
        return ('<table class="dlgen-verdicts"><thead><tr><th>essay</th><th>claim</th><th>quantity</th><th>margin</th>'
                f"<th>effect [{LEVEL:.0%} interval]</th><th>verdict</th></tr></thead><tbody>" + "".join(rows)
                + "</tbody></table>")

    def _repr_html_(self):
        return self._measured_html() if self.measured or self.budget else self._declared_html()

    def __repr__(self):
        return self.frame().to_string(index=False)

    def glue(self, name="verdicts", display=True, publish=True):
        """Store the measured table under `name` for `{glue}` (shown when `display`).

        With `publish`, also write the chapter's claims as JSON into the results
        cache (`<cache>/claims/`), where the book's tests read what each chapter
        measured.

        Returns:
            The claims.
        """
        if not self.claims:
            raise ValueError("no claims declared; declare them with declare(...) first.")
        from .notebook import glue

        glue(name, self, display=display)
        if publish:
            self.publish()
        return self

    def publish(self, folder=None):
        """Write the claims and their measurements to `folder/<chapter>.json` (atomically)."""
        from .cache import default_cache_dir

        folder = pathlib.Path(folder) if folder is not None else default_cache_dir() / "claims"
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^0-9A-Za-z]+", "_", self.chapter).strip("_").lower()
        path = folder / f"{name}.json"
        tmp = path.with_suffix(f".json.tmp{id(self)}")
        tmp.write_text(json.dumps(self.records(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)
        return path


# -- the book's registry ---------------------------------------------------

CLAIMS_TAG = "claims"
"""The tag of the cells that declare a chapter's claims."""


def collect(notebooks):
    """The claims the chapters declare, read from their `claims`-tagged cells.

    Each such cell is run on its own with only `dlgen` imported: a declaration
    holds literals, not the chapter's variables.

    Args:
        notebooks: paths of chapters.

    Returns:
        A list of `(path, Claims)`, in the order given, for chapters that declare claims.
    """
    import dlgen
    import dlgen.claims  # the class chapters use, also when this module runs as __main__

    found = []
    for path in notebooks:
        path = pathlib.Path(path)
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        sources = ["".join(c["source"]) for c in cells
                   if c["cell_type"] == "code" and CLAIMS_TAG in c.get("metadata", {}).get("tags", [])]
        if not sources:
            continue
        namespace = {"dlgen": dlgen}
        for source in sources:
            exec(compile(source, f"{path.name} (claims cell)", "exec"), namespace)  # noqa: S102
        tables = [v for v in namespace.values() if isinstance(v, dlgen.claims.Claims)]
        if len(tables) != 1:
            raise ValueError(f"{path.name}: the claims cells must create one dlgen.Claims, found {len(tables)}.")
        found.append((path, tables[0]))
    return found


_PAGE_HEAD = """\
# Claims and verdicts

<!-- Generated by `make claims-page` from the chapters' claims cells: do not edit. -->

The source essay makes a claim in almost every paragraph. Each chapter of this
book declares the claims it tests *before* the experiment that decides them: the
essay's words, the quantity that decides the claim (an effect with a sign,
positive in the direction the essay claims), the smallest effect that matters
(the margin, with the reason for it), and the verdict the chapter's text expects.

One rule, the same for every claim, turns the measured effect into a verdict.
Over the seeds of the run, the effect's {level:.0%} confidence interval
(Student's t on the per-seed effects, which are differences paired by seed
wherever the design allows; Welch's interval for unpaired groups) is compared
with the margin:

- **confirmed**: the whole interval lies above the margin;
- **wrong**: the whole interval lies below it (the effect goes the other way,
  or is too small to matter);
- **depends**: the interval straddles the margin, or the effect's verdict
  differs between conditions the chapter names;
- **not tested**: the budget skips the experiment (the quick budget that CI
  runs skips some; the published book runs them all).

A {level:.0%} interval makes each one-sided conclusion at the 5% level, as in the
two one-sided tests of equivalence testing. Each chapter's claim check fails,
and CI with it, when a computed verdict differs from the one its text states:
the data can overturn the text. Each claim of the essay is decided in exactly
one chapter; other chapters link to it.

For each chapter, the first table is the declaration (typed once, in the
chapter); the second is computed by the run that built this book, and pasted
here from it.
"""


def page(notebooks):
    """The page *Claims and verdicts* (MyST Markdown), from the chapters' declarations."""
    lines = [_PAGE_HEAD.format(level=LEVEL)]
    for path, claims in collect(notebooks):
        doc = f"../notebooks/{path.stem}"
        lines.append(f"\n## {claims.chapter}\n")
        lines.append(f"Declared in {{doc}}`{doc}`:\n")
        lines.append("| essay | the essay's words | claim | quantity (positive: as claimed) | margin | why | expected |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for c in claims.claims.values():
            only = "" if c.budgets == BUDGETS else f" ({'/'.join(c.budgets)} budget only)"
            cells = [c.section, c.words, c.says, c.quantity, f"{c.margin:+.3g} {c.unit}", c.why, c.expect + only]
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
        lines.append("\nMeasured:\n")
        lines.append("```{glue} verdicts")
        lines.append(f":doc: {doc}.ipynb")
        lines.append("```")
    return "\n".join(lines) + "\n"


def _main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dlgen.claims", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("page", help="print the page Claims and verdicts, generated from the chapters")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("-o", "--output", help="write the page here instead of printing it")
    args = parser.parse_args(argv)
    text = page(sorted(args.notebooks))
    if args.output:
        out = pathlib.Path(args.output)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
