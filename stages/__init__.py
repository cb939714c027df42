"""One small entry module per DVC stage kind (see dvc.yaml); the work is done in meshfer.training.

Python imports this package before any stage module, so params.yaml is checked here, before a stage imports
anything slow: a typo or an impossible value stops the stage at once with one line naming the key. So is
stages/approaches.yaml, from which dvc.yaml takes each approach's model code: written from params.yaml by
`make stage-deps`, it must say what params.yaml says.
"""
from pathlib import Path

import yaml

from meshfer.training.config import PARAMS_FILE, load_params
from meshfer.training.model_kinds import approach_code
from meshfer.training.schema import ParamsError

APPROACHES_FILE = Path(__file__).with_name("approaches.yaml")

try:
    _params = load_params(PARAMS_FILE)
except (ParamsError, FileNotFoundError) as err:
    raise SystemExit(str(err)) from None
if (yaml.safe_load(APPROACHES_FILE.read_text(encoding="utf-8")) or {}).get("approach_code") != approach_code(_params):
    raise SystemExit(f"{APPROACHES_FILE.name} does not match params.yaml's approaches and model kinds: "
                     "run `make stage-deps`, then `dvc repro`")
