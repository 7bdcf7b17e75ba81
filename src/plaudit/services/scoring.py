"""The ranking statement: one SELECT that scores, normalises and ranks a cycle.

DOMAIN.md "Scoring and ranking". Only `approved` nominations count, and only
their `approve` approvals' ratings. For approval `a` of nomination `n` and
criterion `c` with rating `v(a, c)`:

- `mean(n, c)` = Σ_a v(a, c) / k(n), `k(n)` the nomination's approve approvals;
- `score(n)` = Σ_c weight(c) × mean(n, c);
- `criterion_mean(u, c)` and `score(u)`: the means of those over the
  nominee's approved nominations `N(u)`;
- `approval_score(a)` = Σ_c weight(c) × v(a, c); `spread(u)` = the largest
  minus the smallest over all of `u`'s counted approvals;
- ranking: competition rank over (score DESC, approved nominations DESC);
  listed by display name, then id within a rank; `tie_break` is what puts a
  row below the row listed before it (`score`, `approved_nominations`, or
  `name` when they share a rank; null for the first); winners have
  `rank ≤ award_slots`, so a tie at the boundary wins together.

Shape. The criteria become columns: one hash aggregate of the cycle's
ratings by approval, picked by criterion before any join (the ratings are
the one big input: a join per rating would cost more than the aggregate),
gives each approval's rating per criterion (`v0`, `v1`, ...) and its
approval score `t`; only then do the approval rows meet the approvals and
nominations that decide whether they count; one more by nomination sums them; one
more by nominee gives every criterion mean, the score and the spread. That is
the leanest shape that still keeps the per-criterion breakdown and the
per-approval spread, so the statement is built for the cycle's number of
criteria (and cached per count); the criteria's ids, names and weights are
bound parameters. Every approve approval carries one rating per criterion of
its cycle (the approval service refuses anything else, and criteria are
frozen once a cycle is published), so `k(n)` is also each criterion's count.

Exactness (normalisation `none`). Weights have 4 places, so `W = weight ×
10⁴` is an integer and every approval score `t` is an integer. With `D` the
least common multiple of every `k(n)` in the cycle, `score(u) = Σ_n t(n) ×
(D / k(n)) / (10⁴ × D × |N(u)|)`: an exact integer over an exact integer.
The one division is the rounding itself, half-up to 6 places in integer
arithmetic (`floor((2·10⁶·num + den) / (2·den)) / 10⁶`), so a score that is
exactly `x.xxxxxx5` never comes out as `x.xxxxxx4999…`. (PostgreSQL's
`avg()` would also give value-dependent scales: two equal means could
compare unequal.) Ranking compares the rounded score.

Normalisation `zscore`: each approver's ratings are standardised per
criterion over the cycle's counted ratings, `v' = μ(c) + σ(c) × (v − μ(a,c))
/ σ(a,c)` (`μ(c)` when `σ(a,c) = 0`), with population deviations. Each
approver's `σ(c) / σ(a,c)` is one `numeric` square root of an exact ratio of
integers (20 places). Ratings are integers 0..100, so each approver's
normalised value of every possible rating is computed once, in `numeric`,
rounded to 9 places and kept as an integer × 10⁹ in a small per-approver
table; each rating is then a lookup, and the sums, the division and the
half-up rounding to 6 places are the exact integer ones above. (Per-rating
`numeric` arithmetic cost 2-7× more; 9 places keep every score within
5·10⁻¹⁰ of its `numeric` value.)
"""

import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Numeric,
    Text,
    TextClause,
    TextualSelect,
    Uuid,
    bindparam,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSON

from plaudit.models import Criterion
from plaudit.models.enums import ScoreNormalization

WEIGHT_SCALE = 10_000  # weights have 4 places


@dataclass(frozen=True)
class Weighted:
    """A criterion as a ranking uses it: the weight may be a what-if weight."""

    id: uuid.UUID
    name: str
    weight: Decimal


@dataclass(frozen=True)
class Scoring:
    """What a cycle's ranking is computed with: its criteria in display order
    (position, name, id) with their weights, and the normalisation."""

    cycle_id: uuid.UUID
    award_slots: int
    criteria: tuple[Weighted, ...]
    normalization: ScoreNormalization = ScoreNormalization.none

    def with_changes(
        self, *, weights: dict[uuid.UUID, Decimal] | None = None, normalization: str | None = None
    ) -> "Scoring":
        """The same cycle scored with other weights (one per criterion, checked
        by the caller) and/or another normalisation."""
        criteria = self.criteria
        if weights is not None:
            criteria = tuple(Weighted(c.id, c.name, weights[c.id]) for c in criteria)
        return Scoring(
            self.cycle_id,
            self.award_slots,
            criteria,
            ScoreNormalization(normalization) if normalization is not None else self.normalization,
        )


def scoring_of(connection: Any, cycle: Any) -> Scoring:
    """The cycle's own scoring: its stored criteria and normalisation.
    `connection` is a Session or Connection; `cycle` needs `id`,
    `award_slots` and `score_normalization`."""
    rows = connection.execute(
        select(Criterion.id, Criterion.name, Criterion.weight)
        .where(Criterion.cycle_id == cycle.id)
        .order_by(Criterion.position, Criterion.name, Criterion.id)
    ).all()
    return Scoring(
        cycle.id,
        cycle.award_slots,
        tuple(Weighted(*row) for row in rows),
        ScoreNormalization(cycle.score_normalization),
    )


# zscore: each normalised rating is taken to 9 decimal places as an integer
# (× 10⁹), once per approver and possible rating; everything after that is
# exact integer arithmetic, as without normalisation.
ZSCORE_SCALE = 10**9
RATING_VALUES = 101  # ratings are integers in 0..100


def _round6(num: str, den: str, *, signed: bool) -> str:
    """SQL: `num / den` rounded half-up to 6 places, exactly: integers (as
    numeric), den > 0. `floor((2·10⁶·num + den) / (2·den))` with the floor
    division done exactly: `div` truncates toward zero, which is the floor
    unless `num` may be negative (`signed`: normalised values)."""
    x, y = f"(({num})::numeric * 2000000 + ({den}))", f"(2 * ({den}))"
    floor = f"(div({x}, {y}) - CASE WHEN mod({x}, {y}) < 0 THEN 1 ELSE 0 END)" if signed else f"div({x}, {y})"
    return f"({floor} * 0.000001)::numeric(18, 6)"


def _each(template: str, count: int) -> list[str]:
    return [template.format(i=i) for i in range(count)]


def _cols(head: str, template: str, count: int) -> str:
    """`head`, then `template` once per criterion index."""
    return ", ".join([head, *_each(template, count)])


@lru_cache(maxsize=64)
def ranking_sql(count: int, normalization: ScoreNormalization, frozen_names: bool = False) -> str:
    """The ranking statement for a cycle with `count` criteria: `ranking_ctes`,
    then their rows in ranking order (columns as `ranking_query` lists)."""
    ctes = ranking_ctes(count, normalization, frozen_names)
    return f"{ctes}\n{LISTED} ORDER BY r.rank, r.display_name, r.nominee_id"


@lru_cache(maxsize=64)
def ranking_ctes(count: int, normalization: ScoreNormalization, frozen_names: bool = False) -> str:
    """`WITH RECURSIVE` and the ranking's common table expressions, up to
    `ranked`, for a cycle with `count` criteria; `LISTED` selects from them.
    Other statements (finalize's) add CTEs of their own over `rated` and `ranked`.

    Names are the users' display names now, or with `frozen_names` those
    that the cycle's stored result rows froze at finalization (the current
    name for a nominee without one): a recomputation then lists a rank's
    nominees, and explains its ties, on the names they were decided on.

    Parameters: `cycle_id`, `award_slots`; per criterion `i` (display order):
    `c{i}` (id), `w{i}` (weight × 10⁴, an integer), `j{i}` (the breakdown's
    JSON text before its mean: `breakdown_parts`).

    `rated` has one row per counted approval: its nomination, nominee and
    approver and its raw rating per criterion, `r{i}`. The ratings are pivoted
    by approval first, picked by the cycle's criteria (a rating's criterion
    belongs to its approval's cycle), and only the approval rows, a fifth as
    many with five criteria, meet the approvals and nominations: no join runs
    per rating.

    `valued` has one row per counted approval with its value per criterion,
    `v{i}`, and its approval score `t`, all integers: without normalisation
    the ratings and `Σ W·rating` (so values are in units of 1 and `t` of
    10⁻⁴); with zscore, looked up in the approver's tables of normalised
    values (units of 10⁻⁹, `t` too).
    """
    zscore = normalization == ScoreNormalization.zscore
    round6 = partial(_round6, signed=zscore)
    if zscore:
        value_scale, t_scale = ZSCORE_SCALE, ZSCORE_SCALE
        valued = _ZSCORE.format(
            per_approver=_cols("p.approver_id", "count(p.r{i}) AS m{i}, sum(p.r{i}) AS s{i}, "
                               "sum(p.r{i} * p.r{i}) AS q{i}", count),
            overall=_cols("1 AS one", "sum(b.m{i}) AS m{i}, sum(b.s{i}) AS s{i}, sum(b.q{i}) AS q{i}", count),
            factors=_cols("b.approver_id", _FACTORS, count),
            tables=_cols("f.approver_id", _TABLES, count),
            values=_cols("p.nominee_id, p.nomination_id", "f.v{i}[p.r{i} + 1] AS v{i}", count),
            t=" + ".join(_each("f.t{i}[p.r{i} + 1]", count)) or "0",
        )
    else:
        value_scale, t_scale = 1, WEIGHT_SCALE
        valued = f"""valued AS (
    SELECT {_cols("p.nominee_id, p.nomination_id", "p.r{i} AS v{i}", count)},
           {" + ".join(_each(":w{i} * p.r{i}", count)) or "0"} AS t
    FROM rated p
),"""
    # The breakdown is JSON text: the bound text before each mean (`j{i}`), the
    # mean, and the closing `"}]`, validated once by the cast.
    means = [f":j{i} || ({round6(f'u.m{i}', f'{value_scale} * u.den')})::text" for i in range(count)]
    criteria = f"({' || '.join(means)} || '\"}}]')::json" if count else "'[]'::json"
    weighted_means = " + ".join(_each(":w{i} * u.m{i}", count)) or "0"
    name, frozen = "usr.display_name", ""
    if frozen_names:
        name = "coalesce(frozen.nominee_name, usr.display_name)"
        frozen = ("\n    LEFT JOIN cycle_results frozen"
                  " ON frozen.cycle_id = :cycle_id AND frozen.nominee_id = u.nominee_id")
    picked = f"r.criterion_id IN ({', '.join(_each(':c{i}', count))})" if count else "false"
    return f"""
WITH RECURSIVE
rated AS {"MATERIALIZED " if zscore else ""}(
    -- one row per counted approval, its rating for criterion i as column r{{i}}
    SELECT {_cols("n.nominee_id, n.id AS nomination_id, a.approver_id", "p.r{i}", count)}
    FROM (
        SELECT {_cols("r.approval_id", _PIVOT, count)}
        FROM approval_ratings r
        WHERE {picked}
        GROUP BY r.approval_id
    ) p
    JOIN approvals a ON a.id = p.approval_id AND a.decision = 'approve'
    JOIN nominations n ON n.id = a.nomination_id
    WHERE n.cycle_id = :cycle_id AND n.status = 'approved'
),
{valued}
per_nomination AS MATERIALIZED (
    SELECT {_cols("p.nominee_id, count(*) AS k", "sum(p.v{i}) AS s{i}", count)},
           max(p.t) AS t_max, min(p.t) AS t_min
    FROM valued p
    GROUP BY p.nominee_id, p.nomination_id
),
counts AS (
    SELECT d.k, row_number() OVER (ORDER BY d.k) AS i
    FROM (SELECT DISTINCT k FROM per_nomination) d
),
lcm_fold (i, d) AS (
    SELECT 0::bigint, 1::bigint
    UNION ALL
    SELECT c.i, lcm(f.d, c.k) FROM lcm_fold f JOIN counts c ON c.i = f.i + 1
),
common AS (
    -- D: the least common multiple of every k(n) in the cycle
    SELECT f.d FROM lcm_fold f ORDER BY f.i DESC LIMIT 1
),
per_nominee AS (
    -- criterion_mean(u, c{{i}}) = m{{i}} / den exactly, den = D × |N(u)| (in value units)
    SELECT {_cols("p.nominee_id, count(*) AS approved_nominations, common.d * count(*) AS den, "
                  "max(p.t_max) - min(p.t_min) AS spread", "sum(p.s{i} * (common.d / p.k)) AS m{i}", count)}
    FROM per_nomination p CROSS JOIN common
    GROUP BY p.nominee_id, common.d
),
scored AS (
    SELECT u.nominee_id, {name} AS display_name, usr.team_id, u.approved_nominations,
           {round6(weighted_means, f"{WEIGHT_SCALE * value_scale} * u.den")} AS score,
           {_round6("u.spread", str(t_scale), signed=False)} AS spread,
           {criteria} AS criteria
    FROM per_nominee u JOIN users usr ON usr.id = u.nominee_id{frozen}
),
ranked AS (
    SELECT s.*, rank() OVER (ORDER BY s.score DESC, s.approved_nominations DESC) AS rank
    FROM scored s
)"""


# The ranked rows with the columns `ranking_query` lists (ranking order is the
# window's; a caller that needs the rows in that order says ORDER BY).
LISTED = """SELECT r.nominee_id, r.display_name AS nominee_name, r.team_id, r.rank::integer AS rank, r.score,
       r.approved_nominations::integer AS approved_nominations, r.rank <= :award_slots AS is_winner,
       r.spread,
       CASE WHEN lag(r.rank) OVER listed IS NULL THEN NULL
            WHEN r.score < lag(r.score) OVER listed THEN 'score'
            WHEN r.approved_nominations < lag(r.approved_nominations) OVER listed THEN 'approved_nominations'
            ELSE 'name' END AS tie_break,
       r.criteria
FROM ranked r
WINDOW listed AS (ORDER BY r.rank, r.display_name, r.nominee_id)"""


_PIVOT = "max(r.value) FILTER (WHERE r.criterion_id = :c{i})::integer AS r{i}"

# zscore: per approver a and criterion i, rating' = alpha{i} + beta{i} × rating, where
# beta = σ(c) / σ(a,c) = (m / M) × sqrt((M·Q − S²) / (m·q − s²)) and alpha = μ(c) − beta × μ(a,c);
# beta = 0 (rating' = μ(c)) when σ(a,c) = 0. Lower case: the approver's count, Σ, Σ²; upper: everyone's.
# `tables` holds, per approver and criterion, rating' × 10⁹ of every rating 0..100 (`v{i}`), and
# the same times the weight (`t{i}`, × 10⁹ / 10⁴): the approval score is then a sum of lookups.
_ZSCORE = """by_approver AS (
    SELECT {per_approver}
    FROM rated p
    GROUP BY p.approver_id
),
overall AS (
    SELECT {overall}
    FROM by_approver b
),
factors AS MATERIALIZED (
    SELECT {factors}
    FROM by_approver b CROSS JOIN overall o
),
tables AS MATERIALIZED (
    SELECT {tables}
    FROM factors f
),
valued AS MATERIALIZED (
    -- narrow rows: the lookups are done here, so no sort or hash carries the tables
    SELECT {values}, {t} AS t
    FROM rated p JOIN tables f ON f.approver_id = p.approver_id
),"""
_BETA = (
    "CASE WHEN b.m{i} * b.q{i} = b.s{i} * b.s{i} THEN 0 ELSE"
    " b.m{i}::numeric(1000, 20) / o.m{i}"
    " * sqrt((o.m{i} * o.q{i} - o.s{i} * o.s{i})::numeric(1000, 20) / (b.m{i} * b.q{i} - b.s{i} * b.s{i}))"
    " END"
)
_FACTORS = (
    f"{_BETA} AS beta{{i}}, "
    f"o.s{{i}}::numeric(1000, 20) / o.m{{i}} - ({_BETA}) * b.s{{i}}::numeric(1000, 20) / b.m{{i}} AS alpha{{i}}"
)
_TABLES = (
    f"ARRAY(SELECT round((f.alpha{{i}} + f.beta{{i}} * x) * {ZSCORE_SCALE})::bigint"
    f" FROM generate_series(0, {RATING_VALUES - 1}) x ORDER BY x) AS v{{i}}, "
    f"ARRAY(SELECT round(:w{{i}} * (f.alpha{{i}} + f.beta{{i}} * x) * {ZSCORE_SCALE // WEIGHT_SCALE})::bigint"
    f" FROM generate_series(0, {RATING_VALUES - 1}) x ORDER BY x) AS t{{i}}"
)


def ranking_query(scoring: Scoring, *, frozen_names: bool = False) -> TextualSelect:
    """The ranking as ONE SELECT, one row per nominee with at least one
    approved nomination, in ranking order (rank, display name, id).

    Columns: nominee_id, nominee_name (current display name), team_id (current
    team), rank, score (numeric, 6 places), approved_nominations, is_winner,
    spread (numeric, 6 places), tie_break, criteria (JSON `[{criterion_id,
    name, weight: "0.2500", mean: "4.000000"}]` in display order).
    `frozen_names`: see `ranking_ctes`.
    """
    statement = text(ranking_sql(len(scoring.criteria), ScoreNormalization(scoring.normalization), frozen_names))
    return bound(statement, scoring).columns(
        nominee_id=Uuid,
        nominee_name=Text,
        team_id=Uuid,
        rank=Integer,
        score=Numeric(18, 6),
        approved_nominations=Integer,
        is_winner=Boolean,
        spread=Numeric(18, 6),
        tie_break=Text,
        criteria=JSON,
    )


def bound(statement: TextClause, scoring: Scoring) -> TextClause:
    """`statement` (built on `ranking_ctes`) with the parameters of `scoring` bound
    (`award_slots` only where it is used: a statement need not list the rows)."""
    params: dict[str, Any] = {"cycle_id": scoring.cycle_id}
    binds = [bindparam("cycle_id", type_=Uuid)]
    if re.search(r":award_slots\b", statement.text):
        params["award_slots"] = scoring.award_slots
        binds.append(bindparam("award_slots", type_=Integer))
    for i, criterion in enumerate(scoring.criteria):
        params |= {f"c{i}": criterion.id, f"w{i}": int(criterion.weight * WEIGHT_SCALE)}
        binds += [bindparam(f"c{i}", type_=Uuid), bindparam(f"w{i}", type_=Integer)]
    for i, part in enumerate(breakdown_parts(scoring.criteria)):
        params[f"j{i}"] = part
        binds.append(bindparam(f"j{i}", type_=Text))
    return statement.bindparams(*binds).bindparams(**params)


def breakdown_parts(criteria: tuple[Weighted, ...]) -> list[str]:
    """The JSON text of a result row's breakdown, cut before each mean: part
    `i` ends with criterion `i`'s `"mean":"`, and the statement puts the mean
    after it (then `"}]` after the last). The breakdown is the one value per
    row that PostgreSQL would otherwise build as JSON object by object (with
    `jsonb_build_object`, a fifth of the ranking's cost): as text, every row
    only adds its means."""
    parts = []
    for i, c in enumerate(criteria):
        head = json.dumps({"criterion_id": str(c.id), "name": c.name, "weight": f"{c.weight:.4f}", "mean": ""},
                          ensure_ascii=False, separators=(",", ":"))
        parts.append(("[" if i == 0 else '"},') + head[: -len('"}')])
    return parts
