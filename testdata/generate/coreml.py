#!/usr/bin/env python3
"""Writes the Core ML fixtures under testdata/coreml/.

Every model is written by coremltools 9.0 on Linux (no Mac needed to write a specification):
benign/dense-relu.mlmodel by its `NeuralNetworkBuilder` and `MLModel.save`-equivalent
`models.utils.save_spec`; the others by filling `coremltools.proto.Model_pb2.Model` messages
(the library's own generated classes) and saving them the same way. benign/classifier.mlpackage
is a package directory with the layout coremltools writes (Manifest.json, the spec at
Data/com.apple.CoreML/model.mlmodel). Nothing here runs a model; class names and paths name
nothing that exists.

Usage: python -P testdata/generate/coreml.py   (from the repository root)
Needs: pip install coremltools==9.0
"""

import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "coreml"


def nn_spec():
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder
    import numpy as np

    builder = NeuralNetworkBuilder(
        [("x", datatypes.Array(4))], [("y", datatypes.Array(2))], disable_rank5_shape_mapping=True
    )
    w = (np.arange(8, dtype=np.float32).reshape(2, 4) / 8.0)
    builder.add_inner_product("fc", W=w, b=np.array([0.5, -0.5], dtype=np.float32), input_channels=4,
                              output_channels=2, has_bias=True, input_name="x", output_name="h")
    builder.add_activation("relu", "RELU", "h", "y")
    spec = builder.spec
    spec.description.metadata.author = "modelgate fixtures"
    return spec


def save(spec, path):
    from coremltools.models.utils import save_spec

    path.parent.mkdir(parents=True, exist_ok=True)
    save_spec(spec, str(path))


def with_custom_layer(spec, class_name):
    layer = spec.neuralNetwork.layers.add()
    layer.name = "custom0"
    layer.input.append("y")
    layer.output.append("z")
    layer.custom.className = class_name
    layer.custom.description = "fixture"
    return spec


def linked(file_name, search_path):
    import coremltools.proto.Model_pb2 as M

    m = M.Model()
    m.specificationVersion = 4
    m.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = file_name
    m.linkedModel.linkedModelFile.linkedModelSearchPath.defaultValue = search_path
    return m


def pipeline(*stages):
    import coremltools.proto.Model_pb2 as M

    p = M.Model()
    p.specificationVersion = 4
    for i, s in enumerate(stages):
        p.pipeline.models.add().CopyFrom(s)
        p.pipeline.names.append(f"stage{i}")
    return p


def main():
    import coremltools.proto.Model_pb2 as M

    if OUT.exists():
        shutil.rmtree(OUT)
    for kind in ("benign", "malicious", "malformed"):
        (OUT / kind).mkdir(parents=True)
    save(nn_spec(), OUT / "benign" / "dense-relu.mlmodel")
    # A pipeline with a linked model next to it (relative, inside the package's directory).
    save(pipeline(nn_spec(), linked("Features.mlmodelc", ".")), OUT / "benign" / "pipeline-linked-local.mlmodel")
    pkg = OUT / "benign" / "classifier.mlpackage"
    save(nn_spec(), pkg / "Data" / "com.apple.CoreML" / "model.mlmodel")
    (pkg / "Manifest.json").write_text(json.dumps({
        "fileFormatVersion": "1.0.0",
        "itemInfoEntries": {
            "0": {"author": "com.apple.CoreML", "description": "CoreML Model Specification",
                  "name": "model.mlmodel", "path": "com.apple.CoreML/model.mlmodel"}
        },
        "rootModelIdentifier": "0",
    }, indent=2))

    save(with_custom_layer(nn_spec(), "Payload.ShellLayer"), OUT / "malicious" / "custom-layer.mlmodel")
    # The custom layer inside a branch body inside a pipeline stage.
    spec = nn_spec()
    br = spec.neuralNetwork.layers.add()
    br.name = "branch0"
    br.input.append("y")
    inner = br.branch.ifBranch.layers.add()
    inner.name = "hidden"
    inner.custom.className = "Payload.HiddenLayer"
    save(pipeline(spec), OUT / "malicious" / "custom-layer-in-branch.mlmodel")
    custom = M.Model()
    custom.specificationVersion = 4
    custom.customModel.className = "Payload.CustomModel"
    save(custom, OUT / "malicious" / "custom-model.mlmodel")
    save(linked("payload.mlmodelc", "/tmp:../../../shared"), OUT / "malicious" / "linked-model-escapes.mlmodel")
    ser = M.Model()
    ser.specificationVersion = 8
    ser.serializedModel.identifier = "com.example.private-engine"
    ser.serializedModel.model = b"\x7fELF opaque engine bytes" * 4
    save(ser, OUT / "malicious" / "serialized-model.mlmodel")

    (OUT / "malformed" / "truncated.mlmodel").write_bytes((OUT / "benign" / "dense-relu.mlmodel").read_bytes()[:40])
    (OUT / "malformed" / "not-protobuf.mlmodel").write_bytes(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
    deep = nn_spec()
    for _ in range(70):
        deep = pipeline(deep)
    save(deep, OUT / "malformed" / "nested-pipelines.mlmodel")


if __name__ == "__main__":
    main()
