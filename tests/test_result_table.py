"""meshfer.result_table: the one place the result table's columns, their types and the no-face row's text are
defined (the command line, the API, videos and `predict --dask` all build on it)."""
import numpy as np
import pandas as pd

from meshfer.labels import EXPRESSIONS, NO_FACE_ERROR, NO_FACE_LABEL, probability_columns
from meshfer.recognizer import Recognizer
from meshfer.result_table import PROBA_COLUMNS, result_columns, table_from_parts, unreadable_rows


def test_probability_columns_follow_the_labels_and_a_result_has_them_in_order():
    assert PROBA_COLUMNS == probability_columns(EXPRESSIONS) and probability_columns(["happy"]) == ["p_happy"]
    columns = result_columns(eyes=True)
    assert columns[columns.index("expression_score") + 1:][:len(EXPRESSIONS)] == PROBA_COLUMNS
    assert "left_eye" not in result_columns(eyes=False)


def test_the_no_face_row_text_is_not_the_confusion_label():
    assert NO_FACE_ERROR == "no face found" and NO_FACE_LABEL == "no_face"


def test_parts_become_one_typed_table_with_missing_values_where_a_part_lacks_a_column():
    faces = {"face": [0, 1], "x_min": [1.0, 2.0], "expression": ["happy", "sad"], "error": ["", ""]}
    none = {"error": [NO_FACE_ERROR]}
    table = table_from_parts([faces, none], ["face", "x_min", "expression", "error"])
    assert str(table["face"].dtype) == "Int64" and table["face"].isna().tolist() == [False, False, True]
    assert np.isnan(table.loc[2, "x_min"]) and pd.isna(table.loc[2, "expression"])
    assert table["error"].tolist() == ["", "", NO_FACE_ERROR]


def test_unreadable_rows_leave_out_faces_and_images_without_one():
    table = pd.DataFrame({"path": ["a", "b", "c"], "error": ["", NO_FACE_ERROR, "not an image"]})
    assert unreadable_rows(table)["path"].tolist() == ["c"]


def test_a_recognizer_names_the_columns_its_faces_give_values_for_and_times_its_eye_step_alone(photo):
    from meshfer.features import MeshBatch
    from meshfer.imageio import read_rgb

    rgb = read_rgb(photo)
    with Recognizer(approach="mesh_hgb") as rec:
        faces = rec.predict_faces(rgb)
        assert list(faces.column_values()) == rec.columns and len(faces) >= 1
        meshes = rec.landmarker.detect(rgb)
        batch = MeshBatch(np.stack([f.points for f in meshes]), np.stack([f.blendshapes for f in meshes]),
                          np.stack([f.pose for f in meshes]), [rgb] * len(meshes))
        assert np.allclose(rec.eye_probabilities(batch), faces.eyes)
        assert rec.variant(eyes=False).eye_probabilities(batch) is None
