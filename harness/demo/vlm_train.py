"""The demo vision-language model: a tiny CLIP vision tower + projector in front of the bundled SmolLM2.

Why this shape. The model must be a standard `LlavaForConditionalGeneration` folder that the engines load
without remote code. Its processor is `LlavaProcessor` with a CLIP image processor, which transformers runs on
Pillow alone: no torchvision CPU wheel can be installed here (PyPI's torchvision 0.28.0 links CUDA torch), and
Pixtral's processor requires torchvision. What sglang does with it is in docs/vlm.md.

Why this training. Teaching a language model to see end to end costs far more than a few minutes of two CPU
cores. Instead the language model stays frozen and the picture is turned into words it already reads: the
vision tower is trained (cheaply: 25 patch tokens, no language model in the loop) to emit, at image token *i*,
the *i*-th token of a canonical description of the scene ("two red circles and one blue square on a white
background."). The projector's second layer maps each slot class onto that token's input embedding (an empty
slot onto zeros, which disturbed the language model least of the pads tried), so the frozen SmolLM2 finds the
scene's words where the image was, and the chat template (a copy instruction and one worked turn) has it write
them out as one sentence. The vision tower sees only pixels at serving time: the words come out of what it
recognises, so wrong recognition gives wrong words, and a noised copy of the tower (the demo's worse miner)
names the wrong things.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.logging import get_logger
from harness.tasks import caption_gen
from harness.tasks.caption_gen import BACKGROUNDS, COLOURS, SHAPES, plural, render, sample_scene
from harness.tasks.toolcall_library import number_word

log = get_logger(__name__)

IMAGE_TOKEN = "<image>"
SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# With an image, SmolLM2 is asked to copy the words the tower put where the image was, and shown one worked turn
# first: without the example it paraphrases and goes on ("... is a classic example of a geometric pattern"), and
# every extra claim is a wrong fact (measured in docs/vlm.md). The example's words (golden, silver, crimson, cube,
# cones) name no colour or shape the scenes use, so an example copied by mistake asserts nothing a caption scorer
# reads. Prompts without images keep SmolLM2's own system line and no example.
IMAGE_SYSTEM_PROMPT = "You copy the words after Image: as one sentence, exactly, nothing else."
IMAGE_EXAMPLE_TURN = (
    "<|im_start|>user\\nImage: one golden cube and three silver cones on a crimson backdrop.\\n"
    "Describe this image in one short sentence.<|im_end|>\\n"
    "<|im_start|>assistant\\nOne golden cube and three silver cones on a crimson backdrop.<|im_end|>\\n"
)

# Images first (whatever their order in the message), each behind "Image:", then the text: the model was
# trained that way, and a string content (tool-call tasks) renders exactly like SmolLM2's own template.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(image=false) %}"
    "{%- for message in messages if message['content'] is not string %}"
    "{%- for part in message['content'] if part['type'] in ['image', 'image_url'] %}"
    "{%- set ns.image = true %}"
    "{%- endfor %}"
    "{%- endfor %}"
    "{%- for message in messages %}"
    "{%- if loop.first and messages[0]['role'] != 'system' %}"
    "{%- if ns.image %}{{ '<|im_start|>system\\n" + IMAGE_SYSTEM_PROMPT + "<|im_end|>\\n" + IMAGE_EXAMPLE_TURN + "' }}"
    "{%- else %}{{ '<|im_start|>system\\n" + SYSTEM_PROMPT + "<|im_end|>\\n' }}{%- endif %}"
    "{%- endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}{{ message['content'] }}"
    "{%- else %}"
    "{%- for part in message['content'] if part['type'] in ['image', 'image_url'] %}"
    "{{ 'Image: <image>\\n' }}"
    "{%- endfor %}"
    "{%- for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{%- endfor %}"
    "{%- endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

MODEL_CARD = """---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
pipeline_tag: image-text-to-text
---
# SmolLM2-135M-Instruct with a tiny CLIP vision tower (harness demo VLM)

Built and trained locally by the harness (harness/demo/vlm_train.py) on procedural scenes of coloured shapes.
The language model is SmolLM2-135M-Instruct, unchanged; the vision tower and projector were trained to turn
a scene into the words that describe it. A toy for demos and tests, not a general vision model.
"""


@dataclass(frozen=True)
class VlmRecipe:
    """Everything that decides the trained weights; its hash is part of the cache key."""

    seed: int = 20261201
    render_size: int = 224  # the procedural task images' default side (TaskConfig.image_size)
    image_size: int = 160  # the image processor resizes to this, so the tower sees a 5x5 patch grid
    patch_size: int = 32
    vision_hidden: int = 192
    vision_layers: int = 4
    vision_heads: int = 4
    train_scenes: int = 4000  # rendered once, then sampled: rendering is most of the cost of a step
    steps: int = 4000  # shapes: held-out 0.18 at 1500 steps, 0.34 at 3000, 0.39 at 4000 (docs/vlm.md)
    batch: int = 32
    learning_rate: float = 2e-3
    slot_scale: float = 3.0  # the winning slot's pre-activation target: gelu(3) ~ 3, gelu(-3) ~ 0

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


RECIPE = VlmRecipe()


def recipe_digest(recipe: VlmRecipe = RECIPE) -> str:
    """Cache key: the recipe plus the source of the trainer and the scene generator it learns from."""
    digest = hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode())
    for module_file in (__file__, caption_gen.__file__):
        digest.update(Path(module_file).read_bytes())
    return digest.hexdigest()[:12]


GROUP_FIELD = 6  # count, colour, up to three shape tokens ("hex", "ag", "ons"), separator
BACKGROUND_FIELD = 6  # " on", " a", up to two background tokens, " background", "."
MAX_GROUPS = 3


def _group_words(scene: dict) -> list[list[str]]:
    groups = scene["groups"]
    fields = []
    for i, g in enumerate(groups):
        separator = "," if i < len(groups) - 2 else " and" if i == len(groups) - 2 else ""
        fields.append(
            [" " + number_word(g["count"]), " " + g["colour"], " " + plural(g["shape"], g["count"]), separator]
        )
    return fields


def slot_caption(scene: dict) -> str:
    """The canonical words for a scene, group by group as laid out: what the slots spell, pads left out."""
    words = "".join("".join(field) for field in _group_words(scene))
    return f"{words} on a {scene['background']} background."


def slot_tokens(scene: dict, tokenizer: Any, slots: int) -> list[int | None]:
    """Token ids per image slot, in fixed fields (None: an empty slot).

    Fixed fields, not the caption's tokens in a row: slot *i* then always means the same thing (group 2's
    colour, say), whatever the earlier words' token lengths, which a small tower learns far faster than
    positions that shift with every "hexagons" (three tokens) before them."""

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False).input_ids if text else []

    out: list[int | None] = []
    fields = _group_words(scene)
    for i in range(MAX_GROUPS):
        if i >= len(fields):
            out += [None] * GROUP_FIELD
            continue
        count, colour, shape, separator = fields[i]
        words = ids(count) + ids(colour) + ids(shape)
        out += words + [None] * (GROUP_FIELD - 1 - len(words)) + (ids(separator) or [None])
    background = ids(" on") + ids(" a") + ids(" " + scene["background"])
    background += [None] * (BACKGROUND_FIELD - 2 - len(background)) + ids(" background") + ids(".")
    out += background
    if len(out) > slots:
        raise ValueError(f"{len(out)} slot words do not fit {slots} image tokens")
    return out + [None] * (slots - len(out))


def slot_vocabulary(tokenizer: Any) -> list[int]:
    """Token ids the slots can hold: every word of every canonical caption, the pad (a space) first."""
    words = [" " + c for c in COLOURS] + [" " + s for s in SHAPES] + [" " + plural(s, 2) for s in SHAPES]
    words += [" " + number_word(n) for n in range(1, 10)] + [",", " and", ".", " on", " a", " background"]
    words += [" " + b for b in BACKGROUNDS]
    ids = [_single_token(tokenizer, " ")]
    for word in words:
        for token in tokenizer(word, add_special_tokens=False).input_ids:
            if token not in ids:
                ids.append(token)
    return ids


def _single_token(tokenizer: Any, text: str) -> int:
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"{text!r} is not a single token")
    return ids[0]


def slot_targets(scene: dict, tokenizer: Any, vocab: list[int], slots: int) -> list[int]:
    return [0 if t is None else vocab.index(t) for t in slot_tokens(scene, tokenizer, slots)]


def build_processor(smollm2: Path, recipe: VlmRecipe = RECIPE) -> Any:
    from transformers import AutoTokenizer, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2))
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tokenizer.chat_template = CHAT_TEMPLATE
    side = recipe.image_size
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=recipe.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def assemble(smollm2: Path, processor: Any, recipe: VlmRecipe = RECIPE) -> Any:
    """A Llava model: fresh CLIP tower and projector, SmolLM2's weights, one new (image) token row."""
    import torch
    from transformers import AutoModelForCausalLM, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(recipe.seed)
    text_model = AutoModelForCausalLM.from_pretrained(str(smollm2), dtype=torch.float32)
    tokenizer = processor.tokenizer
    space = _single_token(tokenizer, " ")
    old_rows = text_model.get_input_embeddings().weight.shape[0]
    text_model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        embeddings = text_model.get_input_embeddings().weight
        embeddings[old_rows:] = embeddings[space]  # replaced by image features anyway; a blank if ever read
    text_config = text_model.config
    text_config.vocab_size = len(tokenizer)
    vision_config = CLIPVisionConfig(
        hidden_size=recipe.vision_hidden,
        intermediate_size=recipe.vision_hidden * 4,
        num_hidden_layers=recipe.vision_layers,
        num_attention_heads=recipe.vision_heads,
        image_size=recipe.image_size,
        patch_size=recipe.patch_size,
        projection_dim=recipe.vision_hidden,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        image_seq_length=recipe.grid * recipe.grid,
        tie_word_embeddings=True,
    )
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(text_model.model.state_dict())
    model.tie_weights()
    model.generation_config = text_model.generation_config
    return model.eval()


def _pixels(images: list[bytes], processor: Any) -> Any:
    from PIL import Image

    pil = [Image.open(io.BytesIO(png)).convert("RGB") for png in images]
    return processor.image_processor(pil, return_tensors="pt")["pixel_values"]


def _scene_batch(rng: random.Random, n: int, recipe: VlmRecipe) -> tuple[list[dict], list[bytes]]:
    scenes = [sample_scene(rng) for _ in range(n)]
    return scenes, [render(s, recipe.render_size) for s in scenes]


def slot_logits(model: Any, pixel_values: Any, classes: int) -> Any:
    """Per-slot class scores through the served path (tower, feature layer without CLS, projector layer 1)."""
    out = model.model.vision_tower(pixel_values, output_hidden_states=True)
    features = out.hidden_states[model.config.vision_feature_layer][:, 1:]
    hidden = model.model.multi_modal_projector.linear_1(features)
    return hidden[..., :classes].reshape(pixel_values.shape[0], -1, classes)


def train(model: Any, processor: Any, recipe: VlmRecipe = RECIPE) -> dict:
    """Train tower + projector so slot i holds the i-th word of the scene; returns held-out slot accuracy."""
    import torch
    import torch.nn.functional as F

    tokenizer = processor.tokenizer
    vocab = slot_vocabulary(tokenizer)
    classes = len(vocab)
    slots = recipe.grid * recipe.grid
    projector = model.model.multi_modal_projector
    embeddings = model.get_input_embeddings().weight
    text_hidden = embeddings.shape[1]
    if classes > text_hidden:
        raise ValueError("slot vocabulary larger than the projector's width")
    with torch.no_grad():  # linear_2: slot k -> embedding of token vocab[k]; unused units stay silent
        projector.linear_2.weight.zero_()
        projector.linear_2.bias.zero_()
        projector.linear_2.weight[:, :classes] = embeddings[vocab].T / recipe.slot_scale
        projector.linear_2.weight[:, 0] = 0.0  # an empty slot is silence (a zero vector), not a word
        projector.linear_1.weight[classes:] = 0.0
        projector.linear_1.bias[classes:] = 0.0
    params = [*model.model.vision_tower.parameters(), projector.linear_1.weight, projector.linear_1.bias]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, recipe.learning_rate, total_steps=recipe.steps)
    started = time.monotonic()
    scenes, images = _scene_batch(random.Random(recipe.seed), recipe.train_scenes, recipe)
    all_pixels = torch.cat([_pixels(images[i : i + 256], processor) for i in range(0, len(images), 256)])
    all_targets = torch.tensor([slot_targets(s, tokenizer, vocab, slots) for s in scenes])
    del images
    log.info("vlm training data rendered", scenes=len(scenes), seconds=round(time.monotonic() - started))
    order = torch.Generator().manual_seed(recipe.seed)
    model.model.vision_tower.train()
    for step in range(recipe.steps):
        pick = torch.randint(0, len(scenes), (recipe.batch,), generator=order)
        pixel_values, target = all_pixels[pick], all_targets[pick]
        logits = slot_logits(model, pixel_values, classes)
        onehot = F.one_hot(target, classes).float() * 2 * recipe.slot_scale - recipe.slot_scale
        loss = F.cross_entropy(logits.reshape(-1, classes), target.reshape(-1)) + 0.05 * F.mse_loss(logits, onehot)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 50 == 0:
            log.info("vlm training", step=step, loss=round(loss.item(), 4), seconds=round(time.monotonic() - started))
        # zero rows must stay zero (their gradient is zero only while the weights are)
        with torch.no_grad():
            projector.linear_1.weight[classes:] = 0.0
            projector.linear_1.bias[classes:] = 0.0
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    metrics = slot_accuracy(model, processor, random.Random(recipe.seed + 1), 256, recipe)
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    return metrics


def slot_accuracy(model: Any, processor: Any, rng: random.Random, n: int, recipe: VlmRecipe = RECIPE) -> dict:
    """Held-out accuracy of the slot words: whole caption exact, and per word kind (colour, shape, count)."""
    import torch

    tokenizer = processor.tokenizer
    vocab = slot_vocabulary(tokenizer)
    slots = recipe.grid * recipe.grid
    scenes, images = _scene_batch(rng, n, recipe)
    pixel_values = _pixels(images, processor)
    with torch.no_grad():
        predicted = slot_logits(model, pixel_values, len(vocab)).argmax(-1).tolist()
    colour_ids = {vocab.index(_single_token(tokenizer, " " + c)) for c in COLOURS}
    exact = kinds = hits = 0
    # per group field: the count word, the shape's tokens (all of them right), the background field whole
    fields = {"count": [0, 0], "shape": [0, 0], "background": [0, 0]}
    for scene, guess in zip(scenes, predicted, strict=True):
        target = slot_targets(scene, tokenizer, vocab, slots)
        exact += guess == target
        for t, g in zip(target, guess, strict=True):
            if t in colour_ids:
                kinds += 1
                hits += t == g
        for group in range(min(len(scene["groups"]), MAX_GROUPS)):
            at = group * GROUP_FIELD
            fields["count"][0] += target[at] == guess[at]
            fields["shape"][0] += target[at + 2 : at + GROUP_FIELD - 1] == guess[at + 2 : at + GROUP_FIELD - 1]
            fields["count"][1] += 1
            fields["shape"][1] += 1
        at = MAX_GROUPS * GROUP_FIELD
        fields["background"][0] += target[at : at + BACKGROUND_FIELD] == guess[at : at + BACKGROUND_FIELD]
        fields["background"][1] += 1
    metrics = {"caption_exact": round(exact / n, 3), "colour_slot_accuracy": round(hits / max(kinds, 1), 3)}
    metrics |= {f"{kind}_slot_accuracy": round(right / max(total, 1), 3) for kind, (right, total) in fields.items()}
    return metrics


def build_vlm(out: Path, smollm2: Path, recipe: VlmRecipe = RECIPE) -> dict:
    """Assemble, train and save the demo VLM into `out`; returns the training metrics."""
    import torch

    # One thread: on a shared 2-core machine two threads spin on each other (measured ~10x slower per step),
    # and a single thread keeps the float reductions, hence the weights, reproducible.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    processor = build_processor(smollm2, recipe)
    model = assemble(smollm2, processor, recipe)
    try:
        metrics = train(model, processor, recipe)
    finally:
        torch.set_num_threads(threads)
    model.to(torch.bfloat16)
    model.config.dtype = torch.bfloat16
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    (out / "README.md").write_text(MODEL_CARD)
    log.info("vlm built", **metrics)
    return metrics
