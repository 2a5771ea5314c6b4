"""Policy settings: what a subnet accepts. Nested into the harness settings as `policy` (and `hub`)."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

# Causal LMs and vision-LMs that both engines (sglang and `transformers serve`) load without remote code;
# tests check each name against transformers' auto-model mappings.
DEFAULT_ARCHITECTURES: tuple[str, ...] = (
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "MixtralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen2MoeForCausalLM",
    "Qwen3ForCausalLM",
    "Qwen3MoeForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration",
    "Phi3ForCausalLM",
    "PhiForCausalLM",
    "GraniteForCausalLM",
    "OlmoForCausalLM",
    "Olmo2ForCausalLM",
    "StableLmForCausalLM",
    "SmolLM3ForCausalLM",
    "Qwen2VLForConditionalGeneration",
    "Qwen2_5_VLForConditionalGeneration",
    "Qwen3VLForConditionalGeneration",
    "LlavaForConditionalGeneration",
    "LlavaNextForConditionalGeneration",
    "LlavaOnevisionForConditionalGeneration",
    "Idefics3ForConditionalGeneration",
    "SmolVLMForConditionalGeneration",
    "MllamaForConditionalGeneration",
    "Mistral3ForConditionalGeneration",
)

PICKLE_EXTENSIONS: tuple[str, ...] = (
    ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill", ".npy", ".npz", ".sav", ".mar",
)  # fmt: skip

CODE_EXTENSIONS: tuple[str, ...] = (".py", ".pyc", ".pyo", ".pyw", ".pyx", ".pyd", ".so", ".dylib", ".dll")


class PolicyConfig(BaseModel):
    """Limits and allowlists; each rule reads only its own fields."""

    allowed_licenses: list[str] = Field(
        default_factory=lambda: ["apache-2.0"], description="license: model-card licenses accepted (lower case)."
    )
    max_parameters: float = Field(default=10e9, description="size: largest parameter count accepted.")
    max_total_bytes: int = Field(default=40 * 1024**3, description="size: largest repo size in bytes.")
    allowed_architectures: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ARCHITECTURES),
        description="config: `architectures` values the engines serve.",
    )
    vision_towers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="config: for each architecture named, the `vision_config.model_type` values accepted (others: "
        "any). Filled from the pinned sglang's facts when sandbox.engine is sglang.",
    )
    vision_select_strategies: dict[str, list[str]] = Field(
        default_factory=dict,
        description="config: for each architecture named, the `vision_feature_select_strategy` values accepted.",
    )
    max_context_length: int = Field(
        default=1_048_576, description="config: largest context length (max_position_embeddings) accepted."
    )
    max_header_bytes: int = Field(
        default=16 * 1024 * 1024,
        description="corrupt: largest safetensors header length read (bytes); real headers are well under 1 MB.",
    )
    max_json_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="size: largest JSON file (configs, shard index), parsed whole."
    )
    max_text_bytes: int = Field(
        default=1024 * 1024, gt=0, description="size: largest text file (model card, license, .gitattributes)."
    )
    max_tokenizer_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, description="size: largest tokenizer file (tokenizer.json, merges, model)."
    )
    max_image_bytes: int = Field(default=8 * 1024 * 1024, gt=0, description="size: largest model-card image.")
    max_metadata_total_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="size: JSON and text read whole during a check, all files together (bounds checker memory).",
    )
    max_files: int = Field(
        default=1000,
        gt=0,
        description="names: most files a repo may hold (listed entries of any kind); over it nothing is read.",
    )
    max_name_bytes: int = Field(
        default=255, gt=0, le=255, description="names: longest file or folder name (UTF-8 bytes; Linux NAME_MAX)."
    )
    max_path_bytes: int = Field(
        default=512, gt=0, le=2048, description="names: longest repo-relative path (UTF-8 bytes)."
    )
    max_path_depth: int = Field(default=8, gt=0, le=64, description="names: most components in a repo path.")
    max_template_bytes: int = Field(default=256 * 1024, description="template: largest chat template accepted.")
    require_chat_template: bool = Field(default=True, description="template: reject models without a chat template.")
    pickle_extensions: list[str] = Field(
        default_factory=lambda: list(PICKLE_EXTENSIONS),
        description="pickle: suffixes reported as pickle-capable (any file off the kind allowlist is refused).",
    )
    code_extensions: list[str] = Field(
        default_factory=lambda: list(CODE_EXTENSIONS), description="remote-code: file suffixes rejected as code."
    )
    check_deadline_s: float = Field(
        default=120.0, gt=0, description="Deadline of one policy check (its worker process is killed after it)."
    )
    check_memory_bytes: int = Field(
        default=1024**3, ge=256 * 1024**2, description="Address-space cap of the policy check's worker process."
    )


class HubConfig(BaseModel):
    """How the Hugging Face Hub is reached for metadata and downloads."""

    endpoint: str | None = Field(
        default=None, description="Hub base URL; unset means $HF_ENDPOINT, else https://huggingface.co."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one Hub request (seconds).")
    attempts: int = Field(default=3, ge=1, description="Tries per Hub request before giving up (transient errors).")
    retry_wait_s: float = Field(default=0.5, ge=0, description="First wait between tries; doubles each try.")
    parallel_requests: int = Field(default=8, ge=1, le=64, description="Concurrent metadata reads during a check.")
    request_deadline_s: float = Field(
        default=60.0, gt=0, description="Total deadline of one metadata request, however slowly bytes arrive."
    )
    check_deadline_s: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="Deadline of a whole check of a Hub repo (every metadata request together); past it the check "
        "ends as 'Hub unreachable' (exit 2), and its worker is killed shortly after as a backstop.",
    )
    max_info_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Cap on the model-info (file listing) answer, bytes."
    )
    max_listed_files: int = Field(default=10_000, ge=1, description="Most files a repo may list.")
    max_range_skip_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="A server that ignores Range: how far into the body a check still reads to find its bytes.",
    )
    max_redirects: int = Field(default=5, ge=0, le=20, description="Redirect hops followed for file reads.")

    # Read when the config is built, like every other setting, but kept out of the fields: $HF_ENDPOINT is the
    # fallback of `endpoint` (so `harness config` shows the setting, not the environment), and the token is never
    # a setting, so that `harness config` cannot print a secret.
    # A config sent to another process (a Ray worker) carries neither: that host reads its own environment, as it
    # did when these were read at call time, and the head's token never travels.
    _env_endpoint: str | None = PrivateAttr(default_factory=lambda: _from_env("HF_ENDPOINT"))
    _env_token: str | None = PrivateAttr(default_factory=lambda: _from_env("HF_TOKEN"))

    def __getstate__(self) -> dict[Any, Any]:
        state = dict(super().__getstate__())
        state["__pydantic_private__"] = None
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        object.__setattr__(
            self,
            "__pydantic_private__",
            {"_env_endpoint": _from_env("HF_ENDPOINT"), "_env_token": _from_env("HF_TOKEN")},
        )

    def resolved_endpoint(self) -> str:
        return (self.endpoint or self._env_endpoint or "https://huggingface.co").rstrip("/")

    def resolved_token(self) -> str | None:
        """From $HF_TOKEN only."""
        return self._env_token


def _from_env(name: str) -> str | None:
    return os.environ.get(name) or None
