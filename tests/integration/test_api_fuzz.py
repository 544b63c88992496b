"""Schemathesis against the server's own OpenAPI schema: no generated request gets a 5xx, and every answer of
success has the shape the schema describes (every endpoint names its answer's model).

Bounded for CI (12 examples per operation); `CAMPUSPULSE_FUZZ_EXAMPLES=200` runs a longer search.

The app is built once for the module on a SQLite store, because the schema must exist when pytest collects.
"""

import os
import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN, provision

_dir = tempfile.TemporaryDirectory(prefix="campuspulse-fuzz-")
app = create_app(f"sqlite:///{Path(_dir.name) / 'store.db'}", admin_token=TOKEN)
with TestClient(app) as _c:
    provision(_c)  # a school, an agent, a device and a day, so that some generated ids exist
    _c.put("/api/v1/schools/s1/rooms/lab1", json={"name": "lab", "type": "physics_lab"}, headers=AUTH)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)  # the schema is for callers only


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("CAMPUSPULSE_FUZZ_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error_and_every_answer_has_its_schemas_shape(case):
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error, response_schema_conformance])
