"""The demo VLM's recipe: what the tower learns to say, the chat template that takes images, the cache key."""

from __future__ import annotations

import dataclasses
import random

import jinja2

from harness.demo.vlm_train import (
    CHAT_TEMPLATE,
    IMAGE_EXAMPLE_TURN,
    IMAGE_SYSTEM_PROMPT,
    IMAGE_TOKEN,
    RECIPE,
    SYSTEM_PROMPT,
    recipe_digest,
    slot_caption,
    slot_tokens,
)
from harness.tasks.caption_gen import sample_scene, truth_of
from scoring.caption_facts import check, read_facts


def _render(messages: list[dict]) -> str:
    return jinja2.Environment().from_string(CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=True)


def test_slot_caption_names_every_group_left_to_right() -> None:
    scene = {
        "background": "white",
        "text": None,
        "groups": [
            {"shape": "circle", "colour": "red", "count": 2, "position": "left"},
            {"shape": "square", "colour": "blue", "count": 1, "position": "right"},
        ],
    }
    assert slot_caption(scene) == " two red circles and one blue square on a white background."


def test_slot_captions_fit_the_image_token_grid(smollm2) -> None:  # type: ignore[no-untyped-def]
    """Every canonical caption must fit the image tokens, or the tower could never say all of it."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2))
    rng = random.Random(3)
    lengths = [len(tokenizer(slot_caption(sample_scene(rng)), add_special_tokens=False).input_ids) for _ in range(300)]
    assert max(lengths) <= RECIPE.grid * RECIPE.grid


def test_slot_fields_do_not_shift_with_earlier_words(smollm2) -> None:  # type: ignore[no-untyped-def]
    """Group 2's colour sits in the same slot whether group 1's shape is one token or three."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2))
    slots = RECIPE.grid * RECIPE.grid

    def scene(first_shape: str) -> dict:
        groups = [
            {"shape": first_shape, "colour": "red", "count": 3, "position": "left"},
            {"shape": "square", "colour": "blue", "count": 1, "position": "right"},
        ]
        return {"background": "pale green", "text": None, "groups": groups}

    short, long = slot_tokens(scene("circle"), tokenizer, slots), slot_tokens(scene("hexagon"), tokenizer, slots)
    assert len(short) == len(long) == slots
    differ = [i for i, (a, b) in enumerate(zip(short, long, strict=True)) if a != b]
    assert differ and max(differ) < 6  # only group 1's shape field changed
    for scene_ in (scene("circle"), scene("hexagon")):
        words = tokenizer.decode([t for t in slot_tokens(scene_, tokenizer, slots) if t is not None])
        assert words == slot_caption(scene_)


def test_template_puts_images_before_the_text_whatever_their_order() -> None:
    task_order = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe it."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,PIXELS"}},
            ],
        }
    ]
    rendered = _render(task_order)
    assert rendered.index(IMAGE_TOKEN) < rendered.index("Describe it.")
    assert rendered.count(IMAGE_TOKEN) == 1 and "PIXELS" not in rendered
    assert IMAGE_SYSTEM_PROMPT in rendered and SYSTEM_PROMPT not in rendered
    assert rendered.endswith("<|im_start|>assistant\n")
    # one worked turn (no image of its own) sits between the system line and the task
    example = IMAGE_EXAMPLE_TURN.replace("\\n", "\n")
    assert rendered.index(IMAGE_SYSTEM_PROMPT) < rendered.index(example) < rendered.index(IMAGE_TOKEN)
    assert IMAGE_TOKEN not in example


def test_the_worked_example_asserts_nothing_a_caption_is_scored_on() -> None:
    """A model that copies the example instead of its image must earn and lose nothing by it: none of the
    example's words is a colour, shape, count of a shape or background colour the scorer reads."""
    answer = IMAGE_EXAMPLE_TURN.replace("\\n", "\n").split("assistant\n", 1)[1].split("<|im_end|>")[0]
    assert "golden cube" in answer
    for seed in range(20):
        truth = truth_of(sample_scene(random.Random(seed)), 224)
        facts = read_facts(answer, truth)
        assert not facts.mentions and not facts.colours and not facts.backgrounds, facts
        assert check(answer, truth).asserted == 0


def test_template_renders_string_content_like_smollm2(smollm2) -> None:  # type: ignore[no-untyped-def]
    """Tool-call tasks send plain strings: the VLM must see exactly what SmolLM2 sees, so they tie there."""
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    original = (smollm2 / "chat_template.jinja").read_text()
    expected = jinja2.Environment().from_string(original).render(messages=messages, add_generation_prompt=True)
    assert _render(messages) == expected
    no_system = [{"role": "user", "content": "U"}]
    assert _render(no_system) == jinja2.Environment().from_string(original).render(
        messages=no_system, add_generation_prompt=True
    )


def test_cache_key_follows_the_recipe() -> None:
    assert recipe_digest() == recipe_digest()
    assert recipe_digest(dataclasses.replace(RECIPE, steps=RECIPE.steps + 1)) != recipe_digest()
