"""Drafts of ruleset versions, from the first edit to their publication, four eyes.

A draft starts from the version in force (its whole text copied, with a new version name and
first day) or from scratch, holds the whole text of the ruleset's case file too, and is edited
as text or through form fields (``edits``). Every save is checked (``checking``) and the result
kept with the draft; a draft that does not check is saved but cannot be submitted.

    draft --submit--> submitted --approve--> approved --publish--> published
      ^                  | return                |  refused (base changed, reload refused)
      +-- save ---- returned / refused <---------+

Roles (``auth.ROLES``): ``author`` creates, edits, tries and submits drafts; ``review`` approves
or returns them and publishes approved ones (``admin`` may publish too). The author of a draft
never approves it, whatever roles their token holds. Publishing writes the version file (and the
case file) into the live ruleset folder, then asks the service for its safe reload (every file
loads, every case passes, full coverage); a refused reload puts the folder back as it was, so
nothing broken is ever published. Only then, when the folder is a git repository, the files are
committed with the publisher as author. Every step is in the trail (``store.workbench``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import fcntl
import hashlib
import os
import re
import secrets
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from ..auth import Caller
from ..checks.cases import NAME_MIN
from ..errors import CONTROL_CHARACTER, DecisionError, UnknownRulesetError
from ..live import DecisionService
from ..rulesets import Catalog, parse_yaml
from ..store import canonical_json
from ..store import draws as draw_store
from ..store import workbench as rows
from ..store.workbench import TrailEntry
from . import checking, edits, impact

STATES = ("draft", "submitted", "returned", "approved", "published", "refused")
EDITABLE = ("draft", "returned", "refused")
AUTHOR, REVIEW = "author", "review"
PUBLISHERS = (REVIEW, "admin")
READERS = (AUTHOR, REVIEW, "audit", "admin")
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
PATH_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")


class DraftNotFoundError(DecisionError):
    status = 404
    title = "Unknown draft"


class DraftStateError(DecisionError):
    """The draft is not in a state that allows this step (409)."""

    status = 409
    title = "Not possible in the draft's state"


class FourEyesError(DecisionError):
    status = 403
    title = "Four eyes"


class RoleError(DecisionError):
    status = 403
    title = "Forbidden"


class DraftInvalidError(DecisionError):
    status = 422
    title = "Invalid draft"


class BaseChangedError(DecisionError):
    status = 409
    title = "The version the draft started from changed"


class PublishRefusedError(DecisionError):
    status = 409
    title = "Publication refused"


def needs(caller: Caller, roles: tuple[str, ...]) -> None:
    if not caller.roles.intersection(roles):
        raise RoleError.said("the token '{name}' lacks the role this needs: {roles}",
                             name=caller.name, roles=" / ".join(roles))


def ruleset_sha256(catalog: Catalog, ruleset_id: str) -> str:
    """sha256 of every (version, sha256) of a ruleset: any version added or changed moves it."""
    try:
        versions = [(v.version, v.sha256) for v in catalog.versions(ruleset_id)]
    except UnknownRulesetError:
        versions = []
    return hashlib.sha256(orjson.dumps(versions)).hexdigest()


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def texts_of(draft: Mapping[str, Any]) -> str:
    """What the trail's sha256 covers: the draft's files, by path, as canonical JSON."""
    return canonical_json({"path": draft["path"], "content": draft["content"],
                           "cases_path": draft.get("cases_path"),
                           "cases_content": draft.get("cases_content")})


class Workbench:
    """The workbench over a running DecisionService: its store, its live ruleset folder and its
    safe reload. What the API views and the pages call."""

    def __init__(self, service: DecisionService):
        self.service = service
        self._publishing = threading.Lock()

    @property
    def store(self):
        return self.service.store

    @property
    def live(self) -> Path:
        return Path(self.service.rulesets_dir)

    # -- reading
    def get(self, caller: Caller, draft_id: str) -> dict:
        needs(caller, READERS)
        draft = rows.get_draft(self.store, draft_id)
        if draft is None:
            raise DraftNotFoundError.said("no draft '{id}'", id=draft_id)
        draft["check"] = orjson.loads(draft["check"] or "{}")
        return draft

    def list(self, caller: Caller, states: tuple[str, ...] | None = None) -> list[dict]:
        needs(caller, READERS)
        return rows.list_drafts(self.store, states)

    def trail(self, caller: Caller, draft_id: str | None = None) -> list[dict]:
        needs(caller, ("audit", REVIEW, AUTHOR, "admin") if draft_id else ("audit",))
        return rows.trail(self.store, draft_id)

    # -- creating and editing
    def create(self, caller: Caller, ruleset_id: str, effective_from: dt.date,
               version: str | None = None, reason: str = "", path: str | None = None,
               content: str | None = None) -> dict:
        """A draft of a new version of ``ruleset_id`` from the version in force the day before
        ``effective_from`` (the one it follows), or from scratch when the ruleset does not
        exist: then ``path`` (the folder and file stem, e.g. ``oinp/new-stream``) and
        ``content`` are needed."""
        needs(caller, (AUTHOR,))
        version = version or effective_from.isoformat()
        if not VERSION_PATTERN.match(version):
            raise DraftInvalidError.said("version: letters, digits and . _ - only")
        catalog = self.service.rules.catalog
        now = rows.now()
        row: dict[str, Any] = {
            "draft_id": "d-" + secrets.token_hex(6), "ruleset_id": ruleset_id,
            "version": version, "effective_from": effective_from.isoformat(),
            "author": caller.name, "state": "draft", "checked_ok": False, "check": "{}",
            "created_at": now, "updated_at": now,
            "ruleset_sha256": ruleset_sha256(catalog, ruleset_id)}
        try:
            versions = catalog.versions(ruleset_id)
        except UnknownRulesetError:
            versions = []
        if versions:
            if any(v.version == version for v in versions):
                raise DraftInvalidError.said("version: {ruleset} already has a version {version}",
                                              ruleset=ruleset_id, version=version)
            base = self._base_of(catalog, ruleset_id, effective_from)
            base_file = catalog.root.parent / base.path
            text = base_file.read_text(encoding="utf-8")
            relative = base_file.relative_to(catalog.root)
            stem = str(relative)[:-len(f"-{base.version}.yaml")] \
                if str(relative).endswith(f"-{base.version}.yaml") else str(relative)[:-5]
            row["path"] = f"{stem}-{version}.yaml"
            cases = None
            if base.cases:
                cases = str((base_file.parent / base.cases).relative_to(catalog.root))
            cases_file = self.live / cases if cases else None
            cases_text = cases_file.read_text(encoding="utf-8") \
                if cases_file and cases_file.exists() else None
            content = self._renamed(text, version, effective_from)
            row.update(content=content, cases_path=cases, cases_content=cases_text,
                       base_version=base.version, base_sha256=base.sha256, base_content=text,
                       base_cases_sha256=file_sha256(cases_file) if cases_file else None,
                       base_cases_content=cases_text)
        else:
            if not path or not PATH_PATTERN.match(path):
                raise DraftInvalidError.said("path: a new ruleset needs its folder and file "
                                             "name, e.g. oinp/new-stream (lower case, digits, "
                                             "- and _)")
            if not content:
                raise DraftInvalidError.said("content: a new ruleset needs its text")
            row.update(path=f"{path}-{version}.yaml", content=content,
                       cases_path=f"{path}.cases.yaml", cases_content=None, base_version=None,
                       base_sha256=None, base_content=None, base_cases_sha256=None,
                       base_cases_content=None)
        if (self.live / row["path"]).exists():
            raise DraftInvalidError.said("path: {path} is already in the ruleset folder",
                                          path=row["path"])
        self._checked(row)
        rows.insert_draft(self.store, row, TrailEntry(
            caller.name, "created", reason or (f"from {row['base_version']}"
                                               if row["base_version"] else "from scratch"),
            texts_of(row)))
        return self.get(caller, row["draft_id"])

    @staticmethod
    def _base_of(catalog: Catalog, ruleset_id: str, first_day: dt.date):
        """The version the draft follows: the one in force the day before its first day."""
        try:
            return catalog.in_force(ruleset_id, first_day - dt.timedelta(days=1))
        except UnknownRulesetError:
            return catalog.versions(ruleset_id)[-1]

    @staticmethod
    def _renamed(text: str, version: str, effective_from: dt.date) -> str:
        """The base's text as the new version: its name and first day changed in place."""
        fields = {f.key: f for f in edits.form_fields(text)}
        changes = {}
        if "version" in fields:
            changes["version"] = version
        if "effective.from" in fields:
            changes["effective.from"] = effective_from.isoformat()
        try:
            return edits.apply_edits(text, changes)
        except edits.EditError:
            return text  # the check will name what is off; the author edits it in the text

    def save(self, caller: Caller, draft_id: str, *, content: str | None = None,
             cases_content: str | None = None, form: Mapping[str, str] | None = None,
             reason: str = "") -> dict:
        """Save new texts (or form edits written into the text), check them, record it."""
        needs(caller, (AUTHOR,))
        draft = self.get(caller, draft_id)
        if draft["state"] not in EDITABLE:
            raise DraftStateError.said("a draft in the state '{state}' cannot be edited",
                                        state=draft["state"])
        if draft["author"] != caller.name:
            raise FourEyesError.said("draft {id} is {author}'s: only its author edits it",
                                     id=draft_id, author=draft["author"])
        new = dict(draft)
        if content is not None:
            new["content"] = content
        if cases_content is not None:
            new["cases_content"] = cases_content or None
        if form:
            try:
                new["content"] = edits.apply_edits(new["content"], form)
            except edits.EditError as exc:
                raise DraftInvalidError(f"{exc.key}: {exc.message}",
                                        errors={exc.key: [exc.message]}) from None
        self._follow_names(new)
        self._checked(new)
        changes = {k: new[k] for k in ("content", "cases_content", "version", "path",
                                       "effective_from", "checked_ok", "check")}
        changes["state"] = "draft"
        saved = rows.update_draft(self.store, draft_id, changes, TrailEntry(
            caller.name, "saved", reason, texts_of(new)), EDITABLE)
        if saved is None:
            raise DraftStateError.said("draft {id} moved on meanwhile: reload it", id=draft_id)
        return self.get(caller, draft_id)

    def _follow_names(self, draft: dict) -> None:
        """The version, first day and file name follow the text when it reads."""
        try:
            data, _ = parse_yaml(draft["content"], draft["path"])
        except DecisionError:
            return
        if not isinstance(data, Mapping):
            return
        version = data.get("version")
        if isinstance(version, str) and VERSION_PATTERN.match(version) \
                and version != draft["version"]:
            suffix = f"-{draft['version']}.yaml"
            if draft["path"].endswith(suffix):
                draft["path"] = draft["path"][:-len(suffix)] + f"-{version}.yaml"
            draft["version"] = version
        effective = data.get("effective")
        if isinstance(effective, Mapping) and isinstance(effective.get("from"), str):
            try:
                draft["effective_from"] = dt.date.fromisoformat(effective["from"]).isoformat()
            except ValueError:
                pass

    def _checked(self, draft: dict) -> None:
        result = checking.check_draft(self.live, draft)
        draft["checked_ok"] = bool(result["ok"])
        draft["check"] = orjson.dumps(result).decode()

    def add_case(self, caller: Caller, draft_id: str, name: str | Mapping[str, str],
                 facts: Mapping[str, Any], day: dt.date, expect: Mapping[str, Any],
                 reason: str = "", replaces: int | None = None) -> dict:
        """A profile as a new case of the draft's case file, with the expected values the author
        stated (never the engine's, unless the author confirmed each one). With ``replaces``
        (the index of a case in the file), ``day`` is taken out of that case's days: the case
        keeps its old figures on its old days, the new case states the new ones.

        ``name`` is the sentence in English and French (``{"en": ..., "fr": ...}``), or in
        English only (a text, or ``{"en": ...}``): the French is then left to be written in the
        case file, and the case reads in English on French pages until it is."""
        draft = self.get(caller, draft_id)
        names = case_name_texts(name)
        if not expect:
            raise DraftInvalidError("expect: state at least one expected value",
                                    errors={"expect": ["state at least one expected value"]})
        cases_text = draft.get("cases_content")
        base: Mapping[str, Any] = {}
        if cases_text:
            try:
                data, _ = parse_yaml(cases_text, "cases")
                base = data.get("base") or {} if isinstance(data, Mapping) else {}
            except DecisionError:
                raise DraftInvalidError("cases: the case file does not read as YAML: mend it "
                                        "in the text first") from None
        else:
            cases_text = f"ruleset: {draft['ruleset_id']}\ncases:\n"
        if replaces is not None:
            cases_text = without_day(cases_text, replaces, day)
        block = case_block(names, day, case_facts(base, facts), expect)
        text = cases_text.rstrip("\n") + "\n" + block
        return self.save(caller, draft_id, cases_content=text,
                         reason=reason or f"case added: {names['en']}")

    def cover(self, caller: Caller, draft_id: str) -> dict:
        """Decide the base version's cases on the draft's first day too: the draft's day added
        to every case dated in the base version's period (what the command-line guide does with
        sed). The cases whose figures the draft changes then fail, each naming expected against
        actual: the author states their new figures as new cases (``add_case`` with
        ``replaces``)."""
        draft = self.get(caller, draft_id)
        if not draft.get("cases_content") or not draft.get("base_version"):
            raise DraftInvalidError("the draft has no case file or no base version whose cases "
                                    "could decide it")
        catalog = self.service.rules.catalog
        base = catalog.version(draft["ruleset_id"], draft["base_version"])
        first, last = base.effective_from, dt.date.fromisoformat(draft["effective_from"])
        text = with_day(draft["cases_content"], first, last)
        return self.save(caller, draft_id, cases_content=text,
                         reason=f"cases of {base.version} decided on {last} too")

    def try_profile(self, caller: Caller, draft_id: str, facts: Any, day: dt.date) -> dict:
        needs(caller, (AUTHOR, REVIEW))
        draft = self.get(caller, draft_id)
        return checking.try_profile(self.live, draft, facts, day)

    # -- impact
    def start_impact(self, caller: Caller, draft_id: str, pool: int, logged: int,
                     stored_pool: str | None = None) -> str:
        """Start an impact run (``impact``); reading the log's decisions needs the audit role."""
        needs(caller, (AUTHOR, REVIEW))
        if logged:
            needs(caller, ("audit",))
        draft = self.get(caller, draft_id)
        if stored_pool and CONTROL_CHARACTER.search(stored_pool):  # PostgreSQL's text: no NUL
            raise DraftInvalidError.said("stored_pool: a pool id holds no control character")
        if stored_pool:
            info = draw_store.pool_info(self.store, stored_pool)
            if info is None:
                raise DraftInvalidError.said("stored_pool: no stored pool '{id}'", id=stored_pool)
            if info["size"] > impact.MAX_POOL:
                raise DraftInvalidError.said(
                    "stored_pool: pool '{id}' has {size} candidates; an impact run decides at "
                    "most {most}: compare over its JSON Lines with `decisions diff --cases`",
                    id=stored_pool, size=info["size"], most=impact.MAX_POOL)
        if draft.get("base_version") is None:
            raise DraftStateError.said("a draft started from scratch has no version to compare "
                                       "with")
        return impact.start(self.store, str(self.live), draft, caller.name, pool, logged,
                            stored_pool=stored_pool)

    def impact_run(self, caller: Caller, draft_id: str, run_id: str) -> dict:
        self.get(caller, draft_id)
        run = rows.get_impact(self.store, run_id)
        if run is None or run["draft_id"] != draft_id:
            raise DraftNotFoundError.said("no impact run '{run}' of draft {id}", run=run_id,
                                           id=draft_id)
        return run

    def impact_runs(self, caller: Caller, draft_id: str) -> list[dict]:
        self.get(caller, draft_id)
        return rows.impact_runs(self.store, draft_id)

    # -- review
    def submit(self, caller: Caller, draft_id: str, reason: str) -> dict:
        needs(caller, (AUTHOR,))
        draft = self.get(caller, draft_id)
        if draft["author"] != caller.name:
            raise FourEyesError.said("draft {id} is {author}'s: only its author submits it",
                                     id=draft_id, author=draft["author"])
        if not reason.strip():
            raise DraftInvalidError("reason: say why this change is made",
                                    errors={"reason": ["say why this change is made"]})
        if draft["state"] not in EDITABLE:
            raise DraftStateError.said("a draft in the state '{state}' cannot be submitted",
                                        state=draft["state"])
        if not draft["checked_ok"]:
            raise DraftStateError.said("the draft does not check: mend what its check reports "
                                       "(problems, failed cases, rules no case fires), then "
                                       "submit")
        return self._move(caller, draft, "submitted", "submitted", reason, EDITABLE)

    def review(self, caller: Caller, draft_id: str, approve: bool, comment: str) -> dict:
        needs(caller, (REVIEW,))
        draft = self.get(caller, draft_id)
        if draft["author"] == caller.name:
            raise FourEyesError.said("the author of a draft never reviews it: another person "
                                     "with the review role does")
        if draft["state"] != "submitted":
            raise DraftStateError.said("a draft in the state '{state}' is not waiting for review",
                                        state=draft["state"])
        if not approve and not comment.strip():
            raise DraftInvalidError("comment: say what the author should change",
                                    errors={"comment": ["say what the author should change"]})
        if approve and not draft["checked_ok"]:
            raise DraftStateError.said("the draft does not check: return it")
        return self._move(caller, draft, "approved" if approve else "returned",
                          "approved" if approve else "returned", comment, ("submitted",))

    def _move(self, caller: Caller, draft: dict, state: str, action: str, reason: str,
              expected: tuple[str, ...]) -> dict:
        moved = rows.update_draft(self.store, draft["draft_id"], {"state": state}, TrailEntry(
            caller.name, action, reason.strip(), texts_of(draft)), expected)
        if moved is None:
            raise DraftStateError.said("draft {id} moved on meanwhile: reload it",
                                        id=draft["draft_id"])
        return self.get(caller, draft["draft_id"])

    # -- bringing up to date
    def base_changes(self, draft: Mapping[str, Any]) -> list[str]:
        """Why the draft is not up to date with the live folder (empty: it is)."""
        out = []
        catalog = self.service.rules.catalog
        if ruleset_sha256(catalog, draft["ruleset_id"]) != draft["ruleset_sha256"]:
            out.append(f"the versions of {draft['ruleset_id']} changed since the draft started "
                       f"(from {draft['base_version'] or 'scratch'})")
        if draft.get("cases_path") and file_sha256(self.live / draft["cases_path"]) \
                != draft["base_cases_sha256"]:
            out.append(f"the case file {draft['cases_path']} changed since the draft started")
        return out

    def bring_up_to_date(self, caller: Caller, draft_id: str) -> dict:
        """Merge the draft's changes onto what is live now (three-way, as git merges): the
        version in force today becomes the base, the case file its current text. Where both
        changed the same lines, conflict markers stay in the text and the check fails until
        the author resolves them."""
        needs(caller, (AUTHOR,))
        draft = self.get(caller, draft_id)
        if draft["author"] != caller.name:
            raise FourEyesError.said("draft {id} is {author}'s", id=draft_id,
                                     author=draft["author"])
        if draft["state"] not in EDITABLE:
            raise DraftStateError.said("a draft in the state '{state}' cannot be edited",
                                        state=draft["state"])
        catalog = self.service.rules.catalog
        new = dict(draft)
        try:
            base = self._base_of(catalog, draft["ruleset_id"],
                                 dt.date.fromisoformat(draft["effective_from"]))
        except UnknownRulesetError:
            base = None
        if base is not None and draft["base_content"] is not None:
            base_text = (catalog.root.parent / base.path).read_text(encoding="utf-8")
            # Both sides named as the draft first: its name and first day are not a conflict.
            day = dt.date.fromisoformat(draft["effective_from"])
            new["content"] = merge3(draft["content"],
                                    self._renamed(draft["base_content"], draft["version"], day),
                                    self._renamed(base_text, draft["version"], day))
            new.update(base_version=base.version, base_sha256=base.sha256,
                       base_content=base_text)
        if draft.get("cases_path"):
            cases_file = self.live / draft["cases_path"]
            live_cases = cases_file.read_text(encoding="utf-8") if cases_file.exists() else None
            if draft["cases_content"] is not None and live_cases is not None:
                new["cases_content"] = merge3(draft["cases_content"],
                                              draft["base_cases_content"] or "", live_cases)
            new.update(base_cases_sha256=file_sha256(cases_file),
                       base_cases_content=live_cases)
        new["ruleset_sha256"] = ruleset_sha256(catalog, draft["ruleset_id"])
        self._checked(new)
        keys = ("content", "cases_content", "base_version", "base_sha256", "base_content",
                "base_cases_sha256", "base_cases_content", "ruleset_sha256", "checked_ok",
                "check")
        saved = rows.update_draft(self.store, draft_id, {k: new[k] for k in keys} | {
            "state": "draft"}, TrailEntry(caller.name, "brought up to date",
                                          f"onto {new['base_version'] or 'scratch'}",
                                          texts_of(new)), EDITABLE)
        if saved is None:
            raise DraftStateError.said("draft {id} moved on meanwhile: reload it", id=draft_id)
        return self.get(caller, draft_id)

    # -- publishing
    def publish(self, caller: Caller, draft_id: str, reason: str = "") -> dict:
        """Write the approved draft into the live folder and have the safe reload take it; a
        refusal (base changed, reload refused) is recorded and leaves the folder as it was."""
        needs(caller, PUBLISHERS)
        with self._publishing, _folder_lock(self.live):
            draft = self.get(caller, draft_id)
            if draft["state"] != "approved":
                raise DraftStateError.said("a draft in the state '{state}' cannot be published: "
                                           "it must be approved first", state=draft["state"])
            changed = self.base_changes(draft)
            if changed:
                self._refuse(caller, draft, "; ".join(changed) + ": bring it up to date first")
                raise BaseChangedError("; ".join(changed) + ": the author brings the draft up "
                                       "to date, then it is checked and reviewed again")
            target = self.live / draft["path"]
            if target.exists():
                self._refuse(caller, draft, f"{draft['path']} is already in the folder")
                raise PublishRefusedError.said("{path} is already in the ruleset folder",
                                                path=draft["path"])
            cases = self.live / draft["cases_path"] if draft.get("cases_path") else None
            cases_before = cases.read_bytes() if cases is not None and cases.exists() else None
            written = [target]
            _write(target, draft["content"])
            if cases is not None and draft.get("cases_content") is not None:
                _write(cases, draft["cases_content"])
                written.append(cases)
            try:
                self.service.reload()
            except DecisionError as exc:
                target.unlink(missing_ok=True)
                if cases is not None:
                    if cases_before is None:
                        cases.unlink(missing_ok=True)
                    else:
                        _write_bytes(cases, cases_before)
                self._refuse(caller, draft, f"the reload refused it: {exc.detail}")
                raise PublishRefusedError(f"the service refused the new rulesets, and the "
                                          f"folder is as it was: {exc.detail}") from None
            commit = git_commit(self.live, written, caller.name,
                                f"{draft['ruleset_id']} {draft['version']}: "
                                f"{reason or 'published from the workbench'}\n\n"
                                f"Draft {draft_id} by {draft['author']}, approved in the "
                                "workbench.")
            note = reason or "published"
            if commit:
                note += f" ({commit})"
            return self._move(caller, draft, "published", "published", note, ("approved",))

    def _refuse(self, caller: Caller, draft: dict, why: str) -> None:
        rows.update_draft(self.store, draft["draft_id"], {"state": "refused"}, TrailEntry(
            caller.name, "refused", why, texts_of(draft)))

    # -- reading for review
    @staticmethod
    def diff(draft: Mapping[str, Any]) -> dict[str, str]:
        """The text diff against the base (the version file and the case file)."""
        def unified(old: str | None, new: str | None, name_old: str, name_new: str) -> str:
            return "".join(difflib.unified_diff((old or "").splitlines(True),
                                                (new or "").splitlines(True), name_old,
                                                name_new, n=3))
        base_name = draft["path"].replace(f"-{draft['version']}.yaml",
                                          f"-{draft['base_version']}.yaml") \
            if draft.get("base_version") else "/dev/null"
        return {"file": unified(draft.get("base_content"), draft["content"], base_name,
                                draft["path"]),
                "cases": unified(draft.get("base_cases_content"), draft.get("cases_content"),
                                 draft.get("cases_path") or "", draft.get("cases_path") or "")}


def new_ruleset_text(ruleset_id: str, version: str, effective_from: dt.date,
                     title: Mapping[str, str], contract: str = "candidate-profile") -> str:
    """The first text of a ruleset started from scratch in the browser: its name, version,
    first day and title in both languages filled in, and one requirement to rewrite. Its
    references are left empty on purpose: the check refuses the draft until the author cites a
    source for the ruleset and for each rule (a made-up link would pass unseen)."""
    def one(value: Any) -> str:
        return orjson.dumps(value).decode()

    return "\n".join([
        "# A new ruleset started in the policy workbench. Cite the source of the ruleset and",
        "# of each rule under reference:, rewrite the requirement below (or add rules), then",
        "# state a case for each rule from the try panel of the draft's page.",
        f"id: {ruleset_id}",
        f"version: {one(version)}",
        f"effective: {{from: {effective_from.isoformat()}}}",
        "title:",
        f"  en: {one(title['en'])}",
        f"  fr: {one(title['fr'])}",
        'reference: ""',
        f"contract: {contract}",
        "rules:",
        "  - id: first-requirement",
        "    title:",
        "      en: \"First requirement (to rewrite)\"",
        "      fr: \"Première exigence (à réécrire)\"",
        '    reference: ""',
        "    require: age >= 18",
        ""])


def case_facts(base: Mapping[str, Any], facts: Mapping[str, Any]) -> dict:
    """The facts a case states so that, merged over the file's ``base``, they are ``facts``
    exactly: what differs, and null for what the base has and the profile has not."""
    out: dict[str, Any] = {}
    for key, value in facts.items():
        if base.get(key) != value:
            out[key] = value
    for key in base:
        if key not in facts:
            out[key] = None
    return out


def case_name_texts(name: str | Mapping[str, str]) -> dict[str, str]:
    """A new case's name as the author stated it: ``{"en": ...}`` or ``{"en": ..., "fr": ...}``,
    each a sentence of at least ``NAME_MIN`` characters. English is needed (a name in one
    language is read as English); the French may be left to be written."""
    given = {"en": name} if isinstance(name, str) else dict(name)
    names = {lang: str(given.get(lang) or "").strip() for lang in ("en", "fr")}
    errors = {}
    if not names["en"]:
        errors["name.en"] = ["name the case in English too: a case named in one language is "
                             "read as English (the French may be left to be written)"
                             if names["fr"] else f"a sentence of at least {NAME_MIN} characters"]
    for lang, text in names.items():
        if text and len(text) < NAME_MIN:
            errors[f"name.{lang}"] = [f"a sentence of at least {NAME_MIN} characters"]
    if errors:
        raise DraftInvalidError("; ".join(f"{k}: {v[0]}" for k, v in errors.items()),
                                errors=errors)
    return {lang: text for lang, text in names.items() if text}


def case_block(name: str | Mapping[str, str], day: dt.date, facts: Mapping[str, Any],
               expect: Mapping[str, Any]) -> str:
    """A case as the case files write them (JSON is YAML: one line of facts, one of each
    expectation). The name in both languages, ``en`` and ``fr`` under ``name``; in English
    only, on the line of ``name``."""
    def one(value: Any) -> str:
        return orjson.dumps(value).decode()

    names = {"en": name} if isinstance(name, str) else name
    named = [f"  - name: {one(names['en'])}"] if set(names) == {"en"} else \
        ["  - name:"] + [f"      {lang}: {one(names[lang])}" for lang in ("en", "fr")]
    lines = [*named, f"    as_of: {day.isoformat()}",
             f"    facts: {one(dict(facts))}", "    expect:"]
    for key, value in expect.items():
        lines.append(f"      {key}: {one(value)}")
    return "\n".join(lines) + "\n"


def _as_of_fields(text: str) -> tuple[list[tuple[edits.FormField, list[str]]], tuple]:
    """Each case's ``as_of`` as a form field (of days), with its days as text; and the text as
    read (``edits.set_values`` takes it, not to read 3,000 lines once more)."""
    data, lines = parse_yaml(text, "cases")
    out = []
    for index, case in enumerate((data or {}).get("cases") or [] if isinstance(data, Mapping)
                                 else []):
        days = case.get("as_of") if isinstance(case, Mapping) else None
        days = [str(d) for d in (days if isinstance(days, list) else [days]) if d]
        path = ("cases", index, "as_of")
        out.append((edits.FormField(f"cases[{index}].as_of", path, "cases", "days",
                                    ", ".join(days), lines.get(path, 0), "as_of"), days))
    return out, (data, lines)


def with_day(text: str, first: dt.date, day: dt.date) -> str:
    """Cases text with ``day`` added to each case that has a day in [first, day)."""
    changes = []
    fields, parsed = _as_of_fields(text)
    for field, days in fields:
        try:
            inside = any(first <= dt.date.fromisoformat(d) < day for d in days)
        except ValueError:
            continue
        if inside and day.isoformat() not in days:
            changes.append((field, days + [day.isoformat()]))
    return edits.set_values(text, changes, parsed) if changes else text


def without_day(text: str, index: int, day: dt.date) -> str:
    """Cases text with ``day`` taken out of case ``index``'s days (one day left at least)."""
    fields, parsed = _as_of_fields(text)
    if not 0 <= index < len(fields):
        raise DraftInvalidError(f"cases[{index}]: no such case in the case file")
    field, days = fields[index]
    kept = [d for d in days if d != day.isoformat()]
    if not kept or kept == days:
        return text
    return edits.set_values(text, [(field, kept)], parsed)


def merge3(mine: str, base: str, theirs: str) -> str:
    """Three-way merge of texts (``git merge-file``): conflicts stay marked in the text."""
    with tempfile.TemporaryDirectory(prefix="decisions-merge-") as tmp:
        paths = []
        for name, text in (("draft", mine), ("started-from", base), ("in-force-now", theirs)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        done = subprocess.run(["git", "merge-file", "-p", "-L", "draft", "-L", "started from",
                               "-L", "in force now", *paths], capture_output=True, text=True,
                              timeout=60)
        if done.returncode < 0 or done.returncode > 127:
            raise DecisionError(f"the merge failed: {done.stderr.strip()}")
        return done.stdout


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One publication at a time across the server's worker processes: an exclusive ``flock``
    on a file beside the ruleset folder (not in it: the folder is copied and loaded whole). Where
    that file cannot be made, the lock of this process alone."""
    try:
        handle = open(folder.parent / f".{folder.name}.publishing", "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    """Whole or not at all: a reload never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def git_commit(folder: Path, files: list[Path], author: str, message: str) -> str | None:
    """Commit ``files`` when ``folder`` is in a git repository (the publisher as author): what
    happened, for the trail ("git commit ID", or why not); None when it is not a repository."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=60)

    if git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        return None
    identity = ["-c", f"user.name={author}", "-c", f"user.email={author}@decisions.invalid"]
    git("add", "--", *map(str, files))
    done = subprocess.run(["git", "-C", str(folder), *identity, "commit", "-q",
                           f"--author={author} <{author}@decisions.invalid>", "-m", message,
                           "--", *map(str, files)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:  # published and reloaded all the same: the trail says so
        return "not committed: " + (done.stderr.strip() or done.stdout.strip())[:300]
    return "git commit " + git("rev-parse", "--short", "HEAD").stdout.strip()
