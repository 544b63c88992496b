"""The API's own documentation: `/openapi.json` and a Swagger UI packaged with the server (nothing from a CDN), for
logged-in callers only: a bearer token, or the dashboard's session."""

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from campuspulse.server.api.auth import current_principal
from campuspulse.server.deps import Db
from campuspulse.server.web.session import SESSION_COOKIE, page_principal

STATIC = "/docs/static"


def describe_refusals(app: FastAPI) -> None:
    """Make the schema say what a 422 of this API holds: the checks of requests answer a list of problems, the
    server's own refusals (a contract rule, a NUL character, a bad value) a sentence, and a refused workbook its
    rows' problems beside it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            refused = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if refused is not None:
                listed = refused["properties"]["detail"]
                refused["properties"]["detail"] = {
                    "anyOf": [{"type": "string"}, listed, {"type": "object"}],
                    "title": "Detail",
                }
                refused["properties"]["problems"] = {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "a refused workbook or file: each row's problem",
                }
        return generate()

    app.openapi = openapi  # type: ignore[method-assign]


def add_api_docs(app: FastAPI) -> None:
    """Serve the schema and the Swagger UI to logged-in callers."""

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request, db: Db) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE)
        current_principal(request, token, db)  # 401 without a valid token or session
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request, db: Db) -> HTMLResponse:
        page_principal(request, db)  # to the login form without a session
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="campuspulse API",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
        )

    app.mount(STATIC, StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)), name="api-docs-static")
