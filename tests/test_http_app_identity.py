"""What a client can pin a deployment to: the package version in /healthz and /v1/models, and each approach's card
and model file hashes in /v1/models, checked against the files the server loaded (hashed here independently)."""
import hashlib

import pytest

pytest.importorskip("starlette", reason="needs the [serve] extra: pip install 'meshfer[serve]'")

import meshfer  # noqa: E402
from tests.test_http_app import API, client  # noqa: E402, F401 - the module's started client


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_health_and_models_say_the_package_version(client):  # noqa: F811
    health = client.get("/healthz").json()
    API["health"].validate(health)
    assert health == {"status": "ok", "version": meshfer.__version__}
    assert client.get("/v1/models").json()["version"] == meshfer.__version__


def test_models_give_the_hashes_of_the_cards_and_model_files_served(client):  # noqa: F811
    body = client.get("/v1/models").json()
    API["models"].validate(body)
    root = client.app.state.engine.recognizer.models_dir
    assert len(body["approaches"]) >= 2
    for approach in body["approaches"]:
        folder = root / approach["name"]
        assert approach["card_sha256"] == sha256(folder / "card.json")
        model = folder / "model.onnx"
        assert approach["model_sha256"] == (sha256(model) if model.exists() else None)
    assert len({a["card_sha256"] for a in body["approaches"]}) == len(body["approaches"])  # each card its own
