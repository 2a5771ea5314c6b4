"""`harness tasks` and `harness score` from the command line."""

from __future__ import annotations

import json

from harness.cli.app import main
from tests.support.bfcl_support import calls_from_truth
from tests.support.paths import REPO_ROOT


def test_tasks_export_is_deterministic_and_score_reads_outputs(tmp_path, capsys) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["tasks", "--seed", "42", "--n", "8", "--out", str(a)]) == 0
    assert main(["tasks", "--seed", "42", "--n", "8", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    tasks = json.loads(a.read_text())["tasks"]
    lines = []
    for i, task in enumerate(tasks):
        calls = calls_from_truth(task["possible_answer"], 0)
        if i % 2 == 0:
            native = [
                {"type": "function", "function": {"name": n, "arguments": json.dumps(v)}}
                for c in calls
                for n, v in c.items()
            ]
            message = {"role": "assistant", "content": None if calls else "No tool fits.", "tool_calls": native or None}
            lines.append({"task_id": task["id"], "response": {"choices": [{"message": message}]}})
        else:
            lines.append({"task_id": task["id"], "error": "request-timeout"})
    outputs = tmp_path / "out.jsonl"
    outputs.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    capsys.readouterr()
    assert main(["score", "--tasks", str(a), "--outputs", str(outputs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["families"]["toolcall"]["mean"] == 0.5
    assert report["errors"] == {"request-timeout": 4}
    assert main(["score", "--tasks", str(a), "--outputs", str(outputs), "--competition", "any2any"]) == 0
    assert "score: **0.250**" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["tasks", "--seed", "1", "--family", "audio", "--out", str(tmp_path / "x")]) == 2
    assert "unknown family" in capsys.readouterr().err
    assert main(["score", "--tasks", str(tmp_path / "none.json"), "--outputs", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    main(["tasks", "--seed", "1", "--n", "2", "--out", str(tmp_path / "t.json")])
    (tmp_path / "o.jsonl").write_text('{"task_id": "tc-0000", "content": "x"}\n{broken\n')
    assert main(["score", "--tasks", str(tmp_path / "t.json"), "--outputs", str(tmp_path / "o.jsonl")]) == 2
    assert "o.jsonl:2: not JSON" in capsys.readouterr().err


def test_task_bytes_do_not_depend_on_the_process(tmp_path) -> None:
    """Separate processes with different hash seeds (what two validators are) write the same bytes."""
    import os
    import subprocess
    import sys

    root = REPO_ROOT
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"t{hash_seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        command = [sys.executable, "-m", "harness.cli.app", "tasks", "--seed", "blk", "--n", "15", "--out", str(out)]
        subprocess.run(command, check=True, env=env, cwd=tmp_path, capture_output=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
