"""`harness check` says which engine's rules it applied, and on the CPU engine whether sglang would refuse.

A miner who tests on CPU (the transformers engine serves a CLIP-tower Llava) must learn before committing that
validators on GPU (sglang) refuse that tower; the check runs the policy a second time with sglang's rules.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli.app import main
from tests.support.model_factory import write_tiny_model


def _llava(root: Path, tower: str, strategy: str) -> Path:
    write_tiny_model(root)
    config = json.loads((root / "config.json").read_text())
    config.update(
        architectures=["LlavaForConditionalGeneration"],
        model_type="llava",
        vision_config={"model_type": tower},
        vision_feature_select_strategy=strategy,
    )
    (root / "config.json").write_text(json.dumps(config))
    return root


def test_cpu_check_warns_that_sglang_would_refuse_the_tower(tmp_path: Path, capsys) -> None:
    model = _llava(tmp_path / "clip", "clip_vision_model", "default")
    assert main(["--set", "sandbox.engine=cpu", "check", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "cpu"
    assert report["sglang"]["allowed"] is False
    assert any("clip_vision_model" in v["message"] for v in report["sglang"]["violations"])

    assert main(["--set", "sandbox.engine=cpu", "check", str(model)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("engine rules: cpu; sglang") and "would REFUSE" in last


def test_cpu_check_says_sglang_agrees_when_it_does(tmp_path: Path, capsys) -> None:
    model = _llava(tmp_path / "pixtral", "pixtral", "full")
    assert main(["--set", "sandbox.engine=cpu", "check", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sglang"] == {"allowed": True, "violations": []}


def test_sglang_check_names_its_engine_and_runs_once(tmp_path: Path, capsys) -> None:
    model = _llava(tmp_path / "clip", "clip_vision_model", "default")
    assert main(["--set", "sandbox.engine=sglang", "check", str(model), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "sglang" and "sglang" not in report
