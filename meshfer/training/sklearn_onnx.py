"""Training wing: scikit-learn and mord models (the sklearn framework's kinds, meshfer.training.model_kinds) as
ONNX graphs, through skl2onnx."""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from meshfer.runtime import INPUT_NAME
from meshfer.training.estimators import PerEyeClassifier
from meshfer.training.onnx_graph import ML_OPSET, OPSET, keep_output, per_eye, prepend_log, scatter_classes


def to_onnx(model, shape: tuple[int, ...], calibration: np.ndarray | None = None):
    """The converter's entry (see model_kinds): a trained model (meshfer.training.trained) for rows of ``shape``."""
    n_labels = len(model.card.labels)
    if isinstance(model.estimator, PerEyeClassifier):
        return per_eye(sklearn_to_onnx(model.estimator.estimator_, shape[0] // 2), shape[0] // 2, n_labels)
    return sklearn_to_onnx(model.estimator, shape[0], model.classes, n_labels)


def sklearn_to_onnx(estimator, n_features: int, classes: np.ndarray | None = None, n_labels: int | None = None,
                    log_inputs: float | None = None):
    """A fitted scikit-learn/mord classifier (or pipeline) as an ONNX graph. ``classes``/``n_labels``: where the
    model was trained without some label, its columns are placed among all ``n_labels``. ``log_inputs``: the
    inputs are clipped to [log_inputs, 1] and their logarithm is what the estimator was fitted on."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    _register_logistic_at()
    with _hgb_missing_values_as_int(), warnings.catch_warnings():
        # skl2onnx reads SVC's Platt parameters, which scikit-learn 1.9 marks deprecated with probability=True
        # (kept on purpose, see meshfer.training.estimators._svc).
        warnings.filterwarnings("ignore", message="Attribute `prob[AB]_` was deprecated", category=FutureWarning)
        graph = convert_sklearn(
            estimator, initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
            options={"zipmap": False}, target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
            final_types=None, naming="m_",
        )
    graph = keep_output(graph, "probabilities")
    if log_inputs is not None:
        graph = prepend_log(graph, log_inputs, n_features)
    if classes is not None and n_labels is not None and len(classes) != n_labels:
        graph = scatter_classes(graph, np.asarray(classes, int), n_labels)
    return graph


@contextlib.contextmanager
def _hgb_missing_values_as_int():
    """skl2onnx 1.20 passes HistGradientBoosting's ``missing_go_to_left`` (a bool in scikit-learn 1.9) straight
    into an ONNX integer attribute, which protobuf refuses; cast it where the tree converter hands it over."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def _register_logistic_at() -> None:
    """skl2onnx has no converter for mord's ordinal LogisticAT; its probabilities are differences of sigmoids
    of (threshold - x.w), which is one MatMul, a Sigmoid and one more MatMul + Add."""
    import mord
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxArgMax, OnnxMatMul, OnnxSigmoid, OnnxSub
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    def convert(scope, operator, container):
        est, opv = operator.raw_operator, container.target_opset
        k = len(est.theta_) + 1
        cumulative = OnnxSigmoid(OnnxSub(est.theta_.astype(np.float32)[None, :],
                                         OnnxMatMul(operator.inputs[0], est.coef_.astype(np.float32)[:, None],
                                                    op_version=opv), op_version=opv), op_version=opv)
        # P(y = j) = s_j - s_(j-1), with s_(-1) = 0 and s_(k-1) = 1: a fixed difference matrix and a last-column 1.
        difference = np.eye(k - 1, k, dtype=np.float32) - np.eye(k - 1, k, 1, dtype=np.float32)
        last = np.eye(1, k, k - 1, dtype=np.float32)
        proba = OnnxAdd(OnnxMatMul(cumulative, difference, op_version=opv), last, op_version=opv,
                        output_names=[operator.outputs[1].full_name])
        label = OnnxArgMax(proba, axis=1, keepdims=0, op_version=opv, output_names=[operator.outputs[0].full_name])
        proba.add_to(scope, container)
        label.add_to(scope, container)

    def parse(scope, model, inputs, custom_parsers=None):
        # mord's models are no ClassifierMixin, so skl2onnx's default parser would declare one output.
        operator = scope.declare_local_operator("MordLogisticAT", model)
        operator.inputs = inputs
        operator.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
        operator.outputs.append(scope.declare_local_variable("probabilities", FloatTensorType()))
        return operator.outputs

    def shape(operator):
        n, k = operator.inputs[0].get_first_dimension(), len(operator.raw_operator.theta_) + 1
        operator.outputs[0].type = Int64TensorType([n])
        operator.outputs[1].type = FloatTensorType([n, k])

    update_registered_converter(mord.LogisticAT, "MordLogisticAT", shape, convert, parser=parse,
                                options={"zipmap": [False, True]})
