"""`harness doctor`: exit codes and JSON shape, with and without a Docker engine."""

from __future__ import annotations

import json

import pytest

from harness.cli.app import main


def test_doctor_without_engine_cannot_check_exit_2_with_reason(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """No engine answers: nothing could be checked, so exit 2 ("could not check"), not 1 ("a check failed")."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["doctor", "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["checks"][0]["name"] == "docker" and "no Docker engine answers" in report["checks"][0]["detail"]


@pytest.mark.docker
def test_doctor_passes_here_with_non_vacuous_probes(capsys) -> None:
    assert main(["doctor", "--json"]) == 0, capsys.readouterr()
    report = json.loads(capsys.readouterr().out)
    probes = {c["name"]: c for c in report["checks"] if c["name"].startswith("isolation:")}
    assert len(probes) == 8 and all(c["ok"] for c in probes.values())
    network = probes["isolation:no-host-network"]["data"]
    assert network["isolated"] == [] and network["control"]
