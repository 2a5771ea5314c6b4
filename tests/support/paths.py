"""Where the repository is, for tests that read its files (Dockerfiles, docs, scripts) wherever they live."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
