"""Results as JSON and CSV: one precision for every output (CLI files, the HTTP service)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SIGNIFICANT_DIGITS = 6  # of a float written as JSON or CSV


def json_value(value: Any) -> Any:
    """A table cell as JSON: integers stay integers, missing values (and NaN) are null, floats keep
    SIGNIFICANT_DIGITS significant digits, arrays become nested lists and dicts keep their keys."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.tolist()] if value.ndim else json_value(value.item())
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy integers and bools
        return value.item()
    return value
