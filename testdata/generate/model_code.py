#!/usr/bin/env python3
"""Writes the model-side code fixtures (testdata/model_code): Python files that travel with
models, the configs that make loaders import them (Hugging Face auto_map, sentence-transformers
modules.json, MLflow MLmodel), lenient/odd configs, and Keras v3 archives whose configs point at
host paths or URLs.

Only writes text and zip bytes; nothing is imported or executed. Payloads are inert
(`os.system('true')`). Every Python file is checked with `ast.parse` here so that the fixtures
the tests call parsable really are valid Python (and the one meant to be broken really is not).

Usage: python3 testdata/generate/model_code.py   (standard library only)
"""
import ast
import io
import json
import os
import shutil
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "testdata", "model_code")
FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def write(rel, data, parse=True):
    p = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    raw = data if isinstance(data, bytes) else data.encode()
    if rel.endswith(".py") and parse:
        ast.parse(raw)  # the fixture is valid Python for CPython
    with open(p, "wb") as f:
        f.write(raw)


def zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


HF_CONFIG = {"architectures": ["TinyModel"], "model_type": "tiny", "hidden_size": 8}

# A typical Hugging Face modeling file: torch, math, typing, logging, os.path, torch.load with
# weights_only, importlib.util.find_spec, model.eval(), re.compile. Must stay below high.
MODELING_BENIGN = '''\
"""Tiny model for tests."""
import logging
import math
import os
from typing import Optional, Tuple

import importlib.util
import torch
from torch import nn

from .configuration_tiny import TinyConfig

logger = logging.getLogger(__name__)
_flash = importlib.util.find_spec("flash_attn") is not None


class TinyModel(nn.Module):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__()
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.cache_dir = os.path.join(os.path.expanduser("~"), ".cache", "tiny")
        self.scale = 1.0 / math.sqrt(config.hidden_size)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor]:
        y = self.proj(x) * self.scale
        if mask is not None:
            y = y.masked_fill(mask == 0, -1e4)
        return (y,)

    @classmethod
    def from_pretrained(cls, path, config):
        model = cls(config)
        state = torch.load(os.path.join(path, "pytorch_model.bin"), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        model.eval()
        logger.info("loaded %s", path)
        return model
'''

CONFIGURATION_BENIGN = '''\
class TinyConfig:
    model_type = "tiny"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
'''

# One alias or resolution form per file, each at module level (runs on import).
ALIAS_FORMS = {
    "import_as.py": "import os as o\no.system('true')\n",
    "from_import_as.py": "from os import system as run\nrun('true')\n",
    "posix_module.py": "import posix\nposix.system('true')\n",
    "nt_module.py": "import nt\nnt.spawnv(0, 'true', ['true'])\n",
    "sys_modules.py": "import sys\nsys.modules['os'].system('true')\n",
    "getattr_builtins.py": "import builtins\ngetattr(builtins, 'exec')(compile(type('')() + 'pass', 'x', 'exec'))\n",
    "getattr_dunder_import.py": "getattr(__import__('os'), 'system')('true')\n",
    "concat_names.py": "import os\nname = 'sys' + 'tem'\ngetattr(os, name)('true')\n",
    "join_reverse.py": "m = __import__(''.join(['o', 's']))\ngetattr(m, 'metsys'[::-1])('true')\n",
    "base64_name.py": "import base64, os\ngetattr(os, base64.b64decode('c3lzdGVt').decode())('true')\n",
    "importlib_module.py": "import importlib\nimportlib.import_module('subprocess').run(['true'])\n",
    "spawn_family.py": "import os\nos.spawnlp(os.P_WAIT, 'true', 'true')\nos.execvp('true', ['true'])\nos.posix_spawnp('true', ['true'], {})\n",
    "subprocess_star.py": "from subprocess import *\ncheck_output(['true'])\n",
    "pty_spawn.py": "import pty\npty.spawn('true')\n",
    "ctypes_libc.py": "import ctypes\nctypes.CDLL(None).system(b'true')\n",
    "cffi_dlopen.py": "from cffi import FFI\nFFI().dlopen(None)\n",
    "marshal_exec.py": "import marshal\nexec(marshal.loads(b''))\n",
    "eval_compile.py": "code = compile(type('')() + '1', 'x', 'eval')\neval(code)\n",
    "exec_constant_string.py": "exec(\"import os; os.system('true')\")\n",
    "pickle_loads.py": "import pickle\npickle.loads(b'N.')\n",
    "socket_download.py": "import socket, urllib.request\nsocket.create_connection(('127.0.0.1', 9))\nurllib.request.urlretrieve('http://127.0.0.1:9/x', 'x')\n",
    "requests_download.py": "import requests\nrequests.get('http://127.0.0.1:9/x')\n",
    "write_outside.py": "open('/etc/cron.d/job', 'w').write('x')\nopen('../../.bashrc', 'a').write('x')\n",
    "rmtree.py": "import shutil\nshutil.rmtree('/tmp/nothing-here')\n",
    "default_arg.py": "def helper(run=__import__('os').system):\n    return run\n\nhelper()('true')\n",
    "builtins_dict.py": "c = compile(type('')() + '1', 'x', 'eval')\n__builtins__['eval'](c) if isinstance(__builtins__, dict) else getattr(__builtins__, 'eval')(c)\n",
}


def hf_fixtures():
    write("benign/hf_modeling/config.json", json.dumps(dict(HF_CONFIG, auto_map={
        "AutoConfig": "configuration_tiny.TinyConfig", "AutoModel": "modeling_tiny.TinyModel"}), indent=2))
    write("benign/hf_modeling/modeling_tiny.py", MODELING_BENIGN)
    write("benign/hf_modeling/configuration_tiny.py", CONFIGURATION_BENIGN)
    # A script shipped next to a model, with process execution only under __main__: high, not
    # critical (an import never runs it).
    write("malicious/script_main_guard/convert.py",
          "import subprocess\n\n\ndef main():\n    pass\n\n\nif __name__ == '__main__':\n    subprocess.run(['true'])\n")
    for name, src in ALIAS_FORMS.items():
        write(f"malicious/py_forms/{name}", src)
    # A helper-function call in a file that auto_map names: critical because the file is
    # model-side code even though the function is not a load hook.
    write("malicious/hf_auto_map_helper/config.json", json.dumps(dict(HF_CONFIG, auto_map={"AutoModel": "modeling_h.M"})))
    write("malicious/hf_auto_map_helper/modeling_h.py",
          "import os as _o\n\n\ndef _warm():\n    _o.popen('true')\n\n\nclass M:\n    pass\n")


def st_fixtures():
    st_modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    write("benign/st_model/modules.json", json.dumps(st_modules, indent=2))
    write("benign/st_model/config.json", json.dumps(HF_CONFIG))
    write("benign/st_model/1_Pooling/config.json", json.dumps({"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True}))
    custom = st_modules + [{"idx": 2, "name": "2", "path": "2_Custom", "type": "custom_st.CustomPool"},
                           {"idx": 3, "name": "3", "path": "3", "type": "joblib.numpy_pickle.NumpyArrayWrapper"}]
    write("malicious/st_custom_module/modules.json", json.dumps(custom, indent=2))
    write("malicious/st_custom_module/config.json", json.dumps(HF_CONFIG))
    # Loaded from the directory without trust_remote_code: the module-level call runs on load.
    write("malicious/st_custom_module/custom_st.py",
          "import torch\nfrom torch import nn\n\nrun = getattr(__import__('o' + 's'), 'system')\nrun('true')\n\n\n"
          "class CustomPool(nn.Module):\n    def forward(self, features):\n        return features\n\n"
          "    @staticmethod\n    def load(path):\n        return CustomPool()\n")


def mlflow_fixtures():
    write("benign/mlflow_from_code/MLmodel",
          "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
          "    model_code_path: model.py\n    python_version: 3.11.0\n    env:\n      virtualenv: python_env.yaml\n"
          "mlflow_version: 2.16.0\n")
    write("benign/mlflow_from_code/model.py",
          "import mlflow\nfrom mlflow.pyfunc import PythonModel\n\n\nclass Echo(PythonModel):\n"
          "    def predict(self, context, model_input, params=None):\n        return model_input\n\n\n"
          "mlflow.models.set_model(Echo())\n")
    write("benign/mlflow_from_code/python_env.yaml", "python: 3.11.0\ndependencies:\n  - mlflow==2.16.0\n")
    write("malicious/mlflow_from_code/MLmodel",
          "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n    model_code_path: model.py\n")
    write("malicious/mlflow_from_code/model.py",
          "import subprocess\nfrom mlflow.pyfunc import PythonModel\n\n\nclass M(PythonModel):\n"
          "    def load_context(self, context):\n        subprocess.Popen(['true'])\n\n"
          "    def predict(self, context, model_input, params=None):\n        return model_input\n")
    # Duplicate keys (PyYAML keeps the last) and an odd value type: strict YAML fails, the raw
    # text still shows the custom loader module and code paths.
    write("malicious/mlflow_dup_keys/MLmodel",
          "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n    loader_module: evil_loader\n"
          "    code_paths: [code/evil_loader.py]\n    python_model: 7\n")
    write("malicious/mlflow_dup_keys/code/evil_loader.py",
          "import os\n\n\ndef _load_pyfunc(path):\n    os.system('true')\n")


def config_fixtures():
    # Lenient JSON a Python json5-ish reader accepts: BOM, comments, trailing commas, NaN.
    write("benign/lenient_json/config.json",
          b"\xef\xbb\xbf{\n  // exported by a tool\n  \"model_type\": \"tiny\",\n  \"init_std\": NaN,\n  \"layers\": [1, 2,],\n}\n")
    write("malicious/lenient_json_target/config.json",
          b"{\n  /* hydra */\n  \"model\": {\"encoder\": [{\"_target_\": \"subprocess.Popen\", \"args\": [\"true\"],},]},\n}\n")
    # _target_ at depth, with a YAML tag and a non-string sibling; a list where a mapping is usual.
    write("malicious/hydra_odd_types/model_config.yaml",
          "model:\n  layers:\n    - !custom\n      _target_: os.system\n      command: 'true'\n    - 5\n"
          "  optim: [ {_target_: builtins.exec} ]\n")
    # Duplicate keys: Python's json keeps the last (benign) value, other readers the first.
    write("malicious/json_duplicate_target/config.json",
          '{"model": {"_target_": "os.system", "_target_": "torch.nn.Identity"}}\n')
    # A JSON config that does not parse at all; the raw text still shows _target_.
    write("malicious/broken_json_target/config.json", "{\"a\": {\"_target_\": \"os.system\", \"b\": [1, 2\n")
    # A Python file that CPython would reject; the token scan still sees the call.
    write("malicious/py_unparsable/modeling_broken.py",
          "import os\n\ndef f(:\n    pass\n\nos.system('true')\n", parse=False)
    # PEP 263 encoding that hides code from text review.
    write("malicious/py_utf7/modeling_utf7.py",
          b"# -*- coding: utf-7 -*-\nimport os\n+AG8AcwAuAHMAeQBzAHQAZQBt-('true')\n", parse=False)


def keras_config(layers):
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": layers},
            "registered_name": None}


def layer(cls, config, module="keras.layers"):
    return {"module": module, "class_name": cls, "config": config, "registered_name": None}


def keras_archive(rel, config):
    members = [
        ("metadata.json", json.dumps({"keras_version": "3.8.0", "date_saved": "2024-01-01@00:00:00"})),
        ("config.json", json.dumps(config)),
    ]
    write(rel, zip_bytes(members))


def keras_fixtures():
    # Inline vocabularies hold tokens that look like path pieces; none is a resource.
    keras_archive("benign/keras_inline_vocab.keras", keras_config([
        layer("StringLookup", {"name": "lookup", "vocabulary": ["/", "..", "http", "://", "a/b"], "oov_token": "[UNK]"}),
        layer("Dense", {"name": "dense", "units": 2, "activation": "relu"}),
    ]))
    keras_archive("malicious/keras_textvec_url.keras", keras_config([
        layer("TextVectorization", {"name": "tv", "vocabulary": "file:///etc/passwd", "max_tokens": 10}),
    ]))
    keras_archive("malicious/keras_hub_tokenizer_proto.keras", keras_config([
        layer("GemmaTokenizer", {"name": "tok", "proto": "/etc/passwd", "sequence_length": 8},
              module="keras_hub.src.models.gemma.gemma_tokenizer"),
    ]))
    keras_archive("malicious/keras_hub_bpe_paths.keras", keras_config([
        layer("GPT2Tokenizer", {"name": "tok", "vocabulary": "../../home/user/.ssh/id_rsa", "merges": "https://example.invalid/merges.txt"},
              module="keras_hub.src.models.gpt2.gpt2_tokenizer"),
    ]))
    keras_archive("malicious/keras_custom_layer_path.keras", keras_config([
        layer("Dense", {"name": "dense", "units": 2, "kernel_initializer": {"module": "keras.initializers", "class_name": "Constant",
                                                                          "config": {"value": 0.0, "source_file": "~/.aws/credentials"}}}),
    ]))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    hf_fixtures()
    st_fixtures()
    mlflow_fixtures()
    config_fixtures()
    keras_fixtures()


if __name__ == "__main__":
    main()
