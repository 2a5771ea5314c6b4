"""The Grafana dashboard and the monitoring profile in compose/: the dashboard loads, its panels are well formed
and point at the provisioned data source, every PromQL expression parses (promtool) and reads only series the
exporter produces; Prometheus scrapes the supervisor where compose publishes it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.metrics_exports import MONITORING, PROMETHEUS_OWN, REPO, names_in, scraped_names

DASHBOARD = MONITORING / "grafana" / "dashboards" / "harness.json"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "harness.yml"
COMPOSE = REPO / "compose" / "docker-compose.yml"
PANEL_TYPES = {"stat", "timeseries", "bargauge", "table", "gauge", "text", "row"}
GRID_COLUMNS = 24


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _targets(dashboard: dict) -> list[tuple[str, dict]]:
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_loads_with_well_formed_panels() -> None:
    dashboard = _dashboard()
    assert isinstance(dashboard["uid"], str) and 0 < len(dashboard["uid"]) <= 40  # Grafana's uid limit
    assert dashboard["title"] and isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert panels and len({p["id"] for p in panels}) == len(panels)
    datasource_uids = {source["uid"] for source in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, panel["title"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in ("x", "y", "w", "h")), panel["title"]
        assert grid["w"] > 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"]["uid"] in datasource_uids, panel["title"]
    cells = [
        (p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy)
        for p in panels
        for dx in range(p["gridPos"]["w"])
        for dy in range(p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))  # no two panels overlap


def test_every_expression_reads_only_exported_series(tmp_path: Path) -> None:
    exported = scraped_names(tmp_path) | PROMETHEUS_OWN
    targets = _targets(_dashboard())
    used: set[str] = set()
    for title, target in targets:
        names = names_in(target["expr"])
        assert names, title
        assert names <= exported, (title, names - exported)
        used |= names
    # the must-haves are on the dashboard
    assert {
        "harness_rounds_total",
        "harness_last_weights_age_seconds",
        "harness_failures_total",
        "harness_blocks_since_weights",
        "harness_tasks_done",
        "harness_cache_disk_free_bytes",
    } <= used


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (.ci/run installs it)")
def test_every_expression_parses_as_promql(tmp_path: Path) -> None:
    """Each expression as a recording rule, so promtool parses it (Grafana's `$__rate_interval` stands as 5m)."""
    rules = [
        {"record": f"dashboard:check_{index}", "expr": target["expr"].replace("$__rate_interval", "5m")}
        for index, (_title, target) in enumerate(_targets(_dashboard()))
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_monitoring_profile_scrapes_the_supervisor_and_mounts_what_it_reads() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {name for name, s in services.items() if "monitoring" in s.get("profiles", [])} == {"prometheus", "grafana"}
    assert all("profiles" not in services[name] for name in ("mirror", "supervisor"))  # the default stack
    for name in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    # Prometheus: its config names the supervisor at the port the supervisor listens on inside the stack
    status_port = services["supervisor"]["environment"]["HARNESS_SUPERVISOR__STATUS_PORT"]
    mounts = dict(volume.split(":")[:2] for volume in services["prometheus"]["volumes"])
    assert (COMPOSE.parent / mounts_source(mounts, "/etc/prometheus")).resolve() == (MONITORING / "prometheus")
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "harness")  # the alerts' `up{job=...}`
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"supervisor:{status_port}"]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    # Grafana: the provisioning folder and the dashboards folder the provider reads
    grafana = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])
    assert (COMPOSE.parent / mounts_source(grafana, "/etc/grafana/provisioning")).resolve() == (
        MONITORING / "grafana" / "provisioning"
    )
    provider_path = yaml.safe_load(PROVIDERS.read_text())["providers"][0]["options"]["path"]
    assert (COMPOSE.parent / mounts_source(grafana, provider_path)).resolve() == DASHBOARD.parent
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider_path}/{DASHBOARD.name}"


def mounts_source(mounts: dict[str, str], target: str) -> str:
    return next(source for source, mounted in mounts.items() if mounted == target)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (v1.29) is not installed")
def test_docker_compose_reads_the_file_with_and_without_the_profile(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HARNESS_DATA": str(tmp_path), "HARNESS_HOSTNAME": "h"}
    for extra in ([], ["--profile", "monitoring"]):
        result = subprocess.run(
            ["docker-compose", "-f", str(COMPOSE), *extra, "config", "-q"], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert re.search(r"prom/prometheus:v\d", COMPOSE.read_text())  # a pinned image, not :latest
