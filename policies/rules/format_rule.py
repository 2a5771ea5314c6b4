"""`format`: weights must be safetensors; repos with only gguf/onnx/pickle/other weights are refused."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.manifest import Manifest
from policies.report import Violation

OTHER_WEIGHT_FORMATS = {
    ".gguf": "GGUF",
    ".ggml": "GGML",
    ".onnx": "ONNX",
    ".onnx_data": "ONNX",
    ".h5": "Keras/HDF5",
    ".msgpack": "Flax msgpack",
    ".tflite": "TFLite",
    ".mlmodel": "Core ML",
    ".bin": "PyTorch pickle",
    ".pt": "PyTorch pickle",
    ".pth": "PyTorch pickle",
    ".ckpt": "checkpoint pickle",
}


def check(manifest: Manifest, config: PolicyConfig) -> list[Violation]:
    weights = [f for f in manifest.files if f.kind == "file" and f.path.endswith(".safetensors")]
    if weights:
        return []
    seen = sorted(
        {name for f in manifest.files for ext, name in OTHER_WEIGHT_FORMATS.items() if f.path.lower().endswith(ext)}
    )
    found = f" (found {', '.join(seen)} weights only)" if seen else " (no weight files found)"
    return [Violation("format", f"weights must be in safetensors format{found}")]
