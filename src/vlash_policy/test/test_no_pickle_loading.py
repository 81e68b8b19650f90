"""Nothing the suite loads can run code: no pickle, torch.load only with weights_only=True.

Weights are safetensors (:mod:`vlash_policy.model.checkpoint`, whose tests load a pickled file
and see it refused); this guards every other loader in the packages, scripts and launch files,
the training state included, against a pickle slipping in.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted(
    p
    for folder in ("src", "scripts")
    for p in (ROOT / folder).rglob("*.py")
    if "test" not in p.relative_to(ROOT).parts[:-1] and "build" not in p.parts
)
UNPICKLING_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(name)
    ]


def _keyword(call: ast.Call, name: str) -> object:
    value = next((k.value for k in call.keywords if k.arg == name), None)
    return value.value if isinstance(value, ast.Constant) else value


def test_sources_were_found():
    assert len(SOURCES) > 50 and any(p.name == "finetune.py" for p in SOURCES)


def test_no_loader_can_unpickle():
    problems = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        where = f"{path.relative_to(ROOT)}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                )
                if UNPICKLING_MODULES & {str(n).split(".")[0] for n in names}:
                    problems.append(f"{where}:{node.lineno} imports an unpickling module")
        for call in _calls(tree, "torch.load"):
            if _keyword(call, "weights_only") is not True:
                problems.append(f"{where}:{call.lineno}: torch.load without weights_only=True")
        for call in _calls(tree, "np.load") + _calls(tree, "numpy.load"):
            if _keyword(call, "allow_pickle") not in (None, False):
                problems.append(f"{where}:{call.lineno}: np.load with allow_pickle")
    assert problems == []


def test_the_guard_sees_an_unsafe_load():
    tree = ast.parse(
        "import torch\nstate = torch.load('x.pt')\nok = torch.load('y', weights_only=True)"
    )
    assert [_keyword(c, "weights_only") for c in _calls(tree, "torch.load")] == [None, True]
