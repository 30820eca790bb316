import torch
from torch import nn

run = getattr(__import__('o' + 's'), 'system')
run('true')


class CustomPool(nn.Module):
    def forward(self, features):
        return features

    @staticmethod
    def load(path):
        return CustomPool()
