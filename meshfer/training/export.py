"""Training wing: turn a trained model into the one ONNX file serving runs, and prove they agree.

Every exported graph has one input, ``features`` (float32, (N, F): the rows of the model's feature kind), and one
output, ``probabilities`` (float32, (N, labels); the per-eye model (N, 2, labels)). scikit-learn and mord models go
through skl2onnx, Keras networks through tf2onnx. The bytes depend only on the model: re-exporting an unchanged
model writes an identical file.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np

import meshfer
from meshfer.training.estimators import KERAS_FILE, PerEyeClassifier, TrainedModel
from meshfer.runtime import INPUT_NAME, OUTPUT_NAME

log = logging.getLogger(__name__)

OPSET = 17  # the default domain; ai.onnx.ml below. Both run on onnxruntime >= 1.14.
ML_OPSET = 3


def export_onnx(model: TrainedModel, n_features: int | tuple[int, ...], calibration: np.ndarray | None = None):
    """The ONNX graph of a trained model (an ``onnx.ModelProto``) for feature rows of ``n_features``.

    A network whose params say ``quantize: int8`` is quantised (weights and activations, 8 bit), its ranges
    calibrated on ``calibration`` rows (training faces)."""
    shape = (n_features,) if isinstance(n_features, int) else tuple(n_features)
    n_labels = len(model.card.labels)
    if model.card.format == KERAS_FILE:
        graph = _keras_to_onnx(model.estimator.model, shape)
        if model.card.model_params.get("quantize") == "int8":
            if calibration is None or not len(calibration):
                raise ValueError(f"{model.card.approach}: int8 quantisation needs calibration rows")
            graph = _quantize_int8(graph, calibration)
    elif isinstance(model.estimator, PerEyeClassifier):
        graph = _per_eye(sklearn_to_onnx(model.estimator.estimator_, shape[0] // 2), shape[0] // 2, n_labels)
    else:
        graph = sklearn_to_onnx(model.estimator, shape[0], model.classes, n_labels)
    return finish(graph, model.card.approach)


def save_onnx(graph, path: Path) -> None:
    path.write_bytes(graph.SerializeToString(deterministic=True))


def parity(model: TrainedModel, exported, X: np.ndarray, batch: int = 1024) -> dict:
    """How far the exported file (a :class:`meshfer.runtime.InferenceModel`) is from the trained model on X:
    the share of rows whose most probable label is the same, and the largest probability difference."""
    if not len(X):
        return {"rows": 0, "argmax_agreement": 1.0, "max_abs_probability_difference": 0.0}
    agree, worst = 0, 0.0
    for start in range(0, len(X), batch):
        rows = X[start:start + batch]
        trained = model.predict_proba(rows)
        served = exported.predict_proba(rows)
        if served.ndim == 3:  # per eye: the trained model's face-level probability is the mean of both eyes
            served = served.mean(axis=1)
        agree += int((trained.argmax(axis=1) == served.argmax(axis=1)).sum())
        worst = max(worst, float(np.abs(trained - served).max()))
    return {"rows": int(len(X)), "argmax_agreement": round(agree / len(X), 6),
            "max_abs_probability_difference": float(f"{worst:.3g}")}


def converter_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"opset": OPSET, "ai.onnx.ml": ML_OPSET}
    for name in ("onnx", "skl2onnx", "tf2onnx", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    return versions


# --- scikit-learn and mord -------------------------------------------------------------------------------------
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
    graph = _keep_output(graph, "probabilities")
    if log_inputs is not None:
        graph = _log_inputs(graph, log_inputs, n_features)
    if classes is not None and n_labels is not None and len(classes) != n_labels:
        graph = _scatter_classes(graph, np.asarray(classes, int), n_labels)
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


# --- Keras -----------------------------------------------------------------------------------------------------
def _keras_to_onnx(network, shape: tuple[int, ...]):
    from meshfer.training.networks import NETWORKS, network_module, tensorflow

    tf = tensorflow()
    import tf2onnx

    kind = next(k for k in NETWORKS if isinstance(network, network_module(k).model_class()))
    twin = getattr(network_module(kind), "export_twin", lambda m: m)(network)
    spec = (tf.TensorSpec((None, *shape), tf.float32, name=INPUT_NAME),)
    graph, _ = tf2onnx.convert.from_keras(twin, input_signature=spec, opset=OPSET)
    return _rename_output(graph, graph.graph.output[0].name, OUTPUT_NAME)


def _quantize_int8(graph, calibration: np.ndarray, batch: int = 64):
    """onnxruntime's static quantisation: int8 weights per output channel, uint8 activations whose ranges are the
    min/max seen on the calibration rows; QDQ format, which runs on any onnxruntime build. Only convolutions and
    matrix products are quantised: the raw input row holds pixels in [0, 1] beside mesh coordinates whose
    expression signal is a few hundredths, which one 8-bit scale for the whole row would erase; those ops see
    pixels or standardised activations."""
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Rows(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.array_split(calibration.astype(np.float32), max(1, len(calibration) // batch)))

        def get_next(self):
            rows = next(self.batches, None)
            return None if rows is None else {INPUT_NAME: rows}

    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, target = (Path(tmp) / name for name in ("float.onnx", "prepared.onnx", "int8.onnx"))
        save_onnx(graph, source)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(target), Rows(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"])
        return onnx.load(str(target))


# --- graph plumbing --------------------------------------------------------------------------------------------
def _keep_output(graph, name: str):
    """Drop every graph output but ``name`` (skl2onnx classifiers also output the label)."""
    import onnx

    kept = [o for o in graph.graph.output if o.name == name]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    return onnx.utils.Extractor(graph).extract_model([i.name for i in graph.graph.input], [name])


def _rename_output(graph, old: str, new: str):
    for node in graph.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
    for output in graph.graph.output:
        if output.name == old:
            output.name = new
    return graph


def _append(graph, nodes: list, initializers: list, output_shape: list):
    """Append nodes that turn the graph's output into a new output called OUTPUT_NAME."""
    from onnx import TensorProto, helper

    old = graph.graph.output[0].name
    _rename_output(graph, old, "pre_" + OUTPUT_NAME)
    for node in nodes:
        node.input[:] = ["pre_" + OUTPUT_NAME if i == "<out>" else i for i in node.input]
    graph.graph.node.extend(nodes)
    graph.graph.initializer.extend(initializers)
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, output_shape))
    return graph


def _per_eye(graph, half: int, n_labels: int):
    """Wrap a one-eye model: a face row (both eyes' features) is reshaped to two rows, and the output to
    (faces, 2, labels)."""
    from onnx import helper, numpy_helper

    _rename_input(graph, INPUT_NAME, "one_eye_features")
    graph.graph.node.insert(0, helper.make_node("Reshape", [INPUT_NAME, "per_eye_shape"], ["one_eye_features"]))
    graph.graph.input[0].CopyFrom(helper.make_tensor_value_info(INPUT_NAME, 1, [None, 2 * half]))
    nodes = [helper.make_node("Reshape", ["<out>", "per_face_shape"], [OUTPUT_NAME])]
    shapes = [numpy_helper.from_array(np.array([-1, half], np.int64), "per_eye_shape"),
              numpy_helper.from_array(np.array([-1, 2, n_labels], np.int64), "per_face_shape")]
    return _append(graph, nodes, shapes, [None, 2, n_labels])


def _rename_input(graph, old: str, new: str):
    for node in graph.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
    return graph


def _scatter_classes(graph, classes: np.ndarray, n_labels: int):
    """A model trained without some label (tiny subsets) outputs fewer columns: place them by a 0/1 matrix."""
    from onnx import helper, numpy_helper

    placement = np.zeros((len(classes), n_labels), np.float32)
    placement[np.arange(len(classes)), classes] = 1
    nodes = [helper.make_node("MatMul", ["<out>", "class_placement"], [OUTPUT_NAME])]
    return _append(graph, nodes, [numpy_helper.from_array(placement, "class_placement")], [None, n_labels])


def _canonical_names(graph):
    """Name nodes and intermediate tensors by position: converters number them by what the process made before
    (Keras layer counters), which would make the same model export to different bytes."""
    g = graph.graph
    fixed = {v.name for v in (*g.input, *g.output)} | {""}
    names: dict[str, str] = {}

    def canonical(name: str) -> str:
        if name in fixed:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for i, node in enumerate(g.node):
        node.input[:] = [canonical(x) for x in node.input]
        node.output[:] = [canonical(x) for x in node.output]
        node.name = f"{node.op_type}_{i}"
    initializers = sorted(g.initializer, key=lambda t: int(canonical(t.name)[1:]))
    for tensor in initializers:
        tensor.name = canonical(tensor.name)
    del g.initializer[:]
    g.initializer.extend(initializers)
    del g.value_info[:]  # shape annotations of intermediates: optional, and named the old way
    for value in (*g.input, *g.output):
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = "N"
    return graph


def _log_inputs(graph, floor: float, n_features: int):
    """Prepend log(clip(x, floor, 1)) to the graph."""
    from onnx import helper, numpy_helper

    _rename_input(graph, INPUT_NAME, "log_features")
    graph.graph.node.insert(0, helper.make_node("Log", ["clipped_features"], ["log_features"]))
    graph.graph.node.insert(0, helper.make_node("Clip", [INPUT_NAME, "clip_low", "clip_high"], ["clipped_features"]))
    graph.graph.initializer.extend([numpy_helper.from_array(np.array(floor, np.float32), "clip_low"),
                                    numpy_helper.from_array(np.array(1.0, np.float32), "clip_high")])
    graph.graph.input[0].CopyFrom(helper.make_tensor_value_info(INPUT_NAME, 1, [None, n_features]))
    return graph


def finish(graph, name: str):
    """Check the graph and make its bytes depend on nothing but the model."""
    import onnx

    _canonical_names(graph)
    opsets = sorted(graph.opset_import, key=lambda o: o.domain)  # skl2onnx lists them from a set
    del graph.opset_import[:]
    graph.opset_import.extend(opsets)
    graph.producer_name, graph.producer_version = "meshfer", meshfer.__version__
    graph.doc_string, graph.graph.name, graph.graph.doc_string = "", name, ""
    onnx.checker.check_model(graph, full_check=True)
    return graph
