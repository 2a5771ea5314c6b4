"""An in-process chat engine over transformers, for the TRUSTED bundled SmolLM2 fixture only.

It renders the chat template and runs `generate` on the host, which the harness never does for miner models
(those run only inside the sandbox). It exists so that tests and benchmarks can drive the real evaluation loop
with a real model before the sandbox engine is wired in. Concurrent requests are micro-batched (left-padded,
greedy), so concurrency can be compared with one-at-a-time on the same model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path
from typing import Any


class EngineFailure(RuntimeError):
    def __init__(self, failure_class: str, message: str) -> None:
        super().__init__(message)
        self.failure_class = failure_class


def _text_only(messages: list[dict]) -> list[dict]:
    """Text parts of each message (SmolLM2 has no vision); the template wants plain strings."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        out.append({"role": m.get("role", "user"), "content": content or ""})
    return out


class TransformersChatEngine:
    """`async chat_completion(payload)` over a local HF folder; `start()` loads, `close()` stops the batcher."""

    def __init__(self, model_dir: Path, max_batch: int = 8, batch_window_s: float = 0.02) -> None:
        self.model_dir = Path(model_dir)
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []

    def load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32)
        self.model.eval()

    async def start(self) -> TransformersChatEngine:
        if not hasattr(self, "model"):
            await asyncio.to_thread(self.load)
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())
        return self

    async def close(self) -> None:
        if self._worker:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._queue is None:
            raise EngineFailure("crashed", "engine not started")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((payload, future))
        return await future

    async def _serve(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = time.perf_counter() + self.batch_window_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            live = [(p, f) for p, f in batch if not f.done()]
            if not live:
                continue
            self.batches.append(len(live))
            try:
                responses = await asyncio.to_thread(self._generate, [p for p, _ in live])
            except Exception as exc:  # one bad batch fails its requests, not the engine
                for _, future in live:
                    if not future.done():
                        future.set_exception(EngineFailure("bad-response", f"{type(exc).__name__}: {exc}"))
                continue
            for (_, future), response in zip(live, responses, strict=True):
                if not future.done():
                    future.set_result(response)

    def _generate(self, payloads: list[dict]) -> list[dict]:
        import torch

        prompts = [
            self.tokenizer.apply_chat_template(
                _text_only(p["messages"]), tools=p.get("tools"), add_generation_prompt=True, tokenize=False
            )
            for p in payloads
        ]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        caps = [int(p.get("max_tokens") or 256) for p in payloads]
        with torch.inference_mode():
            output = self.model.generate(
                **encoded, max_new_tokens=max(caps), do_sample=False, pad_token_id=self.tokenizer.pad_token_id
            )
        width = encoded["input_ids"].shape[1]
        responses = []
        for row, payload, cap in zip(range(len(payloads)), payloads, caps, strict=True):
            tokens = output[row, width:].tolist()
            finish = "length"
            if self.tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(self.tokenizer.eos_token_id)]
                finish = "stop"
            if len(tokens) > cap:
                tokens, finish = tokens[:cap], "length"
            prompt_tokens = int(encoded["attention_mask"][row].sum())
            responses.append(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                    "object": "chat.completion",
                    "model": payload.get("model", "local"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": self.tokenizer.decode(tokens, skip_special_tokens=True),
                            },
                            "finish_reason": finish,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": len(tokens),
                        "total_tokens": prompt_tokens + len(tokens),
                    },
                }
            )
        return responses
