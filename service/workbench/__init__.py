"""Workbench: where policy staff change a ruleset in the browser, four eyes. Drafts of ruleset
versions kept in the database, edited as text or through form fields written back into the text
(``edits``); every save checked as `decisions check` and `decisions test` check, on a copy of
the live folder with the draft in it (``checking``); a profile decided with the draft and with
the version in force; the impact over cases, a pool and the log (``impact``); submit, review,
publish through the service's safe reload, and a hash-chained trail of every step (``drafts``,
``store.workbench``). It uses rulesets, checks, draws, the store and the live service; the API
and the pages call it. No Flask here."""

from .drafts import (
    AUTHOR,
    EDITABLE,
    PUBLISHERS,
    READERS,
    REVIEW,
    STATES,
    BaseChangedError,
    DraftInvalidError,
    DraftNotFoundError,
    DraftStateError,
    FourEyesError,
    PublishRefusedError,
    RoleError,
    Workbench,
    new_ruleset_text,
)
from .edits import EditError, FormField, form_fields

__all__ = ["AUTHOR", "EDITABLE", "PUBLISHERS", "READERS", "REVIEW", "STATES",
           "BaseChangedError", "DraftInvalidError", "DraftNotFoundError", "DraftStateError",
           "EditError", "FormField", "FourEyesError", "PublishRefusedError", "RoleError",
           "Workbench", "form_fields", "new_ruleset_text"]
