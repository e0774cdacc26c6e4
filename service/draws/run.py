"""Draws: rank a pool of candidates against a draw ruleset and issue invitations (notifications of
interest). No Flask here; the CLI (``decisions draw``) and the HTTP API (``/v1/draws``) call
``run_draw``.

A draw is a ruleset with a ``draw:`` block (docs/draws.md): its rules are the draw's criteria
(usually a CRS range, a profile window and the programs, on top of an included criteria ruleset),
``draw:`` holds the date, the number of invitations and their validity. Holding the draw:

1. every candidate of the pool is decided with that ruleset (pinned to its version) as of the draw
   date, in batches through the deciders' ``decide_many`` (the very decision path of
   ``POST /v1/decisions``; several engine processes share a large pool);
2. each decision is reduced at once to a small record (eligible or not, the score, the submission
   time, and for an ineligible candidate the requirements that failed, followed down the included
   rulesets to the ones that explain it); only the decisions of the candidates that currently rank
   among the first N are kept (as JSON bytes), so memory does not grow with the pool;
3. eligible candidates are ranked by score (descending), then by ``profile_submitted_at``
   (earlier first; a candidate without one comes after those with one), then by pool position;
   the first N are invited, each until the draw date + ``validity_days``;
4. the draw is recorded (``draw_store.record_draw``): the invited decisions in the decision log,
   the draw, its invitations and every candidate's outcome in the draw tables.

A draw id is held once: running it again returns the first result (``replayed``), unless the
ruleset or the pool differ, which is a conflict.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import heapq
import re
import tempfile
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any

import orjson

from ..decisions import NO_TEXTS, catalog_texts, why_nots
from ..errors import (
    CONTROL_CHARACTER,
    CONTROL_MESSAGE,
    DecisionError,
    EngineUnavailableError,
    FactsError,
)
from ..i18n import both, gettext, moment_words
from ..rulesets import Catalog, RulesetVersion
from ..store import NewDecision, Store, canonical_json
from ..store import draws as draw_store

DRAW_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
BATCH_SIZE = 100
STATUSES = ("invited", "below_cutoff", "tie_break", "ineligible", "invalid", "duplicate", "error")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NO_TIME = 2 ** 62  # sorts after every real submission time


class DrawError(DecisionError):
    status = 422
    title = "Invalid draw"


class DrawConflictError(DecisionError):
    status = 409
    title = "Draw id already used"


class DrawNotFoundError(DecisionError):
    status = 404
    title = "Unknown draw"


class PoolNotFoundError(DecisionError):
    status = 404
    title = "Unknown pool"


# ------------------------------------------------------------------------------ the definition
@dataclass(frozen=True)
class DrawDefinition:
    """A draw ruleset version and its ``draw:`` parameters."""

    version: RulesetVersion
    date: dt.date
    invitations: int
    validity_days: int
    score: str
    reference: str

    @property
    def ruleset_id(self) -> str:
        return self.version.id

    @property
    def expires_on(self) -> dt.date:
        """The last day of an invitation's validity: the draw date + the validity in days."""
        return self.date + dt.timedelta(days=self.validity_days)


def definition(catalog: Catalog, ruleset_id: str, version: str | None = None) -> DrawDefinition:
    """The draw a ruleset defines: the version asked for, else its latest version."""
    chosen = catalog.version(ruleset_id, version) if version else \
        max(catalog.versions(ruleset_id), key=lambda v: v.effective_from)
    if chosen.draw is None:
        raise DrawError.said("'{id}' version {version} is not a draw: it has no draw: block "
                             "(docs/draws.md)", id=ruleset_id, version=chosen.version)
    params = chosen.draw
    date = params["date"]
    if not chosen.in_force_on(date):
        raise DrawError.said("'{id}' version {version} is not in force on its draw date {day}",
                             id=ruleset_id, version=chosen.version, day=str(date))
    return DrawDefinition(chosen, date, params["invitations"], params["validity_days"],
                          params.get("score", "crs"), params["reference"])


# ------------------------------------------------------------------------------------ the pool
@dataclass
class Pool:
    """Candidate profiles to draw from: (position, facts or None, error or None) in order.

    ``sha256`` identifies the content (the bytes of a JSON Lines pool; the stored hash of a stored
    pool): a draw id held over one pool cannot be replayed over another."""

    source: str
    sha256: str
    _entries: Callable[[], Iterator[tuple[int, Any, str | None]]] = field(repr=False)

    def entries(self) -> Iterator[tuple[int, Any, str | None]]:
        return self._entries()

    @classmethod
    def from_file(cls, path: str | Path) -> Pool:
        path = Path(path)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)

        def entries() -> Iterator[tuple[int, Any, str | None]]:
            with path.open("rb") as fh:
                yield from parse_lines(fh)

        return cls(path.name, digest.hexdigest(), entries)

    @classmethod
    def from_bytes(cls, body: bytes, source: str = "request body") -> Pool:
        return cls(source, hashlib.sha256(body).hexdigest(),
                   lambda: parse_lines(body.splitlines()))

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], source: str = "records") -> Pool:
        body = b"".join(orjson.dumps(r) + b"\n" for r in records)
        return cls.from_bytes(body, source)

    @classmethod
    def from_store(cls, store: Store, pool_id: str) -> Pool:

        info = draw_store.pool_info(store, pool_id)
        if info is None:
            raise PoolNotFoundError.said("no stored pool '{id}'", id=pool_id)

        def entries() -> Iterator[tuple[int, Any, str | None]]:
            for position, text in draw_store.iter_pool(store, pool_id):
                yield _parse(position, text)

        return cls(f"pool:{pool_id}", info["sha256"], entries)


def parse_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, Any, str | None]]:
    """JSON Lines: one candidate profile (an object) per line; blank lines are skipped but
    counted, so that a position is the line number."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield _parse(number, line)


def _parse(position: int, text: bytes | str) -> tuple[int, Any, str | None]:
    try:
        facts = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return position, None, f"line {position} is not valid JSON: {exc}"
    if not isinstance(facts, dict):
        return position, None, f"line {position} is not a JSON object"
    return position, facts, None


# ------------------------------------------------------------------------------- explanations
def blame(decision: Mapping[str, Any], catalog: Catalog | None = None
          ) -> tuple[list[str], list[dict]]:
    """Why a candidate does not meet the draw: the draw ruleset's own failed requirements, and
    the requirements that explain them, followed through ``ALIAS.met`` into included rulesets
    down to the ones that fail on the candidate's own facts (the leaves), each with its why-not
    in words (written here, from the versions of ``catalog``: the draw's record keeps them)."""
    because = why_nots(decision, catalog_texts(catalog) if catalog is not None else NO_TEXTS)
    failed: dict[str, list[dict]] = {}
    for req in decision["requirements"]:
        if not req["met"]:
            failed.setdefault(req["ruleset"], []).append(req)
    by_alias = {r.get("as"): r["id"] for r in decision["rulesets"]}
    top = decision["ruleset"]
    leaves: list[dict] = []
    seen: set[tuple[str, str]] = set()

    def walk(ruleset_id: str, path: tuple[str, ...], visiting: frozenset) -> None:
        for req in failed.get(ruleset_id, []):
            below = [by_alias[name[:-4]] for name, value in (req.get("matched") or {}).items()
                     if name.endswith(".met") and value is False and name[:-4] in by_alias
                     and by_alias[name[:-4]] not in visiting]
            here = path + (req["rule"],)
            if below:
                for sub in below:
                    walk(sub, here, visiting | {sub})
            elif (req["ruleset"], req["rule"]) not in seen:
                seen.add((req["ruleset"], req["rule"]))
                leaves.append({"ruleset": req["ruleset"], "rule": req["rule"],
                               "path": list(here),
                               "because": req.get("because") or because.get(
                                   (req["ruleset"], req["rule"]))})

    walk(top, (), frozenset({top}))
    return [r["rule"] for r in failed.get(top, [])], leaves


def _moment(text: str | None) -> Callable[[str], str]:
    """An ISO 8601 UTC time (as the draw keeps it) in words, for ``both``: the day as each
    language writes it (i18n.moment_words)."""
    if text is None:
        return lambda lang: gettext(lang, "not given")
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return lambda lang: moment_words(moment, lang)


def _submitted(facts: Mapping[str, Any]) -> tuple[str | None, int]:
    """The submission time as UTC ISO 8601 text and as microseconds (for ranking)."""
    raw = facts.get("profile_submitted_at")
    if not isinstance(raw, str):
        return None, _NO_TIME
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None, _NO_TIME
    if moment.tzinfo is None:
        return None, _NO_TIME
    moment = moment.astimezone(dt.UTC)
    micros = (moment - _EPOCH) // dt.timedelta(microseconds=1)
    return moment.isoformat().replace("+00:00", "Z"), micros


# ---------------------------------------------------------------------------------- holding it
@dataclass
class _Eligible:
    score: int
    micros: int
    position: int
    candidate_id: str | None
    submitted: str | None

    def order(self) -> tuple:
        return (-self.score, self.micros, self.position)


@dataclass
class _Run:
    """What assessing the pool leaves behind: small records, not explanations."""

    counts: Counter = field(default_factory=Counter)
    by_requirement: Counter = field(default_factory=Counter)
    by_reason: Counter = field(default_factory=Counter)
    eligible: list[_Eligible] = field(default_factory=list)
    # the current first N: a min-heap on (score, -time, -position) -> the worst is on top
    top: list[tuple] = field(default_factory=list)
    # position -> (decision id, decision JSON, facts JSON), compressed (about 9 KB, not 150 KB)
    kept: dict[int, tuple[str, bytes, bytes]] = field(default_factory=dict)
    rulesets: list[dict] | None = None
    retried_chunks: int = 0  # batches run again after a lost worker or engine (a Dask cluster)
    others: Any = None  # temporary file of the other candidates' records, in position order
    results: Any = None  # temporary file of every candidate's record, in position order


def run_draw(catalog: Catalog, deciders: Sequence[Any], ruleset_id: str, pool: Pool, *,
             draw_id: str | None = None, version: str | None = None,
             store: Store | None = None, caller: str | None = None,
             request_id: str | None = None, batch_size: int = BATCH_SIZE,
             progress: Callable[[int], None] | None = None,
             on_candidate: Callable[[dict], None] | None = None) -> dict:
    """Hold a draw (or return the draw already held under ``draw_id``).

    Returns the draw: its summary, ``invitations`` (each with rank, expiry and the decision id of
    its explanation in the decision log), ``replayed`` (True when the draw id was held before)
    and ``recorded``. Without a ``store`` nothing is recorded and nothing is idempotent.
    ``on_candidate`` is given every candidate's record (status, score, rank, why), in pool
    order, as the draw is recorded; ``progress`` the number of candidates decided so far."""
    spec = definition(catalog, ruleset_id, version)
    draw_id = draw_id or default_draw_id(ruleset_id, pool.sha256)
    if not re.match(DRAW_ID_PATTERN, draw_id):
        raise DrawError.said("draw id '{id}': letters, digits and . _ - only, at most 128",
                             id=draw_id)
    if store is not None:

        first = draw_store.load_draw(store, draw_id)
        if first is not None:
            return _replayed(store, first, spec, pool)

    run = _assess(spec, deciders, pool, batch_size, progress)
    try:
        summary, invitations, logged, rows = _rank(spec, run, draw_id, pool, caller, request_id)
        if on_candidate is not None:
            rows = _tee(rows, on_candidate)
        if store is None:
            for _ in rows:
                pass
            return {**summary, "invitations": invitations, "replayed": False,
                    "recorded": False}

        # The invited candidates' decisions go to the decision log, which must keep the ruleset
        # versions they name (their rule texts are there, see decisions.with_texts).
        store.keep_versions(v.kept() for _alias, v in catalog.chain(spec.version, spec.date))
        stored, created = draw_store.record_draw(store, summary, logged, invitations, rows)
    finally:
        run.others.close()
        if run.results is not None:
            run.results.close()
    if not created:
        return _replayed(store, stored, spec, pool)
    return {**stored, "invitations": invitations, "replayed": False, "recorded": True}


def default_draw_id(ruleset_id: str, pool_sha256: str) -> str:
    """The same draw over the same pool gets the same id: holding it twice is idempotent."""
    return f"{ruleset_id}-{pool_sha256[:12]}"


def _replayed(store: Store, first: dict, spec: DrawDefinition, pool: Pool) -> dict:

    held = first["ruleset"]
    if (held["id"], held["version"]) != (spec.ruleset_id, spec.version.version):
        raise DrawConflictError.said("draw '{draw}' was held with {id} version {version}; "
                                     "choose another draw id", draw=first["draw_id"],
                                     id=held["id"], version=held["version"])
    if first["pool"]["sha256"] != pool.sha256:
        raise DrawConflictError.said("draw '{draw}' was held over another pool (sha256 "
                                     "{sha256}...); choose another draw id",
                                     draw=first["draw_id"], sha256=first["pool"]["sha256"][:12])
    return {**first, "invitations": draw_store.all_invitations(store, first["draw_id"]),
            "replayed": True, "recorded": True}


def _batches(pool: Pool, run: _Run, batch_size: int) -> Iterator[list[tuple[int, dict]]]:
    """Candidates to decide, in batches; entries that cannot be decided are settled here."""
    seen: dict[str, int] = {}
    batch: list[tuple[int, dict]] = []
    for position, facts, error in pool.entries():
        run.counts["pool"] += 1
        if error is not None:
            _other(run, position, None, "invalid", {"problem": {
                "title": "Invalid facts", "status": 422, "detail": error}})
            continue
        candidate_id = facts.get("candidate_id")
        if isinstance(candidate_id, str) and CONTROL_CHARACTER.search(candidate_id):
            # That candidate's own status, not a failed draw: the id is not recorded (PostgreSQL
            # text cannot hold NUL, and a page or a log would show it badly; issue 17, item 3).
            _other(run, position, None, "invalid", {"problem": {
                "title": "Invalid facts", "status": 422,
                "detail": f"candidate_id: {CONTROL_MESSAGE}",
                "errors": {"candidate_id": [CONTROL_MESSAGE]}}})
            continue
        if isinstance(candidate_id, str) and candidate_id in seen:
            _other(run, position, candidate_id, "duplicate", {
                "first_position": seen[candidate_id],
                "because": both("candidate {candidate_id} is already in the pool at position "
                                "{first}", candidate_id=candidate_id,
                                first=seen[candidate_id])})
            continue
        if isinstance(candidate_id, str):
            seen[candidate_id] = position
        batch.append((position, facts))
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _assess(spec: DrawDefinition, deciders: Sequence[Any], pool: Pool, batch_size: int,
            progress: Callable[[int], None] | None) -> _Run:
    if not deciders:
        raise DrawError("no decider to assess the pool with")
    run = _Run(others=tempfile.TemporaryFile())
    request = (spec.ruleset_id, spec.date, {spec.ruleset_id: spec.version.version})
    free: Queue = Queue()
    for decider in deciders:
        free.put(decider)

    reduce = functools.partial(draw_view, score=spec.score)

    def decide(batch: list[tuple[int, dict]]) -> list:
        decider = free.get()
        try:
            items = [(request[0], facts, request[1], request[2]) for _, facts in batch]
            try:
                return decider.decide_many(items, reduce)
            except EngineUnavailableError:
                # One candidate of the batch crashed the engine (it has been restarted): decide
                # them one by one, so that only that candidate fails.
                out = []
                for item in items:
                    try:
                        out.extend(decider.decide_many([item], reduce))
                    except EngineUnavailableError as exc:
                        out.append(exc)
                return out
        finally:
            free.put(decider)

    in_flight: deque[tuple[list, Future]] = deque()
    done = 0
    with ThreadPoolExecutor(max_workers=len(deciders), thread_name_prefix="draw") as executor:
        try:
            for batch in _batches(pool, run, batch_size):
                in_flight.append((batch, executor.submit(decide, batch)))
                while len(in_flight) >= 2 * len(deciders):
                    done += _settle(spec, run, *in_flight.popleft())
                    if progress:
                        progress(done)
            while in_flight:
                done += _settle(spec, run, *in_flight.popleft())
                if progress:
                    progress(done)
        except BaseException:
            for _, future in in_flight:
                future.cancel()
            # Batches already out on other machines (a Dask cluster) are dropped too, so that
            # Ctrl-C does not wait for them; nothing has been recorded yet.
            for decider in {id(d): d for d in deciders}.values():
                decider.cancel()
            run.others.close()
            raise
    run.others.seek(0)
    run.retried_chunks = sum(d.retried_chunks for d in {id(d): d for d in deciders}.values())
    return run


def draw_view(decision: Mapping[str, Any], catalog: Catalog, score: str) -> dict:
    """What a draw needs of one decision, made where the decision is made (in the engine
    process): the versions, the score, met or not and, when not, the blame; the whole decision
    only when met (compressed JSON), since only an eligible candidate can be invited and have
    it logged. Most of a pool is not eligible: their explanations (about 19 KB of JSON each) no
    longer cross the pipe to be unpickled and dropped (docs/benchmarks.md, draws)."""
    met = decision["rulesets"][-1]["met"]
    return {
        "rulesets": [{k: r[k] for k in ("id", "version", "sha256")}
                     for r in decision["rulesets"]],
        "score": (decision["scores"].get(score) or {}).get("total"),
        "met": met,
        "blame": None if met else blame(decision, catalog),
        "decision_id": decision["decision_id"],
        "decision": zlib.compress(orjson.dumps(decision), 1) if met else None,
    }


def _settle(spec: DrawDefinition, run: _Run, batch: list, future: Future) -> int:
    """Reduce one batch of decisions (as ``draw_view`` gives them) to records, in pool order."""
    for (position, facts), result in zip(batch, future.result(), strict=True):
        candidate_id = facts.get("candidate_id") if isinstance(
            facts.get("candidate_id"), str) else None
        if isinstance(result, DecisionError):
            status = "invalid" if isinstance(result, FactsError) else "error"
            _other(run, position, candidate_id, status, {"problem": result.problem()})
            continue
        run.counts["assessed"] += 1
        if run.rulesets is None:
            run.rulesets = result["rulesets"]
        score = result["score"]
        submitted, micros = _submitted(facts)
        if result["met"]:
            if score is None:
                raise DrawError(f"'{spec.ruleset_id}' gives no '{spec.score}' score to rank by: "
                                f"include the ruleset that computes it")
            run.counts["eligible"] += 1
            entry = _Eligible(score, micros, position, candidate_id, submitted)
            run.eligible.append(entry)
            _keep_if_in_top(spec, run, entry, result, facts)
            continue
        failed, leaves = result["blame"]
        run.counts["ineligible"] += 1
        run.by_requirement.update(failed)
        run.by_reason.update(f"{leaf['ruleset']}:{leaf['rule']}" for leaf in leaves)
        _other(run, position, candidate_id, "ineligible",
               {"failed": failed, "requirements": leaves}, score=score, submitted=submitted)
    return len(batch)


def _keep_if_in_top(spec: DrawDefinition, run: _Run, entry: _Eligible, view: dict,
                    facts: dict) -> None:
    key = (entry.score, -entry.micros, -entry.position)
    if len(run.top) < spec.invitations:
        heapq.heappush(run.top, key)
    elif key > run.top[0]:
        evicted = heapq.heapreplace(run.top, key)
        run.kept.pop(-evicted[2], None)
    else:
        return
    run.kept[entry.position] = (view["decision_id"], view["decision"],
                                zlib.compress(orjson.dumps(facts), 1))


def _other(run: _Run, position: int, candidate_id: str | None, status: str, detail: dict,
           score: int | None = None, submitted: str | None = None) -> None:
    if status != "ineligible":
        run.counts[status] += 1
    run.others.write(orjson.dumps({
        "position": position, "candidate_id": candidate_id, "status": status, "score": score,
        "rank": None, "profile_submitted_at": submitted, "detail": detail}) + b"\n")


def _rank(spec: DrawDefinition, run: _Run, draw_id: str, pool: Pool, caller: str | None,
          request_id: str | None) -> tuple[dict, list[dict], Iterator[NewDecision],
                                          Iterator[dict]]:
    """Rank the eligible candidates, invite the first N; the summary, the invitations, their
    logged decisions, and every candidate's record in pool order (hashed into the summary's
    ``results_sha256``)."""
    ranked = sorted(run.eligible, key=_Eligible.order)
    invited, rest = ranked[:spec.invitations], ranked[spec.invitations:]
    expires = spec.expires_on.isoformat()
    cutoff = None
    if invited:
        last = invited[-1]
        cutoff = {"score": last.score, "rank": len(invited), "tie_break_at": last.submitted,
                  "tie_break_applied": any(r.score == last.score for r in rest)}
    invitations = [{"rank": rank, "candidate_id": entry.candidate_id or "",
                    "position": entry.position, "score": entry.score,
                    "profile_submitted_at": entry.submitted, "expires_on": expires,
                    "decision_id": run.kept[entry.position][0]}
                   for rank, entry in enumerate(invited, start=1)]

    def logged() -> Iterator[NewDecision]:  # one at a time: a decision is ~150 KB in memory
        for rank, entry in enumerate(invited, start=1):
            _, decision, facts = run.kept.pop(entry.position)
            yield NewDecision(orjson.loads(zlib.decompress(decision)),
                              orjson.loads(zlib.decompress(facts)),
                              request_id=f"draw:{draw_id}/{rank}", caller=caller)

    below = sum(1 for r in rest if r.score < cutoff["score"]) if cutoff else 0
    counts = {
        "pool": run.counts["pool"], "assessed": run.counts["assessed"],
        "eligible": run.counts["eligible"], "invited": len(invited),
        "below_cutoff": below, "tie_break": len(rest) - below,
        "ineligible": run.counts["ineligible"], "invalid": run.counts["invalid"],
        "duplicate": run.counts["duplicate"], "error": run.counts["error"],
        "ineligible_by_requirement": dict(sorted(run.by_requirement.items())),
        "ineligible_by_reason": dict(run.by_reason.most_common()),
    }
    held_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    summary = {
        "draw_id": draw_id, "ruleset": spec.version.ref(), "title": spec.version.title,
        "reference": spec.reference, "draw_date": spec.date.isoformat(), "held_at": held_at,
        "caller": caller, "request_id": request_id, "score": spec.score,
        "invitations_planned": spec.invitations, "validity_days": spec.validity_days,
        "expires_on": expires, "pool": {"size": run.counts["pool"], "sha256": pool.sha256,
                                        "source": pool.source},
        "rulesets": run.rulesets or [], "counts": counts, "cutoff": cutoff,
        "results_sha256": None, "retried_chunks": run.retried_chunks,
    }
    published = (spec.version.draw or {}).get("published")
    if published:  # a round the government held: what it published, beside what was found here
        summary["published"] = published
    summary["results_sha256"], run.results = _records(run, ranked, cutoff, invitations)
    return summary, invitations, logged(), _lines(run.results)


def _records(run: _Run, ranked: list[_Eligible], cutoff: dict | None,
             invitations: list[dict]) -> tuple[str, Any]:
    """Every candidate's record in pool order (the others, from the temporary file, merged with
    the eligible ones), written to a new temporary file; returns its sha256 and the file."""
    digest = hashlib.sha256()
    by_position = {inv["position"]: inv for inv in invitations}

    def eligible_records() -> Iterator[dict]:
        ranks = {e.position: rank for rank, e in enumerate(ranked, start=1)}
        for entry in sorted(ranked, key=lambda e: e.position):
            rank = ranks[entry.position]
            invitation = by_position.get(entry.position)
            if invitation is not None:
                status = "invited"
                detail: dict = {"decision_id": invitation["decision_id"],
                                "expires_on": invitation["expires_on"]}
            elif entry.score < cutoff["score"]:
                status = "below_cutoff"
                detail = {"cutoff": cutoff["score"], "because": both(
                    "{score} points is below the cutoff of {cutoff} points",
                    score=entry.score, cutoff=cutoff["score"])}
            else:
                status = "tie_break"
                detail = {"cutoff": cutoff["score"], "tie_break_at": cutoff["tie_break_at"],
                          "because": both(
                              "{score} points equals the cutoff, but the profile was submitted "
                              "on {submitted}, after the tie-break time, {tie_break}",
                              score=entry.score, submitted=_moment(entry.submitted),
                              tie_break=_moment(cutoff["tie_break_at"]))}
            yield {"position": entry.position, "candidate_id": entry.candidate_id,
                   "status": status, "score": entry.score, "rank": rank,
                   "profile_submitted_at": entry.submitted, "detail": detail}

    def others() -> Iterator[dict]:
        for line in run.others:
            yield orjson.loads(line)

    out = tempfile.TemporaryFile()
    for record in heapq.merge(others(), eligible_records(), key=lambda r: r["position"]):
        line = canonical_json(record).encode()
        digest.update(line + b"\n")
        out.write(line + b"\n")
    out.seek(0)
    return digest.hexdigest(), out


def _tee(rows: Iterator[dict], sink: Callable[[dict], None]) -> Iterator[dict]:
    for row in rows:
        sink(row)
        yield row


def _lines(file: Any) -> Iterator[dict]:
    for line in file:
        yield orjson.loads(line)


__all__ = ["run_draw", "definition", "DrawDefinition", "Pool", "blame", "default_draw_id",
           "DrawError", "DrawConflictError", "DrawNotFoundError", "PoolNotFoundError",
           "STATUSES"]
