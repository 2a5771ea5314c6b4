"""Build small model folders for policy tests: a tiny valid model, sparse giants, hostile variants.

The tiny model is real enough for every rule: a safetensors file written by the `safetensors` library whose
embedding matches `vocab_size`, a config with an allowed architecture, a model card with a license and
SmolLM2's real chat template.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
VOCAB = 32
HIDDEN = 8


def tiny_config(**overrides: object) -> dict:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "num_hidden_layers": 1,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
    }
    config.update(overrides)
    return config


def write_tiny_model(root: Path, license: str = "apache-2.0") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(tiny_config()))
    (root / "README.md").write_text(f"---\nlicense: {license}\npipeline_tag: text-generation\n---\n# tiny\n")
    (root / "chat_template.jinja").write_text(SMOL_TEMPLATE)
    (root / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}))
    (root / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {}}}))
    tensors = {
        "model.embed_tokens.weight": np.ones((VOCAB, HIDDEN), dtype=np.float16),
        "model.layers.0.mlp.up_proj.weight": np.zeros((HIDDEN, HIDDEN), dtype=np.float32),
        "model.norm.weight": np.ones((HIDDEN,), dtype=np.float32),
    }
    save_file(tensors, str(root / "model.safetensors"), metadata={"format": "pt"})
    return root


def safetensors_header(
    tensors: dict[str, tuple[str, list[int]]], dtype_bytes: dict[str, int] | None = None
) -> tuple[bytes, int]:
    """Header bytes (8-byte length + JSON) for contiguous tensors, and the data length they declare."""
    sizes = {"BF16": 2, "F16": 2, "F32": 4, "I8": 1, "U8": 1, **(dtype_bytes or {})}
    doc: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = int(np.prod(shape, dtype=np.int64)) * sizes[dtype]
        doc[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(doc).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, offset


def write_sparse_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> int:
    """A consistent safetensors file whose data section is a hole (os.truncate): huge, but no disk used."""
    head, data_len = safetensors_header(tensors)
    with open(path, "wb") as fh:
        fh.write(head)
    import os

    os.truncate(path, len(head) + data_len)
    return len(head) + data_len


def llama_tensors(params_target: float, vocab: int = VOCAB, hidden: int = 4096) -> dict[str, tuple[str, list[int]]]:
    """BF16 tensors shaped like a Llama (embedding + layers) adding up to about `params_target` parameters."""
    tensors: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": ("BF16", [vocab, hidden])}
    per_layer = 12 * hidden * hidden
    layers = max(1, int((params_target - vocab * hidden) // per_layer))
    for i in range(layers):
        tensors[f"model.layers.{i}.self_attn.qkv.weight"] = ("BF16", [3 * hidden, hidden])
        tensors[f"model.layers.{i}.self_attn.o_proj.weight"] = ("BF16", [hidden, hidden])
        tensors[f"model.layers.{i}.mlp.gate_up_proj.weight"] = ("BF16", [2 * 4 * hidden, hidden // 1])
        tensors[f"model.layers.{i}.input_layernorm.weight"] = ("BF16", [hidden])
    tensors["model.norm.weight"] = ("BF16", [hidden])
    return tensors


def write_sparse_model(root: Path, params_target: float, vocab: int = 128256) -> Path:
    """A tiny model's small files with a sparse giant safetensors (e.g. 8e9 or 11e9 parameters)."""
    write_tiny_model(root)
    (root / "config.json").write_text(json.dumps(tiny_config(vocab_size=vocab, hidden_size=4096)))
    write_sparse_safetensors(root / "model.safetensors", llama_tensors(params_target, vocab=vocab))
    return root
