"""Live: the service as it runs. The rulesets in use and their decider, swapped together on a
safe reload (``Rules``); every decision logged before it is answered; replay, kept versions and
readiness (``DecisionService``). What the web views, the pages and ``decisions serve`` call; it
knows nothing of HTTP."""

from .decision_service import (
    MASTER_PID_ENV,
    DecisionNotFoundError,
    DecisionRequest,
    DecisionService,
    IdempotencyKeyReusedError,
    ReloadRemovesError,
    ReplayUnavailableError,
    Rules,
    removal_refused,
    version_status,
)

__all__ = ["MASTER_PID_ENV", "DecisionNotFoundError", "DecisionRequest", "DecisionService",
           "IdempotencyKeyReusedError", "ReloadRemovesError", "ReplayUnavailableError", "Rules",
           "removal_refused", "version_status"]
