"""GET /openapi.json: a valid OpenAPI 3.1 document (checked with openapi-spec-validator), built from
meshfer/schemas/, naming every route the app has and every status its code and its answers give."""
import ast
import json
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")
from openapi_spec_validator import validate  # noqa: E402
from starlette.routing import Mount  # noqa: E402

import meshfer  # noqa: E402
import meshfer.http_app  # noqa: E402
from meshfer.http_app import PREDICT_PARAMS, create_app  # noqa: E402
from meshfer.http_settings import ServiceSettings  # noqa: E402
from tests.conftest import schema_validator  # noqa: E402
from tests.test_http_app import LocalClient  # noqa: E402
from tests.test_http_app import started  # noqa: E402

TOKEN = "openapi-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def document() -> dict:
    with LocalClient(create_app(ServiceSettings(token=TOKEN))) as client:
        response = client.get("/openapi.json")  # open without the token, as the page is
    assert response.status_code == 200, response.text
    return response.json()


def test_it_is_valid_openapi_3_1_with_the_package_version(document):
    validate(document)  # raises on any error
    assert document["openapi"].startswith("3.1") and document["info"]["version"] == meshfer.__version__


def test_its_schemas_are_the_schema_files_own(document):
    """One source: every $defs entry of api.schema.json is a component, unchanged but for its references."""
    api = json.loads((Path(meshfer.__file__).parent / "schemas" / "api.schema.json").read_text())
    components = document["components"]["schemas"]
    assert set(api["$defs"]) | {"face_columns"} == set(components)
    assert json.dumps(api["$defs"]["models"]) == json.dumps(components["models"])  # no reference inside
    assert components["face"]["$ref"] == "#/components/schemas/face_columns"
    text = json.dumps(document)
    assert '"$ref": "#/$defs/' not in text and "schema.json" not in text


def _documented_paths(app) -> set[str]:
    paths = set()
    for route in app.routes:
        paths.add(route.path + "/{path}" if isinstance(route, Mount) else route.path.replace(":path}", "}"))
    return paths


def test_every_route_of_the_app_is_documented_and_nothing_else(document):
    assert _documented_paths(create_app()) == set(document["paths"])
    predict = document["paths"]["/v1/predict"]["post"]
    assert {p["name"] for p in predict["parameters"]} == PREDICT_PARAMS
    assert {"image/*", "multipart/form-data", "application/json"} <= set(predict["requestBody"]["content"])


def _raised_statuses() -> set[str]:
    """Every status the service's code raises: ApiError(N, ...) and busy(...) (503)."""
    tree = ast.parse(Path(meshfer.http_app.__file__).read_text())
    statuses = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "ApiError" and node.args and isinstance(node.args[0], ast.Constant):
                statuses.add(str(node.args[0].value))
            elif node.func.id == "busy":
                statuses.add("503")
    return statuses


def test_every_error_status_the_code_raises_is_documented(document):
    raised = _raised_statuses()
    assert {"400", "401", "413", "415", "503"} <= raised  # the scan finds what it should
    documented = {status for item in document["paths"].values() for operation in item.values()
                  for status in operation["responses"]}
    assert raised <= documented, raised - documented


def _check_documented(document: dict, response, method: str, path: str, status: str) -> None:
    """The answer has the status expected, the document lists it for the route, and the body is of the shape the
    document names for it."""
    assert str(response.status_code) == status, (path, response.text)
    documented = document["paths"][path][method]["responses"]
    assert status in documented, (path, status)
    component = documented[status]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema_validator("api.schema.json", component).validate(response.json())


def test_each_status_a_loading_server_answers_is_documented_for_its_route(document):
    client = LocalClient(create_app(ServiceSettings(token=TOKEN)))  # not started: the models are "loading"
    for path, headers, status in (("/v1/models", {}, "401"), ("/metrics", {}, "401"), ("/v1/models", AUTH, "503"),
                                  ("/healthz", {}, "503")):
        _check_documented(document, client.get(path, headers=headers), "get", path, status)


def test_each_status_predict_answers_is_documented(document):
    client = started(ServiceSettings(token=TOKEN, max_upload_bytes=2000))
    try:
        cases = [("image/png", b"x" * 3000, "", "413"), ("text/plain", b"x", "", "415"),
                 ("image/png", b"not an image", "", "415"), ("image/png", b"x", "?num_faces=0", "400"),
                 ("application/json", b"{", "", "400"), ("application/json", b'{"image": "!"}', "", "400")]
        for content_type, body, query, status in cases:
            response = client.post(f"/v1/predict{query}", content=body,
                                   headers={**AUTH, "Content-Type": content_type})
            _check_documented(document, response, "post", "/v1/predict", status)
    finally:
        client.__exit__(None, None, None)
