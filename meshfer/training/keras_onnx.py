"""Training wing: Keras networks (the Keras framework's kinds, meshfer.training.model_kinds) as ONNX graphs,
through tf2onnx; optionally quantised to int8 by onnxruntime."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from meshfer.runtime import INPUT_NAME, OUTPUT_NAME
from meshfer.training.networks import network_module, tensorflow
from meshfer.training.onnx_graph import OPSET, rename_output, save_onnx


def to_onnx(model, shape: tuple[int, ...], calibration: np.ndarray | None = None):
    """The converter's entry (see model_kinds): a trained network for rows of ``shape``. A network whose params
    say ``quantize: int8`` is quantised (weights and activations, 8 bit), its ranges calibrated on ``calibration``
    rows (training faces)."""
    graph = _keras_to_onnx(model.estimator.model, model.kind, shape)
    if model.card.model_params.get("quantize") == "int8":
        if calibration is None or not len(calibration):
            raise ValueError(f"{model.card.approach}: int8 quantisation needs calibration rows")
        graph = _quantize_int8(graph, calibration)
    return graph


def _keras_to_onnx(network, kind: str, shape: tuple[int, ...]):
    tf = tensorflow()
    import tf2onnx

    twin = getattr(network_module(kind), "export_twin", lambda m: m)(network)
    spec = (tf.TensorSpec((None, *shape), tf.float32, name=INPUT_NAME),)
    graph, _ = tf2onnx.convert.from_keras(twin, input_signature=spec, opset=OPSET)
    return rename_output(graph, graph.graph.output[0].name, OUTPUT_NAME)


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
