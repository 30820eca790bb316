"""Registers model versions in a real MLflow tracking server, the way a registration pipeline
does with MLflow 3's client: a logged model whose files are uploaded through the tracking server's
artifact proxy, then `mlflow.register_model("models:/m-…", NAME)`.

usage: register.py TRACKING_URI NAME KIND [NAME KIND ...]
KIND is `benign` (a pickled dict), `malicious` (a pickle whose load calls os.system; it is
only written here, never loaded) or `s3` (a version whose source is an S3 URI the gate does not
read). Prints "NAME VERSION" per registered version.
"""

import os
import pickle
import sys
import tempfile

import mlflow


class Payload:
    def __reduce__(self):
        return (os.system, ("echo modelgate-test-payload",))


def main():
    uri, pairs = sys.argv[1], sys.argv[2:]
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    for name, kind in zip(pairs[::2], pairs[1::2]):
        if kind == "s3":
            client.create_registered_model(name)
            mv = client.create_model_version(name, "s3://models-bucket/fraud/model")
            print(name, mv.version, flush=True)
            continue
        files = tempfile.mkdtemp()
        obj = Payload() if kind == "malicious" else {"weights": [0.5, 1.5], "bias": 0.1}
        with open(os.path.join(files, "model.pkl"), "wb") as f:
            pickle.dump(obj, f)
        # A subdirectory, so the gate's download walks the proxy's listing recursively.
        os.mkdir(os.path.join(files, "data"))
        with open(os.path.join(files, "data", "vocab.pkl"), "wb") as f:
            pickle.dump(["a", "b"], f)
        model = mlflow.initialize_logged_model(name=name)
        client.log_model_artifacts(model.model_id, files)
        mv = mlflow.register_model(f"models:/{model.model_id}", name)
        print(name, mv.version, flush=True)


if __name__ == "__main__":
    main()
