"""The serving artifact: what ``model_dir`` holds after training, and nothing that needs training code.

``model.onnx`` (ONNX Runtime), ``weights.pt`` (the state dict, rebuilt with ``code/training/network.py``)
and ``model.pt`` (TorchScript) give logits; ``classes.json``, ``model_info.json`` (architecture,
input size, normalisation, temperature, the recipe) and ``code/`` with the serving handler complete
it, as SageMaker's PyTorch container expects.

Why three: AWS's PyTorch serving image runs an older torch (2.6) than training here (2.13) and
may not have ONNX Runtime; TorchScript written by a newer torch is not promised to load in an older
one, while a state dict of plain tensors (``torch.save``'s zip format, read by every torch since
1.6, loaded with ``weights_only=True``) and the network's own source load anywhere.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from common.imaging import INPUT_SIZE, MEAN, STD

ONNX_FILE, TORCHSCRIPT_FILE, INFO_FILE = "model.onnx", "model.pt", "model_info.json"
WEIGHTS_FILE = "weights.pt"


def save_artifact(model, model_dir: Path, classes: Sequence[str], architecture: str,
                  hyperparameters: dict, history: list[dict], image_size: int = INPUT_SIZE,
                  temperature: float = 1.0, training: dict | None = None) -> None:
    """Write everything serving needs: ONNX + TorchScript (logits), classes, info and the handler code.

    ``model_info.json`` carries ``input_size`` and ``temperature``: serving fits images to that
    size and divides the logits by that temperature before the softmax.
    """
    import torch

    from common.manifest import write_classes

    model_dir.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 3, image_size, image_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter needs no onnxscript
        torch.onnx.export(model, (example,), str(model_dir / ONNX_FILE), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        torch.jit.save(torch.jit.trace(model, example), str(model_dir / TORCHSCRIPT_FILE))
    torch.save({name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()},
               model_dir / WEIGHTS_FILE)
    write_classes(model_dir, classes)
    info = {
        "architecture": architecture,
        "input_size": image_size,
        "mean": MEAN,
        "std": STD,
        "temperature": temperature,
        "output": "logits; serving applies softmax(logits / temperature)",
        "hyperparameters": hyperparameters,
        "training": training or {},
        "final_metrics": history[-1] if history else {},
        "torch_version": torch.__version__,
    }
    (model_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    copy_serving_code(model_dir / "code")


def copy_serving_code(code_dir: Path) -> None:
    """``code/`` in the artifact: SageMaker's PyTorch serving container imports ``code/inference.py``.

    The handler's files are its import closure (:func:`common.packaging.closure`), not a hand-kept list:
    a module the handler starts importing ships with it, or the container could not import it.
    """
    from common.packaging import closure

    root = Path(__file__).resolve().parent.parent
    for relative, data in closure(root, ["training.inference"]).items():
        target = code_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (code_dir / "inference.py").write_text(
        '"""SageMaker PyTorch serving entry point: the handler lives in training/inference.py.\n\n'
        "transform_fn runs input_fn, predict_fn and output_fn and answers errors with their own status;\n"
        'the serving toolkit refuses a module that has both (so the three are not named here)."""\n'
        "from training.inference import model_fn, transform_fn  # noqa: F401\n",
        encoding="utf-8",
    )
