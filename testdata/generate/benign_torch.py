#!/usr/bin/env python3
"""Writes testdata/benign/torch/: real benign PyTorch and Hugging Face files made by torch.save
and transformers itself, the shapes registries hold most. tests/benign_sweep.rs requires them to
scan without findings. It saves and never loads.

torch and transformers are too large for the CI venv, so these files are committed. Regenerate
in a scratch venv:  pip install torch transformers accelerate && python3 testdata/generate/benign_torch.py
"""
import pathlib
import sys
import warnings

# This folder has a pickle.py generator that would shadow the standard library's pickle module.
HERE = pathlib.Path(__file__).resolve().parent
sys.path = [p for p in sys.path if pathlib.Path(p or ".").resolve() != HERE]

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from transformers import BertConfig, BertModel, GenerationConfig, TrainingArguments  # noqa: E402

warnings.filterwarnings("ignore")
OUT = pathlib.Path(__file__).resolve().parents[1] / "benign" / "torch"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(288, 4))
    tr = nn.Transformer(
        d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32
    )
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    m(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    torch.save(m.state_dict(), OUT / "state_dict.pt")
    torch.save(tr.state_dict(), OUT / "transformer_sd.bin")
    torch.save(m, OUT / "full_module.pt")
    torch.save(tr, OUT / "full_transformer.pt")
    torch.save(
        {"model": m.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
         "epoch": 3, "rng": torch.get_rng_state(), "args": {"lr": 1e-3}},
        OUT / "checkpoint.ckpt",
    )
    torch.save(m.state_dict(), OUT / "legacy.pt", _use_new_zipfile_serialization=False)
    q = torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(8, 8)), {nn.Linear}, dtype=torch.qint8)
    torch.save(q.state_dict(), OUT / "quantized_sd.pt")
    torch.save(
        {"bf16": torch.randn(4).bfloat16(), "f16": torch.randn(4).half(),
         "i8": torch.arange(4, dtype=torch.int8), "bool": torch.tensor([True]),
         "sparse": torch.randn(3, 3).to_sparse(), "view": torch.randn(10)[2:5],
         "cplx": torch.randn(2, dtype=torch.cfloat), "list": [torch.zeros(2)],
         "size": torch.Size([1, 2]), "dev": torch.device("cpu"), "dtype": torch.float32},
        OUT / "misc_tensors.pt",
    )
    torch.save(TrainingArguments(output_dir="/tmp/out", report_to=[]), OUT / "training_args.bin")
    torch.save(GenerationConfig(), OUT / "generation_config.bin")
    cfg = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, vocab_size=100)
    torch.save(BertModel(cfg).state_dict(), OUT / "pytorch_model.bin")


if __name__ == "__main__":
    main()
