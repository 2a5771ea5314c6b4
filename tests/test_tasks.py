"""Task sets are a pure function of (seed, settings), and what they ask is answerable by their own ground truth."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.evaluate import select_tasks
from harness.tasks import (
    build_family,
    build_for_competition,
    canonical_bytes,
    caption_jsonl,
    load_task_set,
    sha256_of,
    write_task_set,
)
from harness.tasks.config import CompetitionConfig, TasksConfig
from scoring.toolcall import check
from tests.bfcl_support import calls_from_truth

WITH_BFCL = TasksConfig(bfcl_fraction=0.5)


@pytest.mark.parametrize(
    ("family", "config"), [("toolcall", TasksConfig()), ("toolcall", WITH_BFCL), ("caption", TasksConfig())]
)
def test_same_seed_same_bytes_different_seed_differs(family: str, config: TasksConfig) -> None:
    a = canonical_bytes(build_family("0xfeed", family, 12, config))
    b = canonical_bytes(build_family("0xfeed", family, 12, config))
    c = canonical_bytes(build_family("0xbeef", family, 12, config))
    assert a == b
    assert a != c


def test_settings_change_the_set_and_are_recorded(tmp_path) -> None:
    base = build_family("s", "toolcall", 10, TasksConfig())
    other = build_family("s", "toolcall", 10, TasksConfig(toolcall_categories={"simple": 1.0}))
    assert sha256_of(base) != sha256_of(other)
    assert other["settings"]["categories"] == {"simple": 1.0}
    assert {t["category"] for t in other["tasks"]} == {"simple"}
    digest = write_task_set(base, tmp_path / "t.json")
    assert digest == sha256_of(base) and load_task_set(tmp_path / "t.json") == base


def test_generated_tasks_are_well_formed_and_their_truth_passes() -> None:
    tasks = build_family("truth", "toolcall", 200, TasksConfig())["tasks"]
    assert {t["category"] for t in tasks} == {"simple", "multiple", "parallel", "parallel_multiple", "irrelevance"}
    assert len({t["id"] for t in tasks}) == len(tasks)
    for task in tasks:
        assert (
            task["messages"][0]["role"] == "system" and task["functions"][0]["name"] in task["messages"][0]["content"]
        )
        assert [t["function"]["name"] for t in task["tools"]] == [f["name"] for f in task["functions"]]
        assert all(t["function"]["parameters"]["type"] == "object" for t in task["tools"])
        calls = calls_from_truth(task["possible_answer"], 0)
        answer = "None of these tools can answer that." if task["category"] == "irrelevance" else ""
        assert check(task["functions"], calls, task["possible_answer"], task["category"], answer).valid, task["id"]
        if task["category"] == "multiple":
            assert len(task["functions"]) >= 2
        if "parallel" in task["category"]:
            assert len(task["possible_answer"]) >= 2
        if task["category"] == "irrelevance":
            assert task["possible_answer"] == []


def test_schema_types_cover_the_brief() -> None:
    tasks = build_family("types", "toolcall", 200, TasksConfig())["tasks"]
    types = {p["type"] for t in tasks for f in t["functions"] for p in f["parameters"]["properties"].values()}
    assert types >= {"string", "float", "integer", "boolean", "array", "dict"}
    assert any("enum" in p for t in tasks for f in t["functions"] for p in f["parameters"]["properties"].values())


def test_bfcl_sampling_is_seeded_and_answerable() -> None:
    tasks = build_family("b", "toolcall", 30, TasksConfig(bfcl_fraction=1.0))["tasks"]
    assert all(t["source"].startswith("bfcl:") for t in tasks)
    assert {t["category"] for t in tasks} <= {
        "simple",
        "multiple",
        "parallel",
        "parallel_multiple",
        "live_simple",
        "live_multiple",
        "live_parallel",
        "live_parallel_multiple",
    }
    valid = sum(
        check(t["functions"], calls_from_truth(t["possible_answer"], 0), t["possible_answer"], t["category"]).valid
        for t in tasks
    )
    assert valid >= 28  # a handful of BFCL entries have ground truth their own checker rejects


def test_caption_tasks_carry_a_png_and_references() -> None:
    tasks = build_family("img", "caption", 5, TasksConfig(image_size=128))["tasks"]
    for task in tasks:
        parts = task["messages"][0]["content"]
        assert parts[0] == {"type": "text", "text": TasksConfig().caption_prompt}
        url = parts[1]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert image.size == (128, 128)
        assert len(task["references"]) >= 3
        for name in task["truth"]["counts"]:
            assert name.split()[0] in task["references"][0]


def test_jsonl_caption_loader(tmp_path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(buf, format="PNG")
    (tmp_path / "red.png").write_bytes(buf.getvalue())
    rows = [
        {"id": "r1", "image": "red.png", "captions": ["a red square"]},
        {"image": "red.png", "captions": ["red", "plain red"]},
    ]
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tasks = caption_jsonl.load(tmp_path / "set.jsonl", "Describe.")
    assert [t["source"] for t in tasks] == ["jsonl:r1", "jsonl:2"]
    assert tasks[0]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    config = TasksConfig(caption_jsonl=tmp_path / "set.jsonl", caption_jsonl_fraction=0.5)
    mixed = build_family("j", "caption", 4, config)
    assert sum(t["source"].startswith("jsonl:") for t in mixed["tasks"]) == 2
    for bad, message in (
        ('{"image": "red.png"}', "captions"),
        ('{"image": "../x.png", "captions": ["a"]}', "leaves the dataset folder"),
        ("not json", "not JSON"),
        ('{"image": "missing.png", "captions": ["a"]}', "cannot read"),
    ):
        (tmp_path / "bad.jsonl").write_text(bad + "\n")
        with pytest.raises(HarnessError, match=message):
            caption_jsonl.load(tmp_path / "bad.jsonl", "Describe.")


def test_competition_families_and_vision_policy() -> None:
    config = TasksConfig(toolcall_n=3, caption_n=2)
    both = build_for_competition("c", CompetitionConfig(families={"toolcall": 0.5, "caption": 0.5}).families, config)
    assert [t["family"] for t in both["tasks"]] == ["toolcall"] * 3 + ["caption"] * 2
    sent, withheld = select_tasks(both["tasks"], vision=False)
    assert [t["family"] for t in sent] == ["toolcall"] * 3 and len(withheld) == 2
    assert len(select_tasks(both["tasks"], vision=True)[0]) == 5
    assert CompetitionConfig(families={"caption": 1}).needs_vision
    with pytest.raises(ValueError):
        CompetitionConfig(families={"audio": 1})
    with pytest.raises(ValueError):
        TasksConfig(toolcall_categories={"simple": 0})


def test_bad_task_files_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(HarnessError, match="not found"):
        load_task_set(tmp_path / "none.json")
    (tmp_path / "x.json").write_text("[1]")
    with pytest.raises(HarnessError, match="not a harness-tasks"):
        load_task_set(tmp_path / "x.json")
