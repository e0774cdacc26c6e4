"""The workbench's pages (``service.workbench``), on the pages' blueprint (sessions, CSRF and
languages as every page):

| page | role |
| --- | --- |
| ``/drafts`` the drafts; start one of a new version or of a new ruleset | readers (start: author) |
| ``/drafts/<id>`` the draft: text and check, form, cases, try, make a case, submit | readers |
| ``/drafts/<id>/review`` diff, check, cases, impact; approve, return, publish | readers |
| ``/trail`` every step of every draft | audit |

Thin: every POST calls the Workbench and redirects back to the page (303), or renders it with
what was tried or refused.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import OrderedDict
from typing import Any

import orjson
from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext
from werkzeug.exceptions import UnprocessableEntity

from ..checks.cases import CaseFileSchema, deep_merge, name_in
from ..decisions import localized
from ..draws.pool import generate
from ..errors import DecisionError
from ..i18n import detail_in
from ..rulesets import ID_PATTERN, parse_yaml
from ..store.workbench import verify_trail
from ..workbench import EDITABLE, READERS, Workbench, form_fields, new_ruleset_text
from ..workbench import impact as impacts
from .session import current_caller
from .views import blueprint, lang, requires

IMPACT_REFRESH_SECONDS = 3
ID_RE = re.compile(ID_PATTERN)


def workbench() -> Workbench:
    return current_app.extensions["decisions.workbench"]


def state_label(state: str) -> str:
    return {"draft": gettext("draft"), "submitted": gettext("submitted for review"),
            "returned": gettext("returned to its author"), "approved": gettext("approved"),
            "published": gettext("published"), "refused": gettext("publication refused"),
            "running": gettext("running"), "done": gettext("done"), "failed": gettext("failed"),
            "stopped": gettext("stopped (start it again)")}.get(state, state)


def action_label(action: str) -> str:
    return {"created": gettext("created"), "saved": gettext("saved"),
            "submitted": gettext("submitted"), "approved": gettext("approved"),
            "returned": gettext("returned"), "published": gettext("published"),
            "refused": gettext("refused"),
            "brought up to date": gettext("brought up to date")}.get(action, action)


blueprint.add_app_template_global(state_label)
blueprint.add_app_template_global(action_label)


def _flash(kind: str, text: str) -> None:
    """One message for the next page (the session holds it across the redirect)."""
    session["workbench_notice"] = {"kind": kind, "text": text}


def _back(draft_id: str, page: str = "pages.draft", anchor: str = ""):
    return redirect(url_for(page, draft_id=draft_id) + anchor, 303)


# ------------------------------------------------------------------------------------ drafts
@blueprint.get("/drafts")
@requires(*READERS)
def drafts():
    return _drafts_page({}, {})


def _drafts_page(values: dict, errors: dict, status: int = 200):
    """The drafts with the two forms that start one, showing what was tried and refused."""
    catalog = workbench().service.rules.catalog
    return render_template("pages/drafts.html", items=workbench().list(current_caller()),
                           ruleset_ids=catalog.ids(), values=values, errors=errors,
                           notice=session.pop("workbench_notice", None) if status == 200
                           else None), status


def _first_day(values: dict, errors: dict) -> dt.date | None:
    try:
        return dt.date.fromisoformat(values["effective_from"])
    except ValueError:
        errors["effective_from"] = gettext("Write the date as YYYY-MM-DD, for example "
                                           "2027-01-01.")
        return None


@blueprint.post("/drafts")
@requires("author")
def create_draft():
    values = {k: request.form.get(k, "").strip() for k in ("ruleset", "effective_from",
                                                           "version", "reason")}
    errors: dict[str, str] = {}
    day = _first_day(values, errors)
    if not errors:
        try:
            draft = workbench().create(current_caller(), values["ruleset"], day,
                                       values["version"] or None, values["reason"])
            return _back(draft["draft_id"])
        except DecisionError as exc:
            errors["ruleset"] = detail_in(exc, lang())
    return _drafts_page(values, errors, 422)


@blueprint.post("/drafts/new-ruleset")
@requires("author")
def create_ruleset_draft():
    """A draft of a ruleset that does not exist yet: its first text is written from its name,
    file, first day and titles (``new_ruleset_text``), then edited like any draft."""
    keys = ("new_id", "path", "effective_from", "title_en", "title_fr", "reason")
    # One line each: a title is also written into the file's text.
    values = {k: " ".join(request.form.get(k, "").split()) for k in keys}
    values["new"] = "1"  # the page shows what was tried in the new ruleset's form
    errors: dict[str, str] = {}
    day = _first_day(values, errors)
    if not ID_RE.match(values["new_id"]):
        errors["new_id"] = gettext("Lower-case letters and digits in parts joined by . or -, "
                                   "for example oinp.new-stream.")
    elif values["new_id"] in workbench().service.rules.catalog.ids():
        errors["new_id"] = gettext("This ruleset exists: start a draft of a new version of it "
                                   "above.")
    for lang_code in ("en", "fr"):
        if not values[f"title_{lang_code}"]:
            errors[f"title_{lang_code}"] = gettext("Write the title in both languages.")
    if not errors:
        try:
            content = new_ruleset_text(values["new_id"], day.isoformat(), day,
                                       {"en": values["title_en"], "fr": values["title_fr"]})
            draft = workbench().create(current_caller(), values["new_id"], day,
                                       reason=values["reason"], path=values["path"],
                                       content=content)
            return _back(draft["draft_id"])
        except DecisionError as exc:
            errors["path" if exc.detail.startswith("path") else "new_id"] = detail_in(exc, lang())
    return _drafts_page(values, errors, 422)


def _numbered(text: str | None, problems: list[dict], where: str) -> list[dict]:
    """The text's lines, each with the problems that point at it."""
    if text is None:
        return []
    by_line: dict[int, list[str]] = {}
    for p in problems:
        if p.get("in_draft") == where and p.get("line"):
            by_line.setdefault(p["line"], []).append(p["text"])
    return [{"n": n, "text": line, "problems": by_line.get(n, [])}
            for n, line in enumerate(text.split("\n"), 1)]


def _cases_of(draft: dict) -> list[dict]:
    """The draft's cases as the try panel offers them: name, facts (merged over the base),
    first day, and their place in the file."""
    if not draft.get("cases_content"):
        return []
    try:
        data, lines = parse_yaml(draft["cases_content"], "cases")
        loaded = CaseFileSchema().load(data)
    except Exception:  # the check reports a broken case file
        return []
    return [{"index": i, "name": c["name"], "facts": deep_merge(loaded["base"], c["facts"]),
             "as_of": c["as_of"][-1].isoformat(), "line": lines.get(("cases", i))}
            for i, c in enumerate(loaded["cases"])]


def _groups(fields) -> OrderedDict:
    groups: OrderedDict[str, list] = OrderedDict(
        (g, []) for g in ("effective", "constants", "points", "texts"))
    for f in fields:
        groups[f.group].append(f)
    return groups


def _text_pairs(fields) -> list[dict]:
    """Texts in both languages side by side: one row per text, en and fr."""
    rows: OrderedDict[str, dict] = OrderedDict()
    for f in fields:
        if f.group != "texts":
            continue
        base = f.key.rsplit(".", 1)[0]
        rows.setdefault(base, {"label": f.label, "line": f.line})[f.key.rsplit(".", 1)[1]] = f
    return list(rows.values())


def _draft_page(draft_id: str, status: int = 200, **extra: Any):
    caller = current_caller()
    draft = workbench().get(caller, draft_id)
    check = draft["check"] or {}
    problems = check.get("problems") or []
    fields = form_fields(draft["content"])
    mine = caller.name == draft["author"] and "author" in caller.roles
    return render_template(
        "pages/draft.html", d=draft, check=check, problems=problems,
        lines=_numbered(draft["content"], problems, "file"),
        case_lines=_numbered(draft.get("cases_content"), problems, "cases"),
        groups=_groups(fields), texts=_text_pairs(fields),
        editable=mine and draft["state"] in EDITABLE, mine=mine,
        base_changed=workbench().base_changes(draft), cases=_cases_of(draft),
        trail=workbench().trail(caller, draft_id),
        notice=session.pop("workbench_notice", None), **extra), status


@blueprint.get("/drafts/<draft_id>")
@requires(*READERS)
def draft(draft_id: str):
    """``?pool=N``: the try panel filled with the N-th candidate of a pool generated as of the
    draft's first day (the pool generator of `decisions pool generate`, seed 7), to edit."""
    wanted = request.args.get("pool", "")
    if not (wanted.isdigit() and len(wanted) < 4):
        return _draft_page(draft_id)
    day = workbench().get(current_caller(), draft_id)["effective_from"]
    profiles, _ = generate(int(wanted) + 1, 7, as_of=dt.date.fromisoformat(day))
    candidate = list(profiles)[-1]
    return _draft_page(draft_id, tried_facts=orjson.dumps(
        candidate, option=orjson.OPT_INDENT_2).decode(), tried_day=day,
        next_pool=int(wanted) + 1)


def _step(draft_id: str, step, done: str, anchor: str = "", page: str = "pages.draft"):
    """Run a workbench step for the signed-in person; its refusal becomes the page's notice."""
    try:
        step()
        _flash("ok", done)
    except DecisionError as exc:
        _flash("error", detail_in(exc, lang()))
    return _back(draft_id, page, anchor)


@blueprint.post("/drafts/<draft_id>/text")
@requires("author")
def save_text(draft_id: str):
    return _step(draft_id, lambda: workbench().save(
        current_caller(), draft_id, content=request.form.get("content", "").replace("\r\n", "\n"),
        reason=request.form.get("reason", "")), gettext("Saved and checked."), "#check")


@blueprint.post("/drafts/<draft_id>/cases-text")
@requires("author")
def save_cases_text(draft_id: str):
    return _step(draft_id, lambda: workbench().save(
        current_caller(), draft_id,
        cases_content=request.form.get("cases_content", "").replace("\r\n", "\n"),
        reason=request.form.get("reason", "")), gettext("Saved and checked."), "#cases")


@blueprint.post("/drafts/<draft_id>/form")
@requires("author")
def save_form(draft_id: str):
    """The form's values; only those changed are written into the text."""
    values = {k[len("f:"):]: v for k, v in request.form.items() if k.startswith("f:")}
    return _step(draft_id, lambda: workbench().save(current_caller(), draft_id, form=values,
                                                     reason=request.form.get("reason", "")),
                 gettext("Saved and checked."), "#check")


@blueprint.post("/drafts/<draft_id>/cover")
@requires("author")
def cover(draft_id: str):
    return _step(draft_id, lambda: workbench().cover(current_caller(), draft_id),
                 gettext("The cases of the version in force are decided on the draft's first "
                         "day too."), "#cases")


@blueprint.post("/drafts/<draft_id>/update")
@requires("author")
def update(draft_id: str):
    return _step(draft_id, lambda: workbench().bring_up_to_date(current_caller(), draft_id),
                 gettext("Brought up to date and checked."), "#check")


@blueprint.post("/drafts/<draft_id>/submit")
@requires("author")
def submit(draft_id: str):
    return _step(draft_id, lambda: workbench().submit(current_caller(), draft_id,
                                                       request.form.get("reason", "")),
                 gettext("Submitted for review."))


# ------------------------------------------------------------------------------------ try
def _profile(draft: dict) -> tuple[Any, str, dict[str, str]]:
    """The profile to try: pasted JSON, or one of the draft's cases; its day; the errors."""
    errors: dict[str, str] = {}
    text = request.form.get("facts", "").strip()
    chosen = request.form.get("case", "")
    facts: Any = None
    day = request.form.get("as_of", "").strip()
    if chosen.isdigit() and not text:
        cases = {str(c["index"]): c for c in _cases_of(draft)}
        if chosen in cases:
            facts = cases[chosen]["facts"]
            day = day or cases[chosen]["as_of"]
    if facts is None:
        try:
            facts = orjson.loads(text)
            if not isinstance(facts, dict):
                raise ValueError
        except ValueError:
            errors["facts"] = gettext("Paste the profile as a JSON object, or choose a case.")
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        errors["as_of"] = gettext("Write the date as YYYY-MM-DD, for example 2027-01-01.")
    return facts, day, errors


def _side(side: dict) -> dict:
    return {"decision": localized(side["decision"], lang())} if "decision" in side else side


@blueprint.post("/drafts/<draft_id>/try")
@requires("author", "review")
def try_profile(draft_id: str):
    caller = current_caller()
    draft = workbench().get(caller, draft_id)
    facts, day, errors = _profile(draft)
    if errors:
        return _draft_page(draft_id, 422, try_errors=errors, tried_facts=request.form.get(
            "facts", ""), tried_day=day)
    sides = workbench().try_profile(caller, draft_id, facts, dt.date.fromisoformat(day))
    tried = {name: _side(side) for name, side in sides.items()}
    return _draft_page(draft_id, tried=tried, tried_facts=orjson.dumps(
        facts, option=orjson.OPT_INDENT_2).decode(), tried_day=day,
        expectations=_expectations(tried.get("draft", {}).get("decision")),
        replaces=request.form.get("case", ""))


def _expectations(decision: dict | None) -> list[dict]:
    """What a case may state, each with the engine's value shown beside it (never filled in
    for the author): the outcome, each score's total and parts, each requirement."""
    if decision is None:
        return []
    out = [{"key": "outcome", "label": gettext("Outcome"), "engine": decision["outcome"],
            "words": decision.get("outcome_title", "")}]
    for score, parts in decision["scores"].items():
        for part, value in parts.items():
            out.append({"key": f"scores.{score}.{part}", "label": f"{score.upper()} {part}",
                        "engine": value, "words": ""})
    for req in decision["requirements"]:
        out.append({"key": f"requirements.{req['rule']}", "label": req.get("title") or
                    req["rule"], "engine": "met" if req["met"] else "not_met",
                    "words": gettext("met") if req["met"] else gettext("not met")})
    return out


@blueprint.post("/drafts/<draft_id>/case")
@requires("author")
def make_case(draft_id: str):
    """A tried profile as a new case. Each expected value is what the author typed, or the
    engine's value where the author ticked "confirm" beside it; nothing else is stated."""
    form = request.form
    try:
        facts = orjson.loads(form.get("facts", ""))
        day = dt.date.fromisoformat(form.get("as_of", ""))
    except ValueError:
        raise UnprocessableEntity(gettext("The profile or its day was lost: try it again.")
                                  ) from None
    expect: dict[str, Any] = {}
    for key in form.getlist("key"):
        typed = form.get(f"value:{key}", "").strip()
        confirmed = form.get(f"confirm:{key}") == "yes"
        value = typed if typed else (form.get(f"engine:{key}", "") if confirmed else "")
        if value == "":
            continue
        kind, _, rest = key.partition(".")
        if kind == "outcome":
            expect["outcome"] = value
        elif kind == "scores":
            score, _, part = rest.partition(".")
            try:
                number = int(value)
            except ValueError:
                _flash("error", gettext("%(what)s: write a whole number.", what=key))
                return _back(draft_id)
            expect.setdefault("scores", {}).setdefault(score, {})[part] = number
        elif kind == "requirements":
            expect.setdefault("requirements", {})[rest] = value
    replaces = form.get("replaces", "")
    # the name in English and in French; the French may be left to be written in the case file
    name = {"en": form.get("name", ""), "fr": form.get("name_fr", "")}
    return _step(draft_id, lambda: workbench().add_case(
        current_caller(), draft_id, name, facts, day, expect,
        replaces=int(replaces) if replaces.isdigit() else None),
        gettext("The case is added to the draft's case file, and checked."), "#cases")


# ---------------------------------------------------------------------------------- review
@blueprint.get("/drafts/<draft_id>/review")
@requires(*READERS)
def review_page(draft_id: str):
    caller = current_caller()
    draft = workbench().get(caller, draft_id)
    runs = workbench().impact_runs(caller, draft_id)
    run = runs[0] if runs else None
    state = impacts.state_of(run) if run else None
    report = impacts.report_of(run) if run else None
    shown = {source: _impact_view(part) for source, part in (report or {}).items()}
    # A refresh to the page's own address reloads nothing when that address has a fragment
    # (#impact, where starting a run leads): the browser only scrolls to it. A new address each
    # time (``at``, which the page ignores) makes each refresh a real load.
    again = f"{IMPACT_REFRESH_SECONDS}; url=" + url_for(
        "pages.review_page", draft_id=draft_id, at=time.monotonic_ns()) + "#impact"
    response = render_template(
        "pages/draft_review.html", d=draft, check=draft["check"] or {},
        diff=Workbench.diff(draft), base_changed=workbench().base_changes(draft), run=run,
        run_state=state, impact=shown, notice=session.pop("workbench_notice", None),
        refresh=again if state == "running" else None,
        may_review="review" in caller.roles and caller.name != draft["author"],
        may_publish=bool(caller.roles.intersection(("review", "admin"))))
    if state == "running":  # the header as well as the page's meta: either one reloads it
        return response, 200, {"Refresh": again}
    return response


def _impact_view(impact: dict) -> dict:
    """An impact report (``Impact.as_dict``) for the page: outcomes, moved scores, examples
    with both decisions localized, and the includers that moved."""
    examples = []
    for kind, items in impact.get("examples", {}).items():
        cases = [{"case": name_in(ex["case"], lang()), "before": localized(ex["from"], lang()),
                  "after": localized(ex["to"], lang())} for ex in items]
        examples.append({"kind": _kind_heading(kind, cases[0]), "cases": cases})
    includers = {top: _impact_view(part) for top, part in impact.get("includers", {}).items()
                 if part.get("cases", 0) > part.get("not_in_force", 0)}
    return {**impact, "examples": examples, "includers": includers,
            "moved": {name: s for name, s in impact.get("scores", {}).items() if s["changed"]}}


def _kind_heading(kind: str, first: dict) -> str:
    """A kind of change (``checks.impact``) as a heading: outcomes by their titles."""
    if kind.startswith("outcome "):
        return gettext("the outcome changes from “%(from)s” to “%(to)s”",
                       **{"from": first["before"].get("outcome_title") or
                          first["before"]["outcome"],
                          "to": first["after"].get("outcome_title") or first["after"]["outcome"]})
    if kind.startswith("derived "):
        return gettext("derived facts change: %(names)s", names=kind[len("derived "):])
    score, _, direction = kind.rpartition(" ")
    return gettext("%(score)s goes up", score=score.upper()) if direction == "up" \
        else gettext("%(score)s goes down", score=score.upper())


@blueprint.post("/drafts/<draft_id>/impact")
@requires("author", "review")
def start_impact(draft_id: str):
    def number(name: str, most: int) -> int:
        raw = request.form.get(name, "0").strip() or "0"
        return max(0, min(int(raw), most)) if raw.isdigit() else 0

    stored = " ".join(request.form.get("stored_pool", "").split()) or None
    return _step(draft_id, lambda: workbench().start_impact(
        current_caller(), draft_id, number("pool", 20_000), number("log", 2000), stored),
        gettext("The impact run started: this page follows it."), "#impact",
        page="pages.review_page")


@blueprint.post("/drafts/<draft_id>/review")
@requires("review")
def review(draft_id: str):
    approve = request.form.get("decision") == "approve"
    return _step(draft_id, lambda: workbench().review(
        current_caller(), draft_id, approve, request.form.get("comment", "")),
        gettext("Approved.") if approve else gettext("Returned to its author."),
        page="pages.review_page")


@blueprint.post("/drafts/<draft_id>/publish")
@requires("review", "admin")
def publish(draft_id: str):
    return _step(draft_id, lambda: workbench().publish(
        current_caller(), draft_id, request.form.get("reason", "")),
        gettext("Published: the service decides with it from its first day."),
        page="pages.review_page")


# ----------------------------------------------------------------------------------- trail
@blueprint.get("/trail")
@requires("audit")
def trail():
    checked = verify_trail(workbench().store) if request.args.get("verify") else None
    return render_template("pages/trail.html", items=workbench().trail(current_caller()),
                           checked=checked)
