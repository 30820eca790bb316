"""A custom model. Docstrings may mention os.system or eval( without effect."""
import math
import torch
from torch import nn


class TinyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.linear = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x):
        self.eval()  # a method called eval is not the eval builtin
        return torch.tanh(self.linear(x)) * math.sqrt(2.0)
