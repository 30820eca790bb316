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
