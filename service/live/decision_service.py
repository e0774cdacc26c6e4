"""What the HTTP views and the pages call: decide and log, read and replay logged decisions,
reload the rulesets, readiness.

It joins the core (rulesets, engine, decisions) to the decision log and knows nothing of HTTP, so
the views stay thin and the CLI could use it too. No Flask here.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..checks import check_rulesets
from ..config import DEFAULT_ENGINE_TIMEOUT
from ..decisions import (
    InlineDecider,
    Limits,
    ProcessDecider,
    TextSource,
    what_would_change,
    with_texts,
    without_texts,
)
from ..engine import load_compiled
from ..errors import DecisionError, EngineUnavailableError, UnknownRulesetError
from ..i18n import LANGUAGES
from ..rulesets import Catalog, RulesetVersion, kept_version, load_catalog
from ..rulesets.snapshots import RulesetSnapshots
from ..store import (
    IdempotencyKey,
    IdempotencyKeyTaken,
    NewDecision,
    Record,
    Store,
    StoreUnavailableError,
)

# Set by `decisions serve` in the gunicorn master: a reload there restarts every worker, so no
# worker keeps answering with the old rulesets.
MASTER_PID_ENV = "DECISIONS_GUNICORN_MASTER_PID"
IGNORED_IN_REPLAY = ("decision_id", "decided_at")


def _compared(decision: Mapping[str, Any]) -> dict:
    """What a replay compares: the decision without its rule texts and without the sentences
    of its why-nots (which a decision logged before they were left to the version holds). The
    why-not trees (which parts failed, with which values) are compared; the sentences are how
    this server words them, and improve without the decision changing."""
    out = {k: v for k, v in without_texts(decision).items() if k not in IGNORED_IN_REPLAY}
    # ``met_by`` (the alternatives met, of a ruleset met when any is) repeats what the
    # requirements, compared, say; decisions logged before it was added have none.
    out["rulesets"] = [{k: v for k, v in r.items() if k != "met_by"} for r in out["rulesets"]]
    return out


class DecisionNotFoundError(DecisionError):
    status = 404
    title = "Unknown decision"


class IdempotencyKeyReusedError(DecisionError):
    status = 422
    title = "Idempotency-Key used for another request"


class ReplayUnavailableError(DecisionError):
    status = 409
    title = "Cannot replay"


class ReloadRemovesError(DecisionError):
    """A reload that would take rulesets in use out of service (or leave none) without being
    asked to by name: an emptied or half-copied folder must not silently turn every decision
    into a 404 (issue 17, item 1)."""

    status = 409
    title = "The reload would remove rulesets"


def removal_refused(in_use: Iterable[str], loaded: Iterable[str],
                    remove: Collection[str] | None) -> ReloadRemovesError | None:
    """Why a reload from the rulesets ``in_use`` to those ``loaded`` is refused, or None: it is
    refused when it would remove a ruleset in use unless ``remove`` names exactly the rulesets
    that go, and always when it would leave none (then nothing could be decided)."""
    in_use, loaded = set(in_use), set(loaded)
    gone, named = sorted(in_use - loaded), sorted(set(remove or ()))
    if not loaded and not gone:
        return ReloadRemovesError("the ruleset folder holds no ruleset: nothing could be "
                                  "decided after this reload", removed=[])
    if gone == named:
        return None
    if not gone:
        return ReloadRemovesError(f"remove names {', '.join(named)}, but this reload removes no "
                                  "ruleset: reload without remove", removed=[])
    what = f"{len(gone)} ruleset{'s' if len(gone) > 1 else ''} in use" + \
        (", every one" if not loaded else "")
    asked = f" (remove named {', '.join(named)})" if named else ""
    return ReloadRemovesError(
        f"the ruleset folder no longer has {what}: {', '.join(gone)}{asked}. If they are "
        f"meant to go, reload with remove={','.join(gone)}", removed=gone)


@dataclass(frozen=True)
class DecisionRequest:
    ruleset: str
    facts: Mapping[str, Any]
    as_of: dt.date | None = None
    request_id: str | None = None  # logged with the decision: the HTTP request (and item)


@dataclass(frozen=True)
class Rules:
    """The catalog and the decider built from it: swapped together, never one without the
    other."""

    catalog: Catalog
    decider: InlineDecider | ProcessDecider

    @classmethod
    def load(cls, directory: str, isolated: bool = True,
             engine_timeout: float = DEFAULT_ENGINE_TIMEOUT) -> Rules:
        """Load and validate every ruleset (RulesetError lists every problem), then start the
        decider: a supervised engine process when ``isolated`` (an engine crash or hang then
        costs one request, 503, after at most ``engine_timeout`` seconds), else the engine in
        this process (tests, tools)."""
        if isolated:
            catalog = load_catalog(directory)
            return cls(catalog, ProcessDecider(catalog, directory, timeout=engine_timeout))
        catalog, engine = load_compiled(directory)
        return cls(catalog, InlineDecider(catalog, engine))


class DecisionService:
    def __init__(self, rules: Rules, store: Store, rulesets_dir: str, isolated: bool = True,
                 snapshots: RulesetSnapshots | None = None,
                 engine_timeout: float = DEFAULT_ENGINE_TIMEOUT,
                 what_would_change_limits: Limits | None = None):
        self.rules = rules
        self.what_would_change_limits = what_would_change_limits or Limits()
        self.store = store
        self.rulesets_dir = rulesets_dir
        self.isolated = isolated
        self.engine_timeout = engine_timeout
        self.snapshots = snapshots
        self._reload_lock = threading.Lock()
        self._kept: dict[str, RulesetVersion | None] = {}  # by sha256; kept never change

    # -- deciding
    def decide(self, requests: Sequence[DecisionRequest], caller: str | None,
               idempotency: IdempotencyKey | None = None) -> list[dict | DecisionError]:
        """Decide each request; log every decision, committed, before returning any of them.

        A request that cannot be decided gets its DecisionError in its place. When the log
        cannot be written, StoreUnavailableError is raised and no decision is given at all.
        ``idempotency``: see ``decide_once``."""
        rules = self.rules  # one snapshot for the whole batch, even if a reload swaps it
        results = rules.decider.decide_many(
            (r.ruleset, r.facts, r.as_of, None) for r in requests)
        logged = [NewDecision(result, request.facts, request.request_id, caller)
                  for request, result in zip(requests, results, strict=True)
                  if not isinstance(result, DecisionError)]
        # The log keeps, in the transaction of the append, every version these decisions name
        # that it does not hold yet (after a database was recreated, even those it held).
        self.store.append(logged, used_versions(rules.catalog, logged),
                          idempotency if logged else None)
        return results

    def decide_once(self, request: DecisionRequest, idempotency: IdempotencyKey
                    ) -> tuple[dict | DecisionError, bool]:
        """Decide a request sent with an idempotency key: (the result, whether it is the
        decision given earlier for this caller's key).

        The first time, the key is logged with the decision, in its transaction. Sent again
        with the same request, the logged decision is the answer and nothing is written; with
        another request, IdempotencyKeyReusedError. A request that was not decided (its
        DecisionError) does not use its key up."""
        first = self.store.idempotent(idempotency.caller, idempotency.key)
        if first is None:
            try:
                [result] = self.decide([request], idempotency.caller, idempotency)
                return result, False
            except IdempotencyKeyTaken as taken:  # the same request, sent twice at once
                first = (taken.decision_id, taken.request_sha256)
        decision_id, request_sha256 = first
        if request_sha256 != idempotency.request_sha256:
            raise IdempotencyKeyReusedError.said(
                "the Idempotency-Key '{key}' was used for another request (decision "
                "{decision}): use a new key for a new request", key=idempotency.key,
                decision=decision_id)
        return orjson.loads(self.record(decision_id).decision), True

    def what_would_change(self, request: DecisionRequest) -> dict:
        """The smallest declared changes of the request's facts that change its outcome, each
        decided through the engine (decisions.what_would_change), within the configured limits.

        Nothing is logged: none of the profiles decided is the candidate's, and the log is for
        decisions about candidates (docs/api.md)."""
        rules = self.rules  # one snapshot, even if a reload swaps it meanwhile
        return what_would_change(rules.catalog, rules.decider, request.ruleset, request.facts,
                                 request.as_of, self.what_would_change_limits)

    # -- showing
    @property
    def texts(self) -> TextSource:
        """Where a decision's texts come from: the loaded rulesets, else the content the log
        keeps of every version a logged decision used (verify-log checks it)."""
        return TextSource(self.rules.catalog, self._kept_version)

    def _kept_version(self, sha256: str) -> RulesetVersion | None:
        if sha256 not in self._kept:
            content = self.store.version_contents([sha256]).get(sha256)
            if content is None:
                return None  # not kept yet (never logged): asked again next time
            if len(self._kept) >= 1_000:  # bounded: a page of the log names a few versions
                self._kept.clear()
            self._kept[sha256] = kept_version(content)
        return self._kept[sha256]

    def shown(self, decision: Mapping[str, Any], lang: str | None = None) -> dict:
        """The decision with its rule texts and why-nots in words (decisions.with_texts), in
        ``lang`` only when given, else in both languages."""
        return with_texts(decision, self.texts, (lang,) if lang else LANGUAGES)

    # -- auditing
    def record(self, decision_id: str) -> Record:
        record = self.store.get(decision_id)
        if record is None:
            raise DecisionNotFoundError.said("no decision '{id}' in the log", id=decision_id)
        return record

    def replay(self, decision_id: str) -> dict:
        """Decide the logged facts again with the ruleset versions the decision names."""
        return replay_record(self.rules.decider, self.record(decision_id))

    # -- rulesets
    def reload(self, remove: Collection[str] | None = None) -> tuple[Rules, bool]:
        """Load the ruleset folder again and swap it in whole, only if every file loads and
        every test case passes with every rule covered. Otherwise RulesetError says what is
        wrong and the rules in use stay as they were; so it is with a ruleset that crashes the
        engine while its cases run in a child process (when the engine is isolated). A folder
        that no longer has a ruleset in use is refused too (ReloadRemovesError), unless
        ``remove`` names exactly the rulesets that go; one with no ruleset at all, always.

        Under `decisions serve`, what is checked is a snapshot of the folder, published for the
        workers only once it passed; the gunicorn master is then asked (SIGHUP) to replace
        every worker gracefully, so that all of them answer with the new rules."""
        with self._reload_lock:
            directory = self.snapshots.stage(self.rulesets_dir) if self.snapshots \
                else self.rulesets_dir
            try:
                check_rulesets(directory, self.isolated)
                rules = Rules.load(directory, self.isolated, self.engine_timeout)
                refused = removal_refused(self.rules.catalog.ids(), rules.catalog.ids(), remove)
                if refused:
                    rules.decider.close()
                    raise refused
            except BaseException:
                if self.snapshots:
                    self.snapshots.discard(directory)
                raise
            if self.snapshots:
                self.snapshots.publish(directory)
            old, self.rules = self.rules, rules
            old.decider.close()  # waits for a decision in flight on it
        master = os.environ.get(MASTER_PID_ENV)
        if master and master.isdigit():
            os.kill(int(master), signal.SIGHUP)
            return rules, True
        return rules, False

    # -- operations
    def readiness(self) -> dict[str, str]:
        """Every check with "ok" or what is wrong."""
        checks: dict[str, str] = {}
        versions = sum(len(v) for v in self.rules.catalog.by_id.values())
        checks["rulesets"] = "ok" if versions else "no ruleset loaded"
        try:
            revision, head = self.store.revision(), self.store.head_revision()
            if revision != head:
                checks["database"] = \
                    f"schema at {revision}, expected {head}: run `decisions db upgrade`"
            else:
                # Reachable is not enough: a read-only or deleted log answers reads while
                # every decision fails.
                self.store.check_writable()
                checks["database"] = "ok"
        except StoreUnavailableError as exc:
            checks["database"] = exc.detail
        except Exception as exc:  # any failure to reach the database means not ready
            checks["database"] = f"unreachable ({type(exc).__name__})"
        return checks


def replay_record(decider: Any, record: Record) -> dict:
    """Decide a logged record's facts again with the ruleset versions it names, through
    ``decider`` (the service's, or a worker's on a Dask cluster for a range of the log), and
    say whether the decision is identical. EngineUnavailableError and ReplayUnavailableError (a
    version this decider's rulesets no longer have) are raised; any other failure to decide is
    the outcome ``failed``."""
    decision_id = record.decision_id
    logged = orjson.loads(record.decision)
    used = orjson.loads(record.rulesets)
    outcome: dict[str, Any] = {"decision_id": decision_id, "rulesets": used,
                               "differences": []}
    try:
        pinned = {r["id"]: r["version"] for r in used}
        replayed = decider.decide(record.ruleset_id, orjson.loads(record.facts),
                                  dt.date.fromisoformat(record.as_of), pinned)
    except EngineUnavailableError:
        raise  # 503: the engine restarts; the auditor can simply ask again
    except UnknownRulesetError as exc:
        raise ReplayUnavailableError(f"{exc.detail}: this server no longer has a ruleset "
                                     "version the decision used") from None
    except DecisionError as exc:
        return {**outcome, "result": "failed", "problem": exc.problem()}
    # Rule texts aside: the versions are the same (pinned by sha256), and a decision logged
    # before decisions left them to the version still holds them.
    logged, replayed = _compared(logged), _compared(replayed)
    # Nearly every replay is identical: equal canonical JSON says so (JSON keeps 1, 1.0 and
    # true apart) at a fraction of the cost of the field-by-field walk, kept to name the
    # differences when there are some.
    logged_json, replayed_json = (orjson.dumps(d, option=orjson.OPT_SORT_KEYS)
                                  for d in (logged, replayed))
    differences = [] if logged_json == replayed_json else \
        diff(logged, orjson.loads(replayed_json))  # JSON with JSON (tuples...)
    return {**outcome, "result": "different" if differences else "identical",
            "differences": differences}


def used_versions(catalog: Catalog, logged: Sequence[NewDecision]) -> list[dict[str, Any]]:
    """The rows the log keeps (``RulesetVersion.kept``) of each version the decisions name."""
    named = {r["sha256"] for entry in logged for r in entry.decision["rulesets"]}
    return [version.kept() for sha in sorted(named)
            if (version := catalog.by_sha256(sha)) is not None]


def version_status(catalog: Catalog, version: RulesetVersion, today: dt.date) -> str:
    if catalog.corrected_by(version) is not None:
        return "corrected"
    if version.effective_from > today:
        return "scheduled"
    try:
        if catalog.in_force(version.id, today) is version:
            return "in_force"
    except UnknownRulesetError:
        pass
    if version.effective_to is not None and version.effective_to < today:
        return "expired"
    return "superseded"


def diff(logged: Any, replayed: Any, path: str = "") -> list[dict]:
    """Every place where two JSON values differ, by dotted path (list items as [i])."""
    if isinstance(logged, dict) and isinstance(replayed, dict):
        out = []
        for key in list(logged) + [k for k in replayed if k not in logged]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in replayed:
                out.append({"path": sub, "logged": logged[key], "replayed": None})
            elif key not in logged:
                out.append({"path": sub, "logged": None, "replayed": replayed[key]})
            else:
                out.extend(diff(logged[key], replayed[key], sub))
        return out
    if isinstance(logged, list) and isinstance(replayed, list) and len(logged) == len(replayed):
        out = []
        for i, (a, b) in enumerate(zip(logged, replayed, strict=True)):
            out.extend(diff(a, b, f"{path}[{i}]"))
        return out
    if logged == replayed and type(logged) is type(replayed):
        return []
    return [{"path": path, "logged": logged, "replayed": replayed}]
