"""The models page (`/dashboard/models`): the latest evaluation report as a leaderboard,
and every registry version of every task, with which one serves, is active and is newest.

Read-only by design: activating a model needs an API key, so the page says which endpoint
to call instead of offering a button.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shopsense.serve import api
from shopsense.serve.dashboard.leaderboard import latest_leaderboard
from shopsense.serve.dashboard.render import page, page_router, problem, service_state
from shopsense.serve.schemas import ModelVersionOut

router = page_router()


@router.get("/models", response_class=HTMLResponse)
def models(request: Request) -> Response:
    """The latest evaluation report and every registry version."""
    state = service_state(request)
    trouble = None
    try:
        board = latest_leaderboard(state.settings.reports_dir)
    except (OSError, ValueError, TypeError, AttributeError) as e:  # not a report: say so, go on
        board, trouble = None, f"The latest evaluation report could not be read: {e}"
    try:
        versions = api._versions(state)
    except (OSError, ValueError) as e:  # e.g. active.json names a deleted version
        return problem(request, 500, f"The model registry could not be read: {e}")
    return page(
        request,
        "models.html",
        "Models",
        board=board,
        problem=trouble,
        versions=versions,
        # never the request's Host header: a forged Host would be printed into the page
        base_url=(state.settings.public_url or "$SHOPSENSE_URL").rstrip("/"),
        example=_example(versions),
    )


def _example(versions: list[ModelVersionOut]) -> ModelVersionOut | None:
    """A recommender version to show the activation call with (the API activates
    recommenders): one not active, else any."""
    recommenders = [v for v in versions if v.task == "recommend"]
    return next(
        (v for v in recommenders if not v.active), recommenders[0] if recommenders else None
    )
