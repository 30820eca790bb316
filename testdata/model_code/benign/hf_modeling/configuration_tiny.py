class TinyConfig:
    model_type = "tiny"

    def __init__(self, hidden_size=8, **kwargs):
        self.hidden_size = hidden_size
