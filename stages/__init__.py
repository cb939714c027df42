"""One small entry module per DVC stage kind (see dvc.yaml); the work is done in meshfer.training.

Python imports this package before any stage module, so params.yaml is checked here, before a stage imports
anything slow: a typo or an impossible value stops the stage at once with one line naming the key.
"""
from meshfer.training.config import PARAMS_FILE, load_params
from meshfer.training.schema import ParamsError

try:
    load_params(PARAMS_FILE)
except (ParamsError, FileNotFoundError) as err:
    raise SystemExit(str(err)) from None
