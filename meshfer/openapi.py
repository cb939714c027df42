"""``GET /openapi.json``: the HTTP API described as OpenAPI 3.1, built from ``meshfer/schemas/`` (the one source of
the bodies' shapes; the tests validate real answers against the same files).

OpenAPI 3.1's schema dialect is JSON Schema 2020-12, the schemas' own, so they are embedded as they are: each
``$defs`` entry of ``api.schema.json`` becomes a component, ``face.schema.json`` the component ``face_columns``, and
their references are rewritten to point there. What this module adds by hand is only what the schemas cannot say:
which route takes and answers what, with which statuses. Stdlib only.
"""
from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import meshfer

SCHEMA_FILES = {"api.schema.json": None, "face.schema.json": "face_columns"}  # None: one component per $defs entry
COMPONENTS = "#/components/schemas/"
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}

# What each status means on this API; every error body is the `error` component.
ERRORS = {
    "400": "a bad query parameter or JSON body (the message names it)",
    "401": "missing or wrong token (send `Authorization: Bearer TOKEN`)",
    "413": "body, image count or pixels over the server's limits",
    "403": "a foreign Origin (another website's page) or Host (DNS rebinding): see --cors-origin and --host",
    "404": "no such file (device mode's files are served by name only)",
    "408": "the upload sent nothing for --read-timeout seconds",
    "415": "not a readable image, or a content type the route does not take",
    "503": "the models are still loading, or too many requests wait (see Retry-After)",
    "default": "404 unknown path, 405 wrong method, 500 internal error (logged on the server, never a traceback)",
}


def _point_at_components(node: Any) -> Any:
    """A copy of a schema whose ``$ref`` values name components instead of files and ``$defs``."""
    if isinstance(node, list):
        return [_point_at_components(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("$schema", "$id"):
            continue
        if key == "$ref":
            file, _, fragment = value.partition("#")
            value = COMPONENTS + (SCHEMA_FILES[file] if file else fragment.removeprefix("/$defs/"))
        out[key] = _point_at_components(value)
    return out


def components() -> dict[str, dict]:
    """Every schema the API uses, by component name."""
    folder = resources.files("meshfer") / "schemas"
    out = {}
    for file, single in SCHEMA_FILES.items():
        schema = _point_at_components(json.loads((folder / file).read_text(encoding="utf-8")))
        if single:
            out[single] = schema
        else:
            out.update(schema["$defs"])
    return out


def _json(component: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": COMPONENTS + component}}}}


def _errors(*statuses: str) -> dict:
    return {status: _json("error", ERRORS[status]) for status in (*statuses, "default")}


def _query_parameters(schemas: dict[str, dict]) -> list[dict]:
    """``predict_query``'s properties as OpenAPI query parameters."""
    return [{"name": name, "in": "query", "required": False, "schema": schema,
             "description": schema.get("description", "")}
            for name, schema in schemas["predict_query"]["properties"].items()]


def paths(schemas: dict[str, dict]) -> dict[str, dict]:
    """Every route of ``meshfer serve`` (tests/test_openapi.py checks the app has no other)."""
    query = _query_parameters(schemas)
    return {
        "/": {"get": {"summary": "the web page", "security": [],
                      "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
        "/static/{path}": {"get": {
            "summary": "the web page's files (nothing outside them)", "security": [],
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file"}, **_errors()}}},
        "/device/{path}": {"get": {
            "summary": "device mode's files by name (meshfer.device_site): models/index.json, the model files, the "
                       "landmarker; nothing else", "security": [],
            "parameters": [{"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file"}, **_errors("404", "503")}}},
        "/healthz": {"get": {"summary": "whether this worker's models are loaded", "security": [],
                             "responses": {"200": _json("health", "ready"),
                                           "503": _json("health", "still loading, or why the models failed"),
                                           "default": _errors()["default"]}}},
        "/openapi.json": {"get": {"summary": "this document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {}}}, **_errors()}}},
        "/v1/models": {"get": {"summary": "the approaches served, their cards and the limits",
                               "responses": {"200": _json("models", "the models"), **_errors("401", "503")}}},
        "/v1/predict": {"post": {
            "summary": "faces, expressions and eye states in one image or a batch",
            "parameters": query,
            "requestBody": {"required": True, "content": {
                "image/*": {"schema": BINARY},
                "application/octet-stream": {"schema": BINARY},
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["image"],
                    "properties": {"image": {"type": "array", "items": BINARY,
                                             "description": "one field per image; several make a batch"}}}},
                "application/json": {"schema": {"$ref": COMPONENTS + "predict_json"}}}},
            "responses": {"200": {"description": "one image's faces, or a batch's results", "content": {
                "application/json": {"schema": {"oneOf": [{"$ref": COMPONENTS + "predict"},
                                                          {"$ref": COMPONENTS + "batch"}]}}}},
                          **_errors("400", "401", "403", "408", "413", "415", "503")}}},
        "/v1/stream": {"get": {
            "summary": "WebSocket: frames in as binary messages, one `stream_message` out per frame analysed",
            "description": "Not plain HTTP: upgrade to a WebSocket. The token may come as `?token=` (a browser "
                           "cannot set headers there). A refused stream gets one `stream_message` with `error` and "
                           "`status` (400, 401 or 503), then closes with code 1008.",
            "parameters": [*query, {"name": "token", "in": "query", "required": False,
                                                         "schema": {"type": "string"}}],
            "responses": {"101": {"description": "switching to the WebSocket protocol; messages: stream_message",
                                  "content": {"application/json": {"schema": {
                                      "$ref": COMPONENTS + "stream_message"}}}}, **_errors()}}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics of every worker (text exposition format)",
            "responses": {"200": {"description": "requests by route and status, latency, queue depth, dropped "
                                                 "stream frames, models loaded",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}},
                          **_errors("401")}}},
    }


@cache
def openapi_document() -> dict:
    """The whole OpenAPI 3.1 document (built once per process)."""
    schemas = components()
    return {
        "openapi": "3.1.0",
        "info": {"title": "meshfer serve", "version": meshfer.__version__,
                 "description": "Facial expressions and eye closeness from MediaPipe face meshes. Every error is "
                                "`{\"error\": \"one line\"}` with its status."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {}],  # the token, when the server has one; open routes say []
        "paths": paths(schemas),
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "the server's --token, when it has one"}}},
    }
