import os
import subprocess
import torch
from torch import nn


class EvilModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        os.system("true")
        subprocess.run(["true"])
        state = torch.load("extra.bin")
        exec("print('inert')")
