"""``POST /v1/predict`` with ``Content-Type: application/json``: ``{"image": "<base64>"}`` for one image,
``{"images": ["<base64>", ...]}`` for a batch (the shape is ``predict_json`` in ``schemas/api.schema.json``).

The service reads the body under the same byte limit as any other first, so the base64 text counts against it
(about 4/3 of the image's size); the decoded images then go the same way as uploaded ones, with the same pixel limit,
answers and errors. Stdlib only.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

FIELDS = ("image", "images")
DATA_URL = re.compile(r"data:[\w.+/-]*(;[\w.+-]+=[\w.+-]+)*;base64,")  # what a browser's FileReader gives


class JsonBodyError(ValueError):
    """A JSON body that is not ``predict_json``: the one-line reason (answered with 400)."""


def json_images(body: bytes) -> tuple[list[tuple[str, bytes]], bool]:
    """The (name, bytes) of each image in a JSON body and whether it is a batch (``images``, even of one)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise JsonBodyError(f"the body is not JSON ({err})") from None
    if not isinstance(document, dict):
        raise JsonBodyError('send a JSON object: {"image": "<base64>"} or {"images": ["<base64>", ...]}')
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise JsonBodyError(f"unknown field {unknown[0]!r}; known: {', '.join(FIELDS)}")
    if len(document) != 1:
        raise JsonBodyError('send either "image" (one) or "images" (a batch)')
    if "image" in document:
        return [("image", _decoded(document["image"], "image"))], False
    images = document["images"]
    if not isinstance(images, list) or not images:
        raise JsonBodyError('"images" must be a non-empty list of base64 strings')
    return [(f"image{n}", _decoded(text, f"images[{n - 1}]")) for n, text in enumerate(images, start=1)], True


def _decoded(text, where: str) -> bytes:
    if not isinstance(text, str):
        raise JsonBodyError(f"{where} must be a base64 string")
    prefix = DATA_URL.match(text)
    payload = "".join(text[prefix.end() if prefix else 0:].split())  # line breaks, as `base64` wraps at 76
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise JsonBodyError(f"{where} is not valid base64") from None
