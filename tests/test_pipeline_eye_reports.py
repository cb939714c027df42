"""The quick pipeline run's eye reports (the session's `pipeline_project`, shared with test_pipeline_e2e): per
annotator where labels.csv names one, and the blind re-labelling's faces that fall in validation or test."""
import json

import pandas as pd
import yaml


def test_eye_reports_name_each_annotator_and_score_the_agreement_faces(pipeline_project):
    dest, _, _ = pipeline_project
    params = yaml.safe_load((dest / "params.yaml").read_text())
    eyes = [a for a, d in params["approaches"].items() if params["datasets"][d]["task"] == "eyes"]
    fer_root = dest / params["datasets"]["eyes"]["more_roots"][0]["root"]
    annotators = set(pd.read_csv(fer_root / "labels.csv")["annotator"])
    assert "eyes_ordinal" in eyes
    for approach in eyes:
        report = json.loads((dest / "metrics" / "reports" / f"{approach}.json").read_text())
        for split in ("validation", "test"):
            parts = report["by_annotator"][split]
            assert set(parts) <= {f"annotator {a}" for a in annotators} and parts
            for part in parts.values():
                low, high = part["accuracy_ci95"]
                assert low <= part["accuracy"] <= high
                assert sum(sum(row.values()) for row in part["confusion"].values()) == part["images"]
        agreement = report["agreement"]
        assert agreement["faces_listed"] == 160
        assert agreement["validation+test"]["faces"] == agreement["faces_in_validation_or_test"] == \
            agreement["validation"]["faces"] + agreement["test"]["faces"]
