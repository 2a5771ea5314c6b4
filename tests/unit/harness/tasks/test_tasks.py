"""Task sets are a pure function of (seed, settings), and what they ask is answerable by their own ground truth."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.evaluation.run_loop import TaskOutcome
from harness.evaluation.task_scoring import score_each, select_tasks
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
from tests.support.bfcl_support import calls_from_truth

GENERATED_ONLY = TasksConfig(bfcl_fraction=0.0)


@pytest.mark.parametrize(
    ("family", "config"), [("toolcall", TasksConfig()), ("toolcall", GENERATED_ONLY), ("caption", TasksConfig())]
)
def test_same_seed_same_bytes_different_seed_differs(family: str, config: TasksConfig) -> None:
    a = canonical_bytes(build_family("0xfeed", family, 12, config))
    b = canonical_bytes(build_family("0xfeed", family, 12, config))
    c = canonical_bytes(build_family("0xbeef", family, 12, config))
    assert a == b
    assert a != c


def test_settings_change_the_set_and_are_recorded(tmp_path) -> None:
    base = build_family("s", "toolcall", 10, GENERATED_ONLY)
    other = build_family("s", "toolcall", 10, TasksConfig(bfcl_fraction=0.0, toolcall_categories={"simple": 1.0}))
    assert sha256_of(base) != sha256_of(other)
    assert other["settings"]["categories"] == {"simple": 1.0}
    assert {t["category"] for t in other["tasks"]} == {"simple"}
    digest = write_task_set(base, tmp_path / "t.json")
    assert digest == sha256_of(base) and load_task_set(tmp_path / "t.json") == base


def test_generated_tasks_are_well_formed_and_their_truth_passes() -> None:
    tasks = build_family("truth", "toolcall", 200, GENERATED_ONLY)["tasks"]
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
    tasks = build_family("types", "toolcall", 200, GENERATED_ONLY)["tasks"]
    params = [p for t in tasks for f in t["functions"] for p in f["parameters"]["properties"].values()]
    assert {p["type"] for p in params} >= {"string", "float", "integer", "boolean", "array", "dict"}
    assert any("enum" in p for p in params)
    assert any("default" in p for p in params)
    assert any(p["type"] == "array" and p["items"].get("type") == "dict" for p in params)  # arrays of objects
    assert any(p["type"] == "dict" and p.get("properties") for p in params)  # nested objects


def test_bfcl_is_on_by_default_perturbed_and_answerable() -> None:
    task_set = build_family("b", "toolcall", 60, TasksConfig())
    tasks = task_set["tasks"]
    from_bfcl = [t for t in tasks if t["source"].startswith("bfcl:")]
    assert len(from_bfcl) == round(60 * TasksConfig().bfcl_fraction) == task_set["settings"]["sources"]["bfcl"]
    assert {t["category"] for t in from_bfcl} <= set(TasksConfig().bfcl_categories) | {"simple"}
    assert sum(t["perturbed"] for t in from_bfcl) >= len(from_bfcl) - 2
    valid = sum(
        check(t["functions"], calls_from_truth(t["possible_answer"], 0), t["possible_answer"], t["category"]).valid
        for t in from_bfcl
    )
    assert valid == len(from_bfcl)  # entries whose own key fails BFCL's checker are not sampled


def test_private_pool_is_mixed_in_by_share(tmp_path) -> None:
    rows = [
        {
            "id": f"simple_{i}",
            "question": [[{"role": "user", "content": f"Ping host number {i}."}]],
            "function": [{"name": "ping", "description": "Ping a host.", "parameters": {
                "type": "dict", "properties": {"host": {"type": "integer", "description": "Host."}},
                "required": ["host"]}}],
            "ground_truth": [{"ping": {"host": [i]}}],
        }
        for i in range(5)
    ] + [{"id": "mine-x", "category": "irrelevance", "question": [[{"role": "user", "content": "Hi?"}]],
          "function": [{"name": "ping", "parameters": {"type": "dict", "properties": {}}}]}]  # fmt: skip
    pool = tmp_path / "pool.jsonl"
    pool.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    config = TasksConfig(private_pool=pool, private_pool_fraction=0.25, bfcl_fraction=0.5)
    tasks = build_family("p", "toolcall", 20, config)["tasks"]
    private = [t for t in tasks if t["source"].startswith("private:")]
    assert len(private) == 5
    for task in private:  # used as written: the operator's own data is not public, so not perturbed
        assert task["functions"][0]["name"] == "ping"
        answer = "No tool fits." if task["category"] == "irrelevance" else ""
        calls = calls_from_truth(task["possible_answer"], 0)
        assert check(task["functions"], calls, task["possible_answer"], task["category"], answer).valid
    assert sum(t["source"].startswith("bfcl:") for t in tasks) == 10
    with pytest.raises(ValueError, match="at most 1"):
        TasksConfig(private_pool=pool, private_pool_fraction=0.5, bfcl_fraction=0.7)
    for bad, message in (
        ('{"id": "simple_1", "function": []}', "needs 'question'"),
        ('{"id": "weird_1", "question": [[{"role": "user", "content": "x"}]], "function": []}', "unknown category"),
        ('{"id": "simple_1", "ground_truth": {"f": 1}}', "ground_truth"),
        ("not json", "not JSON"),
    ):
        pool.write_text(bad + "\n")
        with pytest.raises(HarnessError, match=message):
            build_family("p", "toolcall", 8, config)


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


def test_jsonl_images_over_the_limits_are_refused_with_their_line(tmp_path) -> None:
    def png(side: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (side, side), (0, 0, 255)).save(buf, format="PNG")
        return buf.getvalue()

    (tmp_path / "small.png").write_bytes(png(8))
    (tmp_path / "wide.png").write_bytes(png(100))
    (tmp_path / "heavy.png").write_bytes(png(8) + b"\0" * 5000)  # trailing bytes: a big file, a small header
    (tmp_path / "fake.png").write_bytes(b"not an image at all")
    small_url = "data:image/png;base64," + base64.b64encode(png(8)).decode()
    wide_url = "data:image/png;base64," + base64.b64encode(png(100)).decode()
    limits = caption_jsonl.ImageLimits(max_bytes=4000, max_pixels=50 * 50)
    ok = [{"image": "small.png", "captions": ["blue"]}, {"image": small_url, "captions": ["blue"]}]
    (tmp_path / "ok.jsonl").write_text("\n".join(json.dumps(r) for r in ok) + "\n")
    assert len(caption_jsonl.load(tmp_path / "ok.jsonl", "Describe.", limits)) == 2
    for image, message in (
        ("heavy.png", "exceeds tasks.max_image_bytes"),
        # 4x the limit: Pillow's own bomb limit (set to tasks.max_image_pixels) refuses it in the header.
        ("wide.png", "exceeds tasks.max_image_pixels .*10000 pixels"),
        (wide_url, "exceeds tasks.max_image_pixels .*10000 pixels"),
        ("data:image/png;base64," + "A" * 6000, "exceeds tasks.max_image_bytes"),
        ("data:image/png;base64,@@@", "not valid base64"),
        ("fake.png", "not a readable image"),
    ):
        (tmp_path / "bad.jsonl").write_text(json.dumps(ok[0]) + "\n" + json.dumps({"image": image, "captions": ["a"]}))
        with pytest.raises(HarnessError, match=f"bad.jsonl:2: .*{message}"):
            caption_jsonl.load(tmp_path / "bad.jsonl", "Describe.", limits)


def test_request_cap_must_hold_the_largest_allowed_image() -> None:
    from pydantic import ValidationError

    from harness.settings.root import Settings

    assert Settings().sandbox.max_request_bytes >= 4 * Settings().tasks.max_image_bytes // 3
    with pytest.raises(ValidationError, match="cannot hold a caption request"):
        Settings(tasks={"max_image_bytes": 12 * 1024 * 1024}, sandbox={"max_request_bytes": 16 * 1024 * 1024})
    Settings(tasks={"max_image_bytes": 12 * 1024 * 1024}, sandbox={"max_request_bytes": 17 * 1024 * 1024})


def test_registry_drives_build_scoring_and_vision() -> None:
    """Families are looked up, not branched on: a new one plugs in without touching the evaluator."""
    from harness.tasks.families import family_names, get_family, register, unregister
    from scoring.config import ScoringConfig

    assert family_names()[:2] == ("toolcall", "caption")
    assert get_family("caption").needs_vision and not get_family("toolcall").needs_vision

    class Echo:
        name, needs_vision, id_prefix, count_setting = "echo-test", False, "echo", "toolcall_n"

        def generate(self, seed, n, config):
            return [{"family": self.name, "category": "say", "source": "t", "messages": [], "word": f"w{i}"}
                    for i in range(n)], {"n": n}  # fmt: skip

        def score(self, tasks, outcomes, scoring, resource=None):
            return [{"score": float(o.content == t["word"])} for t, o in zip(tasks, outcomes, strict=True)]

    register(Echo())
    try:
        _check_echo_family(ScoringConfig())
    finally:
        unregister("echo-test")
    with pytest.raises(ValueError, match="unknown task family"):
        get_family("echo-test")


def _check_echo_family(scoring) -> None:
    task_set = build_family("r", "echo-test", 2, TasksConfig())
    assert [t["id"] for t in task_set["tasks"]] == ["echo-0000", "echo-0001"]
    outcomes = [TaskOutcome("echo-0000", content="w0"), TaskOutcome("echo-0001", content="nope")]
    results = score_each(task_set["tasks"], outcomes, scoring)
    assert [r.score for r in results] == [1.0, 0.0]
    assert CompetitionConfig(families={"echo-test": 1.0}).families == {"echo-test": 1.0}


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


def test_values_are_said_the_way_their_types_accept() -> None:
    """The trap from issue 9: "44, 9 and 27" for a float array makes the natural answer `[44, 9, 27]`, which
    BFCL's checker rejects (ints inside a float array). Float-array values are said with decimals; top-level
    floats may be said as whole numbers, since an int is accepted there."""
    tasks = build_family("traps", "toolcall", 400, GENERATED_ONLY)["tasks"]
    float_arrays = 0
    for task in tasks:
        text = task["messages"][-1]["content"]
        for entry in task["possible_answer"]:
            ((name, args),) = entry.items()
            props = next(f for f in task["functions"] if f["name"] == name)["parameters"]["properties"]
            for param, alternatives in args.items():
                spec = props[param]
                if spec["type"] == "array" and spec["items"].get("type") == "float" and alternatives != [""]:
                    float_arrays += 1
                    for value in alternatives[0]:
                        assert re.search(rf"(?<![\d.]){re.escape(f'{value:g}')}\.\d", text) or (
                            not value.is_integer() and f"{value:g}" in text
                        ), (text, value)
                    natural = [float(x) for x in re.findall(r"\d+\.\d+", text) if float(x) in alternatives[0]]
                    assert _check_value(spec, natural, alternatives)
                if spec["type"] == "float" and alternatives != [""] and float(alternatives[-1]).is_integer():
                    assert _check_value(spec, int(alternatives[-1]), alternatives)  # `$45` -> 45 is right
    assert float_arrays >= 5


def _check_value(spec: dict, value, alternatives: list) -> bool:
    function = {"name": "f", "parameters": {"type": "dict", "properties": {"x": spec}, "required": ["x"]}}
    return check([function], [{"f": {"x": value}}], [{"f": {"x": alternatives}}], "simple").valid


def test_every_reference_in_a_request_is_resolvable() -> None:
    """A request may name a person by role ("for my accountant"); the sentence saying who that is must always be
    there (never dropped with the decoys), once per role, and that person is who the answer key names."""
    from harness.tasks.toolcall_gen import _ROLES

    roles = "|".join(_ROLES)
    tasks = build_family("refs", "toolcall", 600, GENERATED_ONLY)["tasks"]
    resolved = 0
    for task in tasks:
        text = task["messages"][-1]["content"]
        introduced = re.findall(rf"My ({roles}) is ([A-Z]\w+ [A-Z]\w+)\.", text)
        assert len({role for role, _ in introduced}) == len(introduced), text
        people = dict(introduced)
        for role in re.findall(rf"\bmy ({roles})\b", text):
            assert role in people, text
            if task["category"] != "irrelevance":
                assert people[role] in json.dumps(task["possible_answer"]), text
            resolved += 1
    assert resolved >= 50
