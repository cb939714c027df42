"""`make quick`: the whole pipeline as the DVC experiment `quick`, on the small subset params_quick.yaml names.

Runs in the workspace (its outputs and params stay there, as after any `dvc exp run`). Sweep on top of it:
`dvc exp apply quick`, then `dvc exp run --queue -S 'pca_svm.model.C=1,5,10'` and `dvc queue start`.
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from meshfer.training.config import PARAMS_FILE, load_params, quick_overrides, with_overrides  # noqa: E402
from meshfer.training.schema import ParamsError, check_params  # noqa: E402

NAME = "quick"


def main() -> None:
    overrides = quick_overrides()
    try:
        check_params(with_overrides(load_params(PARAMS_FILE), overrides))
    except (ParamsError, KeyError) as err:
        raise SystemExit(f"quick: {err}") from None
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "exp", "remove", NAME], capture_output=True)  # a previous quick look, if any
    flags = [f"-S{key}={json.dumps(value)}" for key, value in overrides.items()]
    raise SystemExit(subprocess.run([*dvc, "exp", "run", "-n", NAME, *flags, *sys.argv[1:]]).returncode)


if __name__ == "__main__":
    main()
