"""What each allowlisted architecture's `config.json` must say its `model_type` is.

The engines do not build the class named in `architectures`: transformers' Auto classes and sglang resolve the
model from `model_type` (its config class), and only then pick an architecture. So `architectures:
[LlamaForCausalLM]` beside `model_type: gpt2` would pass an architecture allowlist and still build GPT-2. The
`config` rule therefore requires the pair to agree with this table (checked against transformers' own mappings
by tests/unit/policies/test_config_consistency.py), and a vision model's `text_config.model_type` (the language
tower an adaptor builds through the Auto classes) to name a language model the engines serve.
"""

from __future__ import annotations

MODEL_TYPES: dict[str, frozenset[str]] = {
    arch: frozenset(types)
    for arch, types in {
        "LlamaForCausalLM": ["llama"],
        "MistralForCausalLM": ["mistral"],
        "MixtralForCausalLM": ["mixtral"],
        "Qwen2ForCausalLM": ["qwen2"],
        "Qwen2MoeForCausalLM": ["qwen2_moe"],
        "Qwen3ForCausalLM": ["qwen3"],
        "Qwen3MoeForCausalLM": ["qwen3_moe"],
        "GemmaForCausalLM": ["gemma"],
        "Gemma2ForCausalLM": ["gemma2"],
        "Gemma3ForCausalLM": ["gemma3_text"],
        "Gemma3ForConditionalGeneration": ["gemma3"],
        "Phi3ForCausalLM": ["phi3"],
        "PhiForCausalLM": ["phi"],
        "GraniteForCausalLM": ["granite"],
        "OlmoForCausalLM": ["olmo"],
        "Olmo2ForCausalLM": ["olmo2"],
        "StableLmForCausalLM": ["stablelm"],
        "SmolLM3ForCausalLM": ["smollm3"],
        "Qwen2VLForConditionalGeneration": ["qwen2_vl"],
        "Qwen2_5_VLForConditionalGeneration": ["qwen2_5_vl"],
        "Qwen3VLForConditionalGeneration": ["qwen3_vl"],
        "LlavaForConditionalGeneration": ["llava"],
        "LlavaNextForConditionalGeneration": ["llava_next"],
        "LlavaOnevisionForConditionalGeneration": ["llava_onevision"],
        "Idefics3ForConditionalGeneration": ["idefics3"],
        "SmolVLMForConditionalGeneration": ["smolvlm"],
        "MllamaForConditionalGeneration": ["mllama"],
        "Mistral3ForConditionalGeneration": ["mistral3"],
    }.items()
}

# Language towers a vision model may name in `text_config.model_type`: the served causal LMs' own types, and the
# text halves that multimodal configs declare for themselves.
TEXT_MODEL_TYPES: frozenset[str] = frozenset(
    {t for arch, types in MODEL_TYPES.items() if arch.endswith("ForCausalLM") for t in types}
    | {"qwen2_vl_text", "qwen2_5_vl_text", "qwen3_vl_text", "gemma3_text", "mllama_text_model"}
)


def expected_model_types(architecture: str) -> frozenset[str] | None:
    """The `model_type` values an architecture may be declared with; None for one this table does not know."""
    return MODEL_TYPES.get(architecture)
