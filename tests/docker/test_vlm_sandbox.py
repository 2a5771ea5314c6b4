"""Issue 10, end to end in the CPU sandbox: the demo VLM is served and sees the task images.

The image the engine decoded must be the task's own image: the request bytes on the socket are the task's PNG
(the bytes the task set was hashed with), and the engine's prompt grew by exactly the image tokens the processor
expands one image into. And on the same seeded caption tasks (as many as a demo round draws) the VLM scores
strictly above its noised copy, and the noised copy above the text-only SmolLM2, which gets 0 by design (caption
tasks are withheld from a model that cannot see): the order the demo's weights rest on.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from harness.demo.vlm_train import RECIPE
from harness.evaluation.pipeline import evaluate
from harness.sandbox import SandboxSpec, docker_client, run_sandbox
from harness.settings.evaluation import EvaluationConfig
from harness.settings.root import Settings
from harness.tasks import build_for_competition
from harness.tasks.config import TasksConfig

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WEIGHTS = {"caption": 1.0}
CAPTION_N = 6  # near a demo round's 8 (compose/docker-compose.yml); 6 keeps the three sandboxes near 2 minutes


class RecordingTransport(httpx.AsyncBaseTransport):
    """The sandbox's Unix-socket transport, keeping a copy of every request body it sends to the engine."""

    def __init__(self, socket_path: str) -> None:
        self.inner = httpx.AsyncHTTPTransport(uds=socket_path, retries=0)
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        if request.url.path.endswith("/chat/completions"):
            self.bodies.append(body)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _run(model_dir: Path, task_set: dict, vision: bool) -> tuple[dict, list[bytes]]:
    spec = SandboxSpec.from_settings(Settings().sandbox, engine="cpu", memory_limit="4g", competition="any2any")
    spec.extra_labels["io.harness.test"] = uuid.uuid4().hex[:12]
    docker = docker_client()
    try:
        with run_sandbox(spec, model_dir, client=docker) as sandbox:
            transport = RecordingTransport(str(sandbox.socket_path))

            async def go() -> dict:
                async with sandbox.client(transport=transport, request_timeout=300) as client:
                    return await evaluate(
                        client,
                        task_set,
                        model="/model",
                        family_weights=WEIGHTS,
                        evaluation=EvaluationConfig(concurrency=1, max_tokens=40, request_timeout_s=300),
                        vision=vision,
                        competition="any2any",
                    )

            return asyncio.run(go()), transport.bodies
    finally:
        docker.close()


@pytest.fixture(scope="module")
def task_set() -> dict:
    return build_for_competition("vlm-sandbox", WEIGHTS, TasksConfig(caption_n=CAPTION_N))


@pytest.fixture(scope="module")
def runs(task_set: dict, vlm: Path, vlm_noised: Path, smollm2: Path) -> dict:
    import policies

    def sees(folder: Path) -> bool:  # what a round decides from the policy report (config + processor files)
        return bool(policies.check_local(folder).facts["vision"])

    assert (sees(vlm), sees(vlm_noised), sees(smollm2)) == (True, True, False)
    return {
        "vlm_path": vlm,
        "vlm": _run(vlm, task_set, vision=True),
        "noised": _run(vlm_noised, task_set, vision=True),
        "text": _run(smollm2, task_set, vision=False),
    }


def test_the_vlm_outscores_its_noised_copy_which_outscores_a_blind_model(runs: dict) -> None:
    """What the demo's weights rest on: seeing right earns more than seeing through a noised tower, which still
    earns more than not seeing at all."""
    score = {name: runs[name][0]["families"]["caption"]["mean"] for name in ("vlm", "noised", "text")}
    captions = {name: [r["content"] for r in runs[name][0]["tasks"]] for name in ("vlm", "noised")}
    assert all(r["error"] is None for name in ("vlm", "noised") for r in runs[name][0]["tasks"]), captions
    assert score["vlm"] > score["noised"] > score["text"] == 0.0, (score, captions)
    assert runs["text"][1] == []  # the blind model was sent no caption task at all


def test_the_engine_received_the_task_images(runs: dict, task_set: dict) -> None:
    report, bodies = runs["vlm"]
    assert report["families"]["caption"]["n"] == CAPTION_N
    assert len(bodies) == CAPTION_N
    by_id = {t["id"]: t for t in task_set["tasks"]}
    sent: list[bytes] = []
    for body in bodies:
        parts = json.loads(body)["messages"][0]["content"]
        urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
        sent.append(base64.b64decode(urls[0].split(",", 1)[1]))
    expected = [_task_png(t) for t in task_set["tasks"]]
    assert sorted(sent) == sorted(expected)  # the socket carried each task's own picture, byte for byte
    side = TasksConfig().image_size
    assert all(Image.open(io.BytesIO(png)).size == (side, side) for png in sent)
    # ... and the engine decoded it: its prompt is the text plus exactly the image tokens of one picture
    text = runs["vlm"][0]["tasks"]
    prompt_tokens = {r["prompt_tokens"] for r in text}
    assert prompt_tokens == {_expected_prompt_tokens(by_id[text[0]["id"]], vlm_path=runs["vlm_path"])}


def _task_png(task: dict) -> bytes:
    url = task["messages"][0]["content"][1]["image_url"]["url"]
    return base64.b64decode(url.split(",", 1)[1])


def _expected_prompt_tokens(task: dict, vlm_path: Path) -> int:
    """Our own demo model's processor (not a miner's: nothing from a miner's repo is loaded on the host)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(str(vlm_path))
    rendered = processor.apply_chat_template(task["messages"], add_generation_prompt=True)
    image = Image.open(io.BytesIO(_task_png(task))).convert("RGB")
    ids = processor(text=rendered, images=[image], return_tensors="pt")["input_ids"][0].tolist()
    assert ids.count(processor.tokenizer.convert_tokens_to_ids("<image>")) == RECIPE.grid * RECIPE.grid
    return len(ids)
