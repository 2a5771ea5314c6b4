"""What the pinned sglang accepts, kept beside the pin so that settings are checked without importing sglang.

The harness never imports sglang (it runs inside the GPU image only). These facts are copied from the pinned
release and re-checked against that release's own argument parser by
`tests/unit/harness/sandbox/test_sglang_parser.py` (marked `slow`):
bumping `SGLANG_VERSION` without updating them fails that test, not a miner's evaluation.
"""

from __future__ import annotations

SGLANG_VERSION = "0.5.19"

# Official image the GPU engine image is built FROM (CUDA 12 build: widest driver support).
SGLANG_BASE_IMAGE = f"lmsysorg/sglang:v{SGLANG_VERSION}-cu129"

# `FunctionCallParser.ToolCallParserEnum` of the pinned release: the names `--tool-call-parser` accepts besides
# `auto`. `auto` is left out on purpose: it lets the model's own files pick the parser, and the miner controls
# those; a validator names the parser of each competition.
SGLANG_TOOL_CALL_PARSERS = frozenset(
    {
        "apertus2509",
        "cohere_command4",
        "deepseekv3",
        "deepseekv31",
        "deepseekv32",
        "deepseekv4",
        "dots",
        "gemma4",
        "gigachat3",
        "glm",
        "glm45",
        "glm47",
        "gpt-oss",
        "hermes",
        "hunyuan",
        "inkling",
        "interns1",
        "kimi_k2",
        "kimi_k3",
        "lfm2",
        "ling3",
        "llama3",
        "mimo",
        "minicpm5",
        "minimax-m2",
        "minimax-m3",
        "mistral",
        "muse",
        "poolside_v1",
        "pythonic",
        "qwen",
        "qwen25",
        "qwen3_coder",
        "spark25",
        "step3",
        "step3p5",
        "trinity",
    }
)

# The launch flag that makes outputs independent of batch composition (batch-invariant kernels); present in the
# pinned release (`ServerArgs.enable_deterministic_inference`).
DETERMINISTIC_FLAG = "--enable-deterministic-inference"

# Vision adaptors of the pinned release: `LlavaForConditionalGeneration` (sglang/srt/models/llava.py) looks the
# tower up in sglang's own registry through transformers' `AutoModel` mapping, and the only tower registered is
# `PixtralVisionModel` (model_type `pixtral`; no `CLIPVisionModel`, no `SiglipVisionModel`); its `load_weights`
# accepts these select strategies only. A validator running sglang refuses other towers at policy time (see
# `Settings`), instead of recording the failed load as the miner's crash.
SGLANG_VISION_TOWERS = {"LlavaForConditionalGeneration": ("pixtral",)}
SGLANG_VISION_SELECT_STRATEGIES = {"LlavaForConditionalGeneration": ("patch", "full", "cls_patch")}
