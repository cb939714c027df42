"""Training wing: what every ONNX export shares: the opsets, deterministic bytes, and the graph plumbing that gives
every exported file one input, ``features`` (float32, (N, F): the rows of the model's feature kind), and one output,
``probabilities`` (float32, (N, labels); the per-eye model (N, 2, labels)). The bytes depend only on the model:
re-exporting an unchanged model writes an identical file."""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

import meshfer
from meshfer.runtime import INPUT_NAME, OUTPUT_NAME

OPSET = 17  # the default domain; ai.onnx.ml below. Both run on onnxruntime >= 1.14.
ML_OPSET = 3


def save_onnx(graph, path: Path) -> None:
    path.write_bytes(graph.SerializeToString(deterministic=True))


def converter_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"opset": OPSET, "ai.onnx.ml": ML_OPSET}
    for name in ("onnx", "skl2onnx", "tf2onnx", "onnxruntime"):
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    return versions


def keep_output(graph, name: str):
    """Drop every graph output but ``name`` (skl2onnx classifiers also output the label)."""
    import onnx

    kept = [o for o in graph.graph.output if o.name == name]
    del graph.graph.output[:]
    graph.graph.output.extend(kept)
    return onnx.utils.Extractor(graph).extract_model([i.name for i in graph.graph.input], [name])


def rename_output(graph, old: str, new: str):
    for node in graph.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
    for output in graph.graph.output:
        if output.name == old:
            output.name = new
    return graph


def append_output(graph, nodes: list, initializers: list, output_shape: list):
    """Append nodes that turn the graph's output into a new output called OUTPUT_NAME."""
    from onnx import TensorProto, helper

    old = graph.graph.output[0].name
    rename_output(graph, old, "pre_" + OUTPUT_NAME)
    for node in nodes:
        node.input[:] = ["pre_" + OUTPUT_NAME if i == "<out>" else i for i in node.input]
    graph.graph.node.extend(nodes)
    graph.graph.initializer.extend(initializers)
    del graph.graph.output[:]
    graph.graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, output_shape))
    return graph


def per_eye(graph, half: int, n_labels: int):
    """Wrap a one-eye model: a face row (both eyes' features) is reshaped to two rows, and the output to
    (faces, 2, labels)."""
    from onnx import helper, numpy_helper

    rename_input(graph, INPUT_NAME, "one_eye_features")
    graph.graph.node.insert(0, helper.make_node("Reshape", [INPUT_NAME, "per_eye_shape"], ["one_eye_features"]))
    graph.graph.input[0].CopyFrom(helper.make_tensor_value_info(INPUT_NAME, 1, [None, 2 * half]))
    nodes = [helper.make_node("Reshape", ["<out>", "per_face_shape"], [OUTPUT_NAME])]
    shapes = [numpy_helper.from_array(np.array([-1, half], np.int64), "per_eye_shape"),
              numpy_helper.from_array(np.array([-1, 2, n_labels], np.int64), "per_face_shape")]
    return append_output(graph, nodes, shapes, [None, 2, n_labels])


def rename_input(graph, old: str, new: str):
    for node in graph.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
    return graph


def scatter_classes(graph, classes: np.ndarray, n_labels: int):
    """A model trained without some label (tiny subsets) outputs fewer columns: place them by a 0/1 matrix."""
    from onnx import helper, numpy_helper

    placement = np.zeros((len(classes), n_labels), np.float32)
    placement[np.arange(len(classes)), classes] = 1
    nodes = [helper.make_node("MatMul", ["<out>", "class_placement"], [OUTPUT_NAME])]
    return append_output(graph, nodes, [numpy_helper.from_array(placement, "class_placement")], [None, n_labels])


def canonical_names(graph):
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


def prepend_log(graph, floor: float, n_features: int):
    """Prepend log(clip(x, floor, 1)) to the graph."""
    from onnx import helper, numpy_helper

    rename_input(graph, INPUT_NAME, "log_features")
    graph.graph.node.insert(0, helper.make_node("Log", ["clipped_features"], ["log_features"]))
    graph.graph.node.insert(0, helper.make_node("Clip", [INPUT_NAME, "clip_low", "clip_high"], ["clipped_features"]))
    graph.graph.initializer.extend([numpy_helper.from_array(np.array(floor, np.float32), "clip_low"),
                                    numpy_helper.from_array(np.array(1.0, np.float32), "clip_high")])
    graph.graph.input[0].CopyFrom(helper.make_tensor_value_info(INPUT_NAME, 1, [None, n_features]))
    return graph


def finish(graph, name: str):
    """Check the graph and make its bytes depend on nothing but the model."""
    import onnx

    canonical_names(graph)
    opsets = sorted(graph.opset_import, key=lambda o: o.domain)  # skl2onnx lists them from a set
    del graph.opset_import[:]
    graph.opset_import.extend(opsets)
    graph.producer_name, graph.producer_version = "meshfer", meshfer.__version__
    graph.doc_string, graph.graph.name, graph.graph.doc_string = "", name, ""
    onnx.checker.check_model(graph, full_check=True)
    return graph
