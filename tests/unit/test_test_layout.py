"""What tests share lives in tests/support: a test module imports no other test module or conftest.

Importing a test module runs its collection side effects (fixtures, module-scoped state) a second time and couples
two tests' files; helpers placed beside the tests that use them drifted there twice before this check.
"""

from __future__ import annotations

import ast

from tests.support.paths import REPO_ROOT

TEST_FOLDERS = ("tests.unit", "tests.docker", "tests.e2e")


def _imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_imports_a_test_module() -> None:
    offenders = []
    for path in sorted([*(REPO_ROOT / "tests").rglob("*.py"), *(REPO_ROOT / "bench").rglob("*.py")]):
        imported = _imported_modules(ast.parse(path.read_text(), filename=str(path)))
        bad = sorted(name for name in imported if name.startswith(TEST_FOLDERS))
        if bad:
            offenders.append((str(path.relative_to(REPO_ROOT)), bad))
    assert not offenders, offenders
