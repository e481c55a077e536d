"""Who imports whom: `gliclass` imports neither `training` nor `benchmarks`; `training` does not
import `benchmarks` and imports itself only relatively (it is installed as `gliclass_training`)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_top_levels(folder: str) -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_gliclass_imports_neither_training_nor_benchmarks():
    offenders = {path: names & {"training", "benchmarks"} for path, names in imported_top_levels("gliclass").items()}
    assert not any(offenders.values()), offenders


def test_training_imports_itself_relatively_and_never_benchmarks():
    offenders = {path: names & {"training", "benchmarks"} for path, names in imported_top_levels("training").items()}
    assert not any(offenders.values()), offenders
