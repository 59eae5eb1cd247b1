"""The server's OpenAPI schema, fuzzed by schemathesis: no input ever gets a 5xx.

Every operation of /openapi.json gets schema-driven requests (random multipart fields, random
bytes for the image and mask files, random box JSON and model names) through the ASGI app
itself, in process. The examples per operation follow the hypothesis profile (conftest.py:
300, derandomised, in CI; HYPOTHESIS_PROFILE=long for 5,000).
"""

from __future__ import annotations

import schemathesis
from schemathesis.checks import not_a_server_error

from photorecon.serve.app import create_app

APP = create_app(max_upload_mb=1, default_model="telea", timeout=30)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
def test_no_server_errors(case) -> None:
    response = case.call()
    assert response.status_code < 500, (response.status_code, response.text[:200])
    case.validate_response(response, checks=[not_a_server_error])
