#!/usr/bin/env python3
"""Writes the OpenVINO IR fixtures under testdata/openvino/.

Each fixture is a directory holding `model.xml` and (usually) `model.bin`, as `ov.save_model`
writes them. benign/mlp is written by the real OpenVINO runtime (the `openvino` wheel, version
printed into testdata/openvino/README-generated.txt): a small MatMul + Add + Relu model built
from opset ops with fixed weights and saved with `ov.save_model(..., compress_to_fp16=False)`.
Every other fixture is that XML edited after the documented IR layout (layers with `type` and
`version`, `Const` layers with `<data offset size>`, `rt_info` sections): custom layers,
shared-library references, weights windows outside the `.bin`, DOCTYPE entities, malformed XML.
Nothing here runs a model; the library paths name files that do not exist.

Usage: python -P testdata/generate/openvino.py   (from the repository root)
Needs: pip install openvino numpy
"""

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "openvino"


def real_mlp(dest):
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 4], np.float32, name="x")
    w = ops.constant(np.arange(8, dtype=np.float32).reshape(4, 2) / 8.0, name="w")
    b = ops.constant(np.array([0.5, -0.5], dtype=np.float32), name="b")
    y = ops.relu(ops.add(ops.matmul(x, w, False, False), b))
    model = ov.Model([y], [x], "mlp")
    dest.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(dest / "model.xml"), compress_to_fp16=False)
    return ov.__version__


def variant(name, kind, edit=None, bin_bytes=None, keep_bin=True, xml_text=None):
    src = OUT / "benign" / "mlp"
    dest = OUT / kind / name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    text = xml_text if xml_text is not None else (src / "model.xml").read_text()
    if edit:
        text = edit(text)
    (dest / "model.xml").write_text(text)
    if keep_bin:
        data = bin_bytes if bin_bytes is not None else (src / "model.bin").read_bytes()
        (dest / "model.bin").write_bytes(data)


def add_layer(layer_xml):
    """Inserts a layer before the closing </layers>, unconnected (the reader skips it, but the
    attributes are in the file for any other reader)."""
    return lambda t: t.replace("\t</layers>", layer_xml + "\n\t</layers>", 1)


PORTS = (
    '\t\t\t<input><port id="0" precision="FP32"><dim>1</dim><dim>2</dim></port></input>\n'
    '\t\t\t<output><port id="1" precision="FP32"><dim>1</dim><dim>2</dim></port></output>\n'
)
LAST_EDGE = '<edge from-layer="5" from-port="1" to-layer="6" to-port="0" />'


def add_connected(layer_id, head, data=""):
    """Inserts a layer between the Relu and the Result, so that the reader must create it (an
    unconnected layer is never reached from the outputs and never created)."""

    def edit(t):
        layer = f"\t\t{head}\n{data}{PORTS}\t\t</layer>"
        t = t.replace("\t</layers>", layer + "\n\t</layers>", 1)
        assert LAST_EDGE in t
        return t.replace(
            LAST_EDGE,
            f'<edge from-layer="5" from-port="1" to-layer="{layer_id}" to-port="0" />\n'
            f'\t\t<edge from-layer="{layer_id}" from-port="1" to-layer="6" to-port="0" />',
            1,
        )

    return edit


def add_rt_info(entry):
    def edit(t):
        if "<rt_info>" in t:
            return t.replace("<rt_info>", "<rt_info>\n\t\t" + entry, 1)
        return t.replace("</net>", "\t<rt_info>\n\t\t" + entry + "\n\t</rt_info>\n</net>", 1)

    return edit


def first_const_window(edit_offset, edit_size):
    def edit(t):
        return re.sub(
            r'offset="(\d+)" size="(\d+)"',
            lambda m: f'offset="{edit_offset(int(m.group(1)))}" size="{edit_size(int(m.group(2)))}"',
            t,
            count=1,
        )

    return edit


def main():
    for kind in ("benign", "malicious", "malformed"):
        (OUT / kind).mkdir(parents=True, exist_ok=True)
    version = real_mlp(OUT / "benign" / "mlp")
    (OUT / "README-generated.txt").write_text(
        f"benign/mlp written by openvino {version} (ov.save_model); the rest edited from it by testdata/generate/openvino.py\n"
    )
    bin_len = (OUT / "benign" / "mlp" / "model.bin").stat().st_size

    # Benign: the same model with extra weights past the windows (the reader does not care).
    variant("mlp-padded-bin", "benign", bin_bytes=(OUT / "benign" / "mlp" / "model.bin").read_bytes() + b"\0" * 64)

    # A layer outside every standard opset: loads only through an extension library.
    variant(
        "custom-layer",
        "malicious",
        add_connected(90, '<layer id="90" name="payload" type="RunShell" version="custom_opset">', '\t\t\t<data command="id"/>\n'),
    )
    # A standard opset name with a type it does not have (an extension registered under opset1).
    variant(
        "unknown-type-in-opset",
        "malicious",
        add_connected(91, '<layer id="91" name="payload" type="FancyAttention" version="opset1">'),
    )
    # Shared libraries named in rt_info and in a layer's data.
    variant(
        "rt-info-library",
        "malicious",
        add_rt_info('<custom_extension value="/tmp/libpayload.so"/>'),
    )
    variant(
        "layer-data-library",
        "malicious",
        add_layer('\t\t<layer id="92" name="tok" type="RegexNormalization" version="extension">\n\t\t\t<data extension_path="./libcustom_ops.so.1"/>\n\t\t</layer>'),
    )
    # XXE in the XML (the IR frontend ignores it; other readers may not).
    variant(
        "doctype-xxe",
        "malicious",
        lambda t: t.replace(
            "<net ",
            '<!DOCTYPE net [\n<!ENTITY xxe SYSTEM "file:///etc/hostname">\n]>\n<net ',
            1,
        ).replace('<net name="mlp"', '<net name="&xxe;"', 1),
    )

    # Malformed: a Const window past the end of the .bin, a negative and a hex offset, the .bin
    # missing, a truncated XML, a wrong root.
    variant("const-past-bin", "malformed", first_const_window(lambda o: bin_len, lambda s: s))
    variant("const-negative-offset", "malformed", first_const_window(lambda o: -8, lambda s: s))
    variant("const-hex-size", "malformed", first_const_window(lambda o: o, lambda s: hex(s)))
    variant("bin-missing", "malformed", keep_bin=False)
    variant("truncated-xml", "malformed", lambda t: t[: len(t) // 2])
    # Not malformed: pugixml keeps a reference to an undeclared entity as literal text and the
    # frontend loads the model (its name is `&nothing;`); modelgate must not call it malformed.
    variant("undeclared-entity-literal", "benign", lambda t: t.replace('<net name="mlp"', '<net name="&nothing;"', 1))


if __name__ == "__main__":
    main()
