"""Pages for auditors and policy staff: server-rendered Jinja2 over the same service as the API.

One more thin layer beside the API (``service.web``): views read the decision service, the
decision log and the catalog, and render templates in ``templates/pages``; every text goes
through Babel (domain ``pages``) or comes from the rulesets' own ``{en, fr}``. No page needs
JavaScript; every asset is served by the pages' blueprint (``static/``). Sign-in, sessions, CSRF
and the language are in ``pages.session``; what the pages compute, in ``pages.data``.

| page | role |
| --- | --- |
| ``/`` sign-in (or home), ``/sign-in``, ``/sign-out``, ``/language`` | none |
| ``/decisions``, ``/decisions/<id>``, ``/decisions/export``, ``/decisions/verify`` | audit |
| ``/rulesets``, ``/rulesets/<id>``, ``/rulesets/<id>/diff`` | any (decisions from the log: audit) |
| ``/draws``, ``/draws/<id>`` | decide or audit |
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_wtf.csrf import CSRFError, validate_csrf
from markupsafe import Markup
from werkzeug.exceptions import Forbidden, HTTPException, UnprocessableEntity
from wtforms import ValidationError

from ..checks import name_in
from ..checks.impact import Impact
from ..decisions import localized
from ..draws import DrawNotFoundError
from ..errors import DecisionError, UnknownRulesetError, parameter_errors
from ..i18n import LANGUAGES, day_words, detail_in, localize, moment_words
from ..live import DecisionRequest, DecisionService, version_status
from ..store import Filters, decode_cursor, encode_cursor
from ..store import draws as draw_store
from . import charts, data
from . import session as web
from .session import current_caller, page_language

# The pages' own templates and assets, beside this module; assets at /static as before.
blueprint = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")
log = logging.getLogger("decisions.pages")
PAGE_SIZE = 50
INVITATIONS_PAGE = 50
CASE_RUNS = data.CaseRuns()
IMPACTS = data.ImpactCache()


def service() -> DecisionService:
    return current_app.extensions["decisions"]


def lang() -> str:
    return page_language()


# ------------------------------------------------------------------------------ request hooks
@blueprint.before_request
def _before() -> None:
    # A control character in the address (a NUL was a 500 on PostgreSQL; issue 17, item 3):
    # a 422 page naming the parameters, before any reaches the database.
    bad = parameter_errors([*(request.view_args or {}).items(),
                            *request.args.items(multi=True)])
    if bad:
        raise UnprocessableEntity(gettext(
            "The address holds a control character in %(names)s. Check the link or what you "
            "typed.", names=", ".join(bad)))
    caller = web.session_caller()
    g.page_caller = caller
    if caller is not None:
        g.caller = caller  # the request log names the caller, as for the API
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None


@blueprint.after_request
def _after(response: Response) -> Response:
    return web.html_headers(response)


@blueprint.app_template_global()
def has_role(*roles: str) -> bool:
    caller = current_caller()
    return caller is not None and (not roles or bool(caller.roles.intersection(roles)))


@blueprint.app_context_processor
def _context() -> dict[str, Any]:
    return {"caller": current_caller(), "lang": lang(), "languages": LANGUAGES,
            "here": _here()}


def _here() -> str:
    """This page's path and query, to come back to after a sign-in or a language switch."""
    try:
        query = request.query_string.decode()
        return request.path + (f"?{query}" if query else "")
    except RuntimeError:
        return "/"


def _safe_next(target: str | None) -> str:
    """A path on this site (never another host: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("pages.index")
    return target


def requires(*roles: str) -> Callable:
    """Signed in, with one of ``roles`` (any role when none is named)."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(**kwargs: Any):
            caller = current_caller()
            if caller is None:
                return redirect(url_for("pages.sign_in", next=_here()))
            if roles and not caller.roles.intersection(roles):
                raise Forbidden(gettext("Your token “%(name)s” does not have the role this page "
                                        "needs: %(roles)s.", name=caller.name,
                                        roles=gettext(" or ").join(roles)))
            return view(**kwargs)

        return guarded

    return decorate


# ------------------------------------------------------------------------------------ filters
@blueprint.app_template_filter("show")
def show(value: Any) -> str:
    """A fact value as a person reads it."""
    if value is None:
        return gettext("not given")
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {show(v)}" for k, v in value.items())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@blueprint.app_template_filter("day")
def day(value: str | dt.date | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return day_words(value, lang())


@blueprint.app_template_filter("moment")
def moment(value: str | None) -> str:
    """An ISO 8601 time as people write it, in UTC: ``February 1, 2019 at 10:00:00 UTC`` /
    ``1er février 2019 à 10:00:00 UTC`` (i18n.moment_words)."""
    if not value:
        return ""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment_words(parsed, lang())


def _case_names(item: Any) -> dict[str, str] | str:
    """The names of a case as a page meets them: a case result (a ``CaseResult``, or its plain
    data in a draft's check), a case of a case file, or a name itself."""
    if hasattr(item, "name_in"):
        return item.names or item.name
    if isinstance(item, dict) and "name" in item:
        return item.get("names") or item["name"]
    return item


@blueprint.app_template_filter("case_name")
def case_name(item: Any) -> str:
    """A case's name in the page's language; the English when the case is named in English
    only (a case file written by hand in one language)."""
    return name_in(_case_names(item), lang())


@blueprint.app_template_filter("case_name_lang")
def case_name_lang(item: Any) -> str:
    """`` lang="en"`` where a French page shows a case's English name (screen readers then read
    it as English); nothing otherwise."""
    names = _case_names(item)
    shown = lang() if isinstance(names, dict) and names.get(lang()) else "en"
    return Markup(f' lang="{shown}"') if shown != lang() else Markup("")


@blueprint.app_template_filter("is_link")
def is_link(reference: str | None) -> bool:
    return bool(reference) and reference.startswith(("https://", "http://"))


# -------------------------------------------------------------------------------- sign-in etc.
@blueprint.get("/")
def index():
    if current_caller() is None:
        return _sign_in_page()
    return render_template("pages/home.html")


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        return _sign_in_page()
    token = web.clean_token(request.form.get("token", ""))
    target = _safe_next(request.form.get("next"))
    if not token:
        return _sign_in_page(gettext("Paste your token in the field."), 400)
    if web.sign_in(token) is None:
        log.info("page sign-in refused")
        return _sign_in_page(gettext("This token is not valid. Check that you copied all of it, "
                                     "or ask for a new one."), 401)
    return redirect(target, 303)


def _sign_in_page(error: str | None = None, status: int = 200):
    return render_template("pages/sign_in.html", error=error,
                           next=_safe_next(request.values.get("next"))), status


@blueprint.post("/sign-out")
def sign_out():
    web.sign_out()
    return redirect(url_for("pages.index"), 303)


@blueprint.post("/language")
def language():
    chosen = request.form.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(_safe_next(request.form.get("next")), 303)


# ------------------------------------------------------------------------------ decision log
def _log_filters(args) -> tuple[Filters, dict[str, str], dict[str, str]]:
    """Filters from the query string; the values as typed; an error message per bad field."""
    values = {k: args.get(k, "").strip() for k in
              ("ruleset", "version", "outcome", "candidate_id", "from", "to", "order")}
    errors: dict[str, str] = {}
    days: dict[str, dt.datetime | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        if values[name]:
            try:
                day_ = dt.date.fromisoformat(values[name])
            except ValueError:
                errors[name] = gettext("Write the date as YYYY-MM-DD, for example 2019-07-15.")
                continue
            moment_ = dt.datetime.combine(day_, dt.time(), dt.UTC)
            # "to" is the last day shown, inclusive: decisions before the next midnight (UTC)
            days[name] = moment_ + dt.timedelta(days=1) if name == "to" else moment_
    if days["from"] and days["to"] and days["from"] >= days["to"]:
        errors["to"] = gettext("The last day is before the first day.")
    filters = Filters(ruleset=values["ruleset"] or None, version=values["version"] or None,
                      outcome=values["outcome"] or None,
                      candidate_id=values["candidate_id"] or None,
                      decided_from=days["from"], decided_to=days["to"])
    return filters, values, errors


@blueprint.get("/decisions")
@requires("audit")
def decisions():
    filters, values, errors = _log_filters(request.args)
    newest_first = values["order"] != "asc"
    after = None
    if request.args.get("cursor"):
        try:
            after = decode_cursor(request.args["cursor"])
        except ValueError:
            errors["cursor"] = gettext("This page link is not valid: start again from the first "
                                       "page.")
    records, last = ([], None) if errors else service().store.page(
        filters, after, PAGE_SIZE, newest_first=newest_first)
    catalog = service().rules.catalog
    rows = [{"r": r, "outcome_title": data.outcome_title(catalog, r.ruleset_id,
                                                         r.ruleset_version, r.outcome, lang())}
            for r in records]
    query = {k: v for k, v in values.items() if v}
    next_url = url_for("pages.decisions", **query, cursor=encode_cursor(last)) \
        if last is not None else None
    first_url = url_for("pages.decisions", **query) if after is not None else None
    verification = session.pop("verification", None)
    return render_template(
        "pages/decisions.html", rows=rows, values=values, errors=errors, next_url=next_url,
        first_url=first_url, export_url=url_for("pages.export", **query),
        filtered=any(values[k] for k in values if k != "order"), verification=verification,
        choices=data.log_choices(catalog, service().store.kept_versions(), values, lang()),
        query=urlencode(query)), \
        422 if errors else 200


@blueprint.post("/decisions/verify")
@requires("audit")
def verify():
    result = service().store.verify()
    finding = result.finding
    session["verification"] = {
        "intact": result.intact, "checked": result.checked, "head_seq": result.head_seq,
        "head_hash": result.head_hash, "at": dt.datetime.now(dt.UTC).isoformat(),
        "finding": None if finding is None else {
            "kind": finding.kind, "seq": finding.seq, "decision_id": finding.decision_id,
            "detail": finding.detail}}
    return redirect(_safe_next(request.form.get("next") or url_for("pages.decisions")), 303)


@blueprint.get("/decisions/export")
@requires("audit")
def export():
    filters, _, errors = _log_filters(request.args)
    if errors:
        abort(422, "; ".join(errors.values()))
    return Response(stream_with_context(service().store.export(filters)),
                    mimetype="application/jsonl",
                    headers={"Content-Disposition": "attachment; filename=decisions.jsonl"})


@blueprint.get("/decisions/<decision_id>")
@requires("audit")
def decision(decision_id: str):
    record = service().record(decision_id)
    catalog = service().rules.catalog
    view = data.decision_view(record, catalog, lang(), service().texts)
    charts_ = {}
    for score in view["scores"]:
        charts_[score["name"]] = charts.bars(
            score["top"], title=gettext("%(score)s: points by part", score=score["title"]),
            desc="; ".join(f"{label}: {value}" for label, value in score["top"]))
    place = data.chain_place(service().store, record)
    return render_template("pages/decision.html", v=view, d=view["d"], charts=charts_,
                           place=place, sentence=_outcome_sentence(view))


@blueprint.get("/decisions/<decision_id>/what-would-change")
@requires("audit")
def what_would_change(decision_id: str):
    """The smallest declared changes of a logged decision's facts that change its outcome,
    computed on request (a GET: it reads, and logs nothing) with the rules in use."""
    record = service().record(decision_id)
    answer = service().what_would_change(DecisionRequest(
        record.ruleset_id, orjson.loads(record.facts), dt.date.fromisoformat(record.as_of)))
    return render_template("pages/what_would_change.html", w=localize(answer, lang()),
                           r=record)


def _outcome_sentence(view: dict) -> Markup:
    d, record = view["d"], view["record"]
    top = view["top_requirements"]
    failed = len(view["top_not_met"])
    if record.candidate_id:
        who = gettext("candidate %(id)s", id=record.candidate_id)
    else:
        who = gettext("the candidate")
    if not top:
        detail = gettext("this ruleset awards points and has no requirements")
    elif failed:
        detail = ngettext("%(num)d of its %(total)d requirements is not met",
                          "%(num)d of its %(total)d requirements are not met", failed,
                          total=len(top))
    else:
        detail = ngettext("its one requirement is met", "all %(num)d of its requirements are met",
                          len(top))
    text = gettext("%(who)s, assessed as of %(day)s under “%(title)s” (version %(version)s): "
                   "%(detail)s.", who=who, day=day(d["as_of"]), title=d["title"],
                   version=view["top_version"], detail=detail)
    return Markup("<strong>{}</strong> — {}").format(d["outcome_title"], text)


# ---------------------------------------------------------------------------------- rulesets
def _status_label(status: str) -> str:
    return {"in_force": gettext("in force"), "scheduled": gettext("scheduled"),
            "superseded": gettext("superseded"), "expired": gettext("expired"),
            "corrected": gettext("corrected")}.get(status, status)


@blueprint.app_template_global()
def codes_named(text: Any) -> list[tuple[str, str | None]]:
    """The codes a condition or a list names, with their titles in the page's language."""
    return service().rules.catalog.codes_named(text, lang())


@blueprint.app_template_global()
def status_label(status: str) -> str:
    return _status_label(status)


@blueprint.get("/rulesets")
@requires()
def rulesets():
    catalog = service().rules.catalog
    today = dt.date.today()
    items = []
    for ruleset_id in catalog.ids():
        versions = catalog.versions(ruleset_id)
        statuses = [(v, version_status(catalog, v, today)) for v in versions]
        in_force = next((v for v, s in statuses if s == "in_force"), None)
        scheduled = [v for v, s in statuses if s == "scheduled"]
        items.append({"id": ruleset_id, "title": versions[-1].title[lang()],
                      "in_force": in_force, "scheduled": scheduled, "count": len(versions),
                      "draw": versions[-1].draw is not None})
    return render_template("pages/rulesets.html", items=items)


def _shown_version(ruleset_id: str, wanted: str | None):
    catalog = service().rules.catalog
    versions = catalog.versions(ruleset_id)
    if wanted:
        return catalog.version(ruleset_id, wanted)
    today = dt.date.today()
    try:
        return catalog.in_force(ruleset_id, today)
    except UnknownRulesetError:
        return next((v for v in versions if v.effective_from > today), versions[-1])


@blueprint.get("/rulesets/<ruleset_id>")
@requires()
def ruleset(ruleset_id: str):
    catalog = service().rules.catalog
    versions = catalog.versions(ruleset_id)
    shown = _shown_version(ruleset_id, request.args.get("version"))
    today = dt.date.today()
    run = CASE_RUNS.get(catalog, service().rules.decider)
    results = run.results_for(ruleset_id)
    coverage = {v.version: data.coverage_for(run, catalog, v) for v in versions}
    return render_template(
        "pages/ruleset.html", ruleset_id=ruleset_id,
        versions=[(v, version_status(catalog, v, today), catalog.last_day(v)) for v in versions],
        v=shown, corrects=shown.raw.get("corrects"), corrected_by=catalog.corrected_by(shown),
        sections=data.rule_sections(catalog, shown, lang()),
        open_all=request.args.get("open") == "all",
        title=shown.title[lang()],
        description=shown.description[lang()] if shown.description else None,
        run=run, results=results, coverage=coverage, passed=sum(r.passed for r in results),
        includes=[(inc, alias, data.ruleset_title(catalog, inc, None, lang()))
                  for inc, alias in shown.includes])


@blueprint.get("/rulesets/<ruleset_id>/diff")
@requires()
def diff(ruleset_id: str):
    catalog = service().rules.catalog
    versions = catalog.versions(ruleset_id)
    names = [v.version for v in versions]
    source = request.args.get("source", "cases")
    if source not in ("cases", "log"):
        source = "cases"
    default_to = names[-1]
    default_from = names[-2] if len(names) > 1 else names[-1]
    chosen_from = request.args.get("from") or default_from
    chosen_to = request.args.get("to") or default_to
    errors: dict[str, str] = {}
    for name, value in (("from", chosen_from), ("to", chosen_to)):
        if value not in names:
            errors[name] = gettext("This ruleset has no version %(version)s.", version=value)
    if source == "log" and not has_role("audit"):
        errors["source"] = gettext("Reading the decision log needs the audit role; compare on "
                                   "the ruleset's own cases instead.")
    result: Impact | None = None
    count = 0
    failure = None
    if len(names) < 2:
        failure = gettext("This ruleset has one version only: there is nothing to compare.")
    elif not errors:
        try:
            result, count = data.impact(IMPACTS, catalog, service().rules.decider,
                                        service().store, ruleset_id, chosen_from, chosen_to,
                                        source)
        except DecisionError as exc:
            failure = exc.detail
    view = _impact_view(result, catalog, ruleset_id) if result is not None else None
    status = 422 if errors else 200
    return render_template(
        "pages/diff.html", ruleset_id=ruleset_id, names=names, chosen_from=chosen_from,
        chosen_to=chosen_to, source=source, errors=errors, impact=result, view=view,
        count=count, failure=failure,
        title=data.ruleset_title(catalog, ruleset_id, None, lang())), status


def _impact_view(impact: Impact, catalog, ruleset_id: str) -> dict:
    language_ = lang()

    def title_of(version: str, code: str) -> str:
        return data.outcome_title(catalog, ruleset_id, version, code, language_)

    outcomes = [{"from": title_of(impact.from_version, a), "to": title_of(impact.to_version, b),
                 "changed": a != b, "count": n, "from_code": a, "to_code": b}
                for (a, b), n in sorted(impact.outcomes.items(), key=lambda kv: -kv[1])]
    histograms = []
    for name, values in sorted(impact.shifts.items()):
        if not name.endswith(".total"):
            continue
        bins = [charts.Bin(a, b, c) for a, b, c in charts.shift_bins(values)]
        moved = sum(1 for v in values if v)
        histograms.append({"name": name, "svg": charts.histogram(
            bins, title=gettext("Score shifts of %(score)s", score=name),
            desc=gettext("%(moved)d of %(cases)d cases change score; shifts from %(low)d to "
                         "%(high)d points.", moved=moved, cases=len(values), low=min(values),
                         high=max(values)),
            x_label=gettext("points gained or lost (new version minus old)"),
            y_label=gettext("cases"), marker=0, marker_label=gettext("no change")),
            "bins": bins})
    examples = []
    for kind, items in impact.examples.items():
        if kind.startswith("outcome "):
            a, _, b = kind[len("outcome "):].partition(" -> ")
            heading = gettext("Outcome changes from “%(from)s” to “%(to)s”",
                              **{"from": title_of(impact.from_version, a),
                                 "to": title_of(impact.to_version, b)})
        else:
            score, _, direction = kind.rpartition(" ")
            heading = gettext("%(score)s goes up", score=score.upper()) if direction == "up" \
                else gettext("%(score)s goes down", score=score.upper())
        shown = []
        for item in items:
            before, after = (localized(service().shown(item[side], language_), language_)
                             for side in ("from", "to"))
            lost, gained = data.rule_changes(before, after)
            shown.append({"case": name_in(item["case"], language_), "before": before,
                          "after": after, "lost": lost, "gained": gained,
                          "buckets_before": data.bucket_titles(before),
                          "buckets_after": data.bucket_titles(after),
                          "requirements": data.requirement_changes(before, after)})
        examples.append({"heading": heading, "cases": shown})
    return {"outcomes": outcomes, "histograms": histograms, "examples": examples,
            "scores": impact.score_summary()}


# -------------------------------------------------------------------------------------- draws
@blueprint.get("/draws")
@requires("decide", "audit")
def draws():
    return render_template("pages/draws.html", draws=draw_store.recent_draws(service().store))


@blueprint.get("/draws/<draw_id>")
@requires("decide", "audit")
def draw(draw_id: str):
    summary = draw_store.load_draw(service().store, draw_id)
    if summary is None:
        raise DrawNotFoundError(gettext("There is no draw “%(id)s”.", id=draw_id))
    summary = localize(summary, lang())
    after = request.args.get("after", "")
    after_rank = int(after) if after.isdigit() and len(after) < 10 else None
    invitations, last = draw_store.invitations_page(service().store, draw_id, after_rank,
                                                    INVITATIONS_PAGE)
    counts = draw_store.draw_score_counts(service().store, draw_id)
    cutoff = (summary.get("cutoff") or {}).get("score")
    bins = [charts.Bin(a, b, invited, others, name)
            for a, b, invited, others, name in data.pool_bins(counts, cutoff)]
    scored = sum(n for _, _, n in counts)
    svg = charts.histogram(
        bins, title=gettext("Scores of the candidates in the pool"),
        desc=gettext("%(n)d candidates with a score, in bands of 10 points; the cutoff is "
                     "%(cutoff)s.", n=scored, cutoff=cutoff if cutoff is not None else "—"),
        x_label=gettext("score (bands of 10 points)"), y_label=gettext("candidates"),
        marker=cutoff, marker_label=gettext("cutoff %(score)s", score=cutoff),
        series=(gettext("invited"), gettext("not invited"))) if bins else None
    catalog = service().rules.catalog
    ineligible = [{"key": key, "count": n,
                   "title": _rule_title(catalog, summary["ruleset"]["id"],
                                        summary["ruleset"]["version"], key)}
                  for key, n in (summary["counts"].get("ineligible_by_requirement")
                                 or {}).items()]
    reasons = []
    for key, n in (summary["counts"].get("ineligible_by_reason") or {}).items():
        ruleset_id, _, rule_id = key.partition(":")
        version = next((r["version"] for r in summary.get("rulesets", [])
                        if r["id"] == ruleset_id), None)
        reasons.append({"key": key, "count": n,
                        "title": _rule_title(catalog, ruleset_id, version, rule_id)})
    return render_template(
        "pages/draw.html", s=summary, svg=svg, bins=bins, invitations=invitations,
        next_url=url_for("pages.draw", draw_id=draw_id, after=last) if last else None,
        first_url=url_for("pages.draw", draw_id=draw_id) if after_rank else None,
        ineligible=ineligible, reasons=reasons, scored=scored)


def _rule_title(catalog, ruleset_id: str, version: str | None, rule_id: str) -> str:
    try:
        v = catalog.version(ruleset_id, version) if version else \
            catalog.versions(ruleset_id)[-1]
    except UnknownRulesetError:
        return rule_id
    for rule in v.rules:
        if rule.id == rule_id:
            return rule.title[lang()]
    return rule_id


# ------------------------------------------------------------------------------------- errors
def _error_page(status: int, title: str, detail: str):
    return render_template("pages/error.html", status=status, title=title, detail=detail), status


@blueprint.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError):
    return _error_page(400, gettext("The form has expired"), gettext(
        "The form was not sent from this page, or it was open too long. Go back, reload the "
        "page and send it again."))


@blueprint.errorhandler(DecisionError)
def _decision_error(exc: DecisionError):
    if exc.status >= 500:
        log.error("page failed", extra={"error": type(exc).__name__})
    titles = {404: gettext("Not found"), 409: gettext("Conflict"),
              503: gettext("Not available now")}
    return _error_page(exc.status, titles.get(exc.status, gettext("This page cannot be shown")),
                       detail_in(exc, lang()))


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    titles = {403: gettext("Not allowed"), 404: gettext("Not found"),
              405: gettext("Not allowed"), 413: gettext("Too large"),
              422: gettext("Check what you entered")}
    code = exc.code or 500
    detail = exc.description if code in (403, 422) else {
        404: gettext("There is nothing at this address."),
        405: gettext("This address does not take this kind of request."),
        413: gettext("What you sent is larger than this server accepts.")}.get(
        code, exc.description or "")
    return _error_page(code, titles.get(code, exc.name), detail)


API_PATHS = ("/v1/", "/openapi.json", "/docs", "/healthz", "/readyz", "/metrics")


def unrouted_page(exc: HTTPException):
    """The error page of an address no view answers (404) or a method it does not take (405),
    for a browser that asks for HTML outside the API; None otherwise (the API's problem+json)."""
    wants = request.accept_mimetypes.best_match(["application/json", "text/html"])
    if wants != "text/html" or request.path.startswith(API_PATHS):
        return None
    g.page_caller = web.session_caller()
    return _http_error(exc)


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("page failed", extra={"error": type(exc).__name__})
    return _error_page(500, gettext("Something went wrong"), gettext(
        "The server failed to show this page. The request id %(id)s identifies its log lines.",
        id=g.get("request_id", "")))
