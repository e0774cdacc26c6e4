"""HTTP views of the policy workbench (``service.workbench``), a blueprint of its own:

    POST /v1/drafts                          start a draft (role author)
    GET  /v1/drafts                          the drafts (author, review, audit, admin)
    GET  /v1/drafts/<id>                     one draft: texts, check, form fields, diff
    PUT  /v1/drafts/<id>                     save texts or form values; checked (author)
    POST /v1/drafts/<id>/try                 decide a profile with the draft and in force
    POST /v1/drafts/<id>/cases               a profile as a new case, values stated (author)
    POST /v1/drafts/<id>/cover               the base's cases decided on the draft's day too
    POST /v1/drafts/<id>/update              bring it up to date with the live folder (author)
    POST /v1/drafts/<id>/submit              submit with a reason (author)
    POST /v1/drafts/<id>/review              approve or return, never one's own (review)
    POST /v1/drafts/<id>/publish             write, reload, commit (review or admin)
    POST /v1/drafts/<id>/impact              start an impact run; GET .../impact/<run_id>
    GET  /v1/drafts/<id>/trail, /v1/trail    the trail (audit; a draft's: its readers too)

Thin over ``Workbench``; its errors are problems like any other (403 four eyes, 409 a state
that does not allow the step or a base that changed, 422 a form value that cannot be written).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, url_for

from ..decisions import localized
from ..errors import PLAIN_TEXT
from ..workbench import READERS, Workbench, form_fields
from ..workbench import impact as impacts
from . import workbench_schemas as w
from .openapi import PATH_PARAMETERS, Success
from .plumbing import language, operation, respond

blueprint = Blueprint("workbench", __name__, url_prefix="/v1")
PATH_PARAMETERS.setdefault("draft_id", {"type": "string", "minLength": 1, "maxLength": 32,
                                        "pattern": PLAIN_TEXT})
PATH_PARAMETERS.setdefault("run_id", {"type": "string", "minLength": 1, "maxLength": 32,
                                      "pattern": PLAIN_TEXT})
EDITS = (404, 409, 422)


def workbench() -> Workbench:
    return current_app.extensions["decisions.workbench"]


def _shown(draft: dict) -> dict:
    return {**draft, "base_changed": workbench().base_changes(draft),
            "form": form_fields(draft["content"]), "diff": Workbench.diff(draft)}


def _draft(draft: dict, status: int = 200) -> Response:
    headers = {"Location": url_for("workbench.get_draft", draft_id=draft["draft_id"])} \
        if status == 201 else None
    return respond(w.DraftSchema, _shown(draft), status, headers=headers)


@blueprint.post("/drafts")
@operation("Start a draft of a new ruleset version", "workbench", {
    201: Success(w.DraftSchema, "The draft, checked")}, roles=("author",),
    body=w.DraftCreateSchema, problems=EDITS,
    description="From the version in force today (its whole text and its case file, with the "
                "new version name and first day), or, for a ruleset that does not exist, from "
                "`path` and `content`. The draft is kept in the database, never in the ruleset "
                "folder, and checked at once (`check`).")
def create_draft(body: dict) -> Response:
    draft = workbench().create(g.caller, body["ruleset"], body["effective_from"],
                               body.get("version"), body.get("reason", ""), body.get("path"),
                               body.get("content"))
    return _draft(draft, 201)


@blueprint.get("/drafts")
@operation("List the drafts", "workbench", {200: Success(w.DraftListSchema, "The drafts, "
                                                         "the latest changed first")},
           roles=READERS, query=w.DraftQuerySchema)
def list_drafts(query: dict) -> Response:
    states = (query["state"],) if "state" in query else None
    return respond(w.DraftListSchema, {"items": workbench().list(g.caller, states)})


@blueprint.get("/drafts/<draft_id>")
@operation("Read a draft", "workbench", {200: Success(w.DraftSchema, "Its texts, its last "
                                                      "check, its form fields and its diff")},
           roles=READERS, problems=(404,))
def get_draft(draft_id: str) -> Response:
    return _draft(workbench().get(g.caller, draft_id))


@blueprint.put("/drafts/<draft_id>")
@operation("Save a draft", "workbench", {200: Success(w.DraftSchema, "Saved and checked")},
           roles=("author",), body=w.DraftSaveSchema, problems=(403, *EDITS),
           description="The whole texts, and/or form values (`fields`, keys as in `form`) "
                       "written back where they stand in the text. Every save is checked: a "
                       "draft that does not check is saved, but cannot be submitted. Only its "
                       "author edits a draft, while it is a draft, returned or refused.")
def save_draft(draft_id: str, body: dict) -> Response:
    return _draft(workbench().save(g.caller, draft_id, content=body.get("content"),
                                   cases_content=body.get("cases_content"),
                                   form=body.get("fields_"), reason=body.get("reason", "")))


@blueprint.post("/drafts/<draft_id>/try")
@operation("Decide a profile with the draft and with the version in force", "workbench", {
    200: Success(w.TrySchema, "Both decisions side by side, each explained (or its problem)")},
    roles=("author", "review"), body=w.TryRequestSchema, problems=(404,),
    description="Nothing is logged: neither decision is about a candidate. Texts follow "
                "Accept-Language.")
def try_draft(draft_id: str, body: dict) -> Response:
    lang = language()
    sides = workbench().try_profile(g.caller, draft_id, body["facts"], body["as_of"])
    return respond(w.TrySchema, {name: ({"decision": localized(side["decision"], lang)}
                                        if "decision" in side else side)
                                 for name, side in sides.items()}, lang=lang)


@blueprint.post("/drafts/<draft_id>/cases")
@operation("Add a case to the draft's case file", "workbench", {
    200: Success(w.DraftSchema, "Saved and checked")}, roles=("author",),
    body=w.CaseRequestSchema, problems=(403, *EDITS),
    description="The expected values are the author's, as stated in `expect` (never taken "
                "from the engine by this call).")
def add_case(draft_id: str, body: dict) -> Response:
    return _draft(workbench().add_case(g.caller, draft_id, body["name"], body["facts"],
                                       body["as_of"], body["expect"], body.get("reason", ""),
                                       body.get("replaces")))


@blueprint.post("/drafts/<draft_id>/cover")
@operation("Decide the base version's cases on the draft's first day too", "workbench", {
    200: Success(w.DraftSchema, "Saved and checked: the cases the draft changes fail")},
    roles=("author",), problems=(403, *EDITS))
def cover_draft(draft_id: str) -> Response:
    return _draft(workbench().cover(g.caller, draft_id))


@blueprint.post("/drafts/<draft_id>/update")
@operation("Bring a draft up to date with the live ruleset folder", "workbench", {
    200: Success(w.DraftSchema, "Merged onto what is live now, and checked")},
    roles=("author",), problems=(403, *EDITS),
    description="A three-way merge of the draft's changes onto the version in force now and "
                "the case file as it is now; lines both changed keep conflict markers, and the "
                "draft does not check until they are resolved.")
def update_draft(draft_id: str) -> Response:
    return _draft(workbench().bring_up_to_date(g.caller, draft_id))


@blueprint.post("/drafts/<draft_id>/submit")
@operation("Submit a draft for review", "workbench", {200: Success(w.DraftSchema, "Submitted")},
           roles=("author",), body=w.ReasonSchema, problems=(403, *EDITS))
def submit_draft(draft_id: str, body: dict) -> Response:
    return _draft(workbench().submit(g.caller, draft_id, body["reason"]))


@blueprint.post("/drafts/<draft_id>/review")
@operation("Approve a draft, or return it to its author", "workbench", {
    200: Success(w.DraftSchema, "Approved or returned")}, roles=("review",),
    body=w.ReviewSchema, problems=(403, *EDITS),
    description="Four eyes: the author of a draft never reviews it (403). Returning needs a "
                "comment.")
def review_draft(draft_id: str, body: dict) -> Response:
    return _draft(workbench().review(g.caller, draft_id, body["decision"] == "approve",
                                     body.get("comment", "")))


@blueprint.post("/drafts/<draft_id>/publish")
@operation("Publish an approved draft", "workbench", {200: Success(w.DraftSchema, "Published: "
                                                                   "the service uses it")},
           roles=("review", "admin"), body=w.OptionalReasonSchema, problems=(403, *EDITS),
           description="Writes the version file and the case file into the ruleset folder and "
                       "reloads safely (every file loads, every case passes, full coverage); "
                       "a refused reload puts the folder back as it was (409, recorded). "
                       "Committed to git when the folder is a repository. A draft whose base "
                       "changed since it started is refused (409): bring it up to date.")
def publish_draft(draft_id: str, body: dict) -> Response:
    return _draft(workbench().publish(g.caller, draft_id, body.get("reason", "")))


def _run(run: dict) -> dict:
    return {**run, "state": impacts.state_of(run), "report": impacts.report_of(run)}


@blueprint.post("/drafts/<draft_id>/impact")
@operation("Start an impact run of a draft", "workbench", {
    202: Success(w.ImpactRunSchema, "Started: follow it at Location")},
    roles=("author", "review"), body=w.ImpactRequestSchema, problems=EDITS,
    description="The draft against the version it started from over its cases, a pool "
                "generated as of its first day (`pool`) and the latest logged decisions of its "
                "ruleset or of one that includes it (`log`, role audit too), every including "
                "ruleset tallied as well. It runs in the background; its progress is kept.")
def start_impact(draft_id: str, body: dict) -> Response:
    run_id = workbench().start_impact(g.caller, draft_id, body["pool"], body["log"],
                                      body["stored_pool"])
    run = workbench().impact_run(g.caller, draft_id, run_id)
    return respond(w.ImpactRunSchema, _run(run), 202, headers={"Location": url_for(
        "workbench.get_impact", draft_id=draft_id, run_id=run_id)})


@blueprint.get("/drafts/<draft_id>/impact/<run_id>")
@operation("Read an impact run", "workbench", {200: Success(w.ImpactRunSchema, "Its progress, "
                                                            "and its report when done")},
           roles=READERS, problems=(404,))
def get_impact(draft_id: str, run_id: str) -> Response:
    return respond(w.ImpactRunSchema, _run(workbench().impact_run(g.caller, draft_id, run_id)))


@blueprint.get("/drafts/<draft_id>/trail")
@operation("Read a draft's trail", "workbench", {200: Success(w.TrailSchema, "Every step, in "
                                                              "order, hash-chained")},
           roles=READERS, problems=(404,))
def draft_trail(draft_id: str) -> Response:
    workbench().get(g.caller, draft_id)
    return respond(w.TrailSchema, {"items": workbench().trail(g.caller, draft_id)})


@blueprint.get("/trail")
@operation("Read the workbench's trail", "workbench", {200: Success(w.TrailSchema, "The latest "
                                                                    "500 steps of every draft")},
           roles=("audit",))
def trail() -> Response:
    return respond(w.TrailSchema, {"items": workbench().trail(g.caller)})
