"""A custom TorchServe handler: softmax over the model's output."""
import torch
from ts.torch_handler.base_handler import BaseHandler


class SoftmaxHandler(BaseHandler):
    def postprocess(self, data):
        return torch.softmax(data, dim=1).tolist()
