import subprocess
from mlflow.pyfunc import PythonModel


class M(PythonModel):
    def load_context(self, context):
        subprocess.Popen(['true'])

    def predict(self, context, model_input, params=None):
        return model_input
