"""The wings of popsim import one another only in the directions popsim/__init__.py documents."""

import ast
from pathlib import Path

import popsim

ALLOWED = {  # wing -> wings it may import
    "features": set(),
    "sim": {"features"},
    "inference": set(),
    "realdata": {"features"},
    "cli": {"features", "sim", "inference", "realdata"},
}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_wings_import_only_downwards_and_never_lessons():
    root = Path(popsim.__file__).parent
    wings = sorted(p.name for p in root.iterdir() if (p / "__init__.py").exists())
    assert wings == sorted(ALLOWED), "a new wing needs its place in ALLOWED and in popsim/__init__.py"
    wrong = []
    for wing in wings:
        for path in sorted((root / wing).rglob("*.py")):
            for module in imports_of(path):
                parts = module.split(".")
                if parts[0] == "lessons":
                    wrong.append(f"{path.relative_to(root)} imports {module}")
                if parts[0] == "popsim" and len(parts) > 1 and parts[1] in ALLOWED and parts[1] != wing \
                        and parts[1] not in ALLOWED[wing]:
                    wrong.append(f"{path.relative_to(root)} imports {module}")
    assert not wrong, wrong
