"""The alert rules in compose/monitoring: valid for Prometheus (`promtool check rules`), behaving as their unit
tests say (`promtool test rules`), and reading only series the exporter produces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.metrics_exports import MONITORING, PROMETHEUS_OWN, names_in, scraped_names

RULES = MONITORING / "prometheus" / "alerts.yml"
RULE_TESTS = MONITORING / "prometheus" / "alerts.test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian's `prometheus` package; .ci/run installs it)"
)


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    checked = _promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@needs_promtool
def test_rules_pass_their_unit_tests() -> None:
    tested = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_unit_tests_catch_a_weights_stale_threshold_moved(tmp_path: Path) -> None:
    """The weights-stale cases pin the 80 % threshold: at 95 % the alert would come too late and they fail."""
    rules = RULES.read_text()
    assert rules.count("> 0.8 * harness_activity_cutoff_blocks") == 1
    (tmp_path / RULES.name).write_text(
        rules.replace("> 0.8 * harness_activity_cutoff_blocks", "> 0.95 * harness_activity_cutoff_blocks")
    )
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    tested = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert tested.returncode != 0
    assert "HarnessWeightsStale" in tested.stdout + tested.stderr


def test_every_rule_has_a_severity_and_reads_only_exported_series(tmp_path: Path) -> None:
    exported = scraped_names(tmp_path) | PROMETHEUS_OWN
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {"HarnessWeightsStale", "HarnessRoundsFailing", "HarnessCacheDiskLow"}
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        used = names_in(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)
