"""The architecture picture in README, checked: which layer may import which (at import
time only downwards; inside a function a core module may load the networks it needs).

core      errors, fsutil, progress, config, threads, imageio, png, masks, damage, metrics,
          challenge, data/, device,
          models/{base,registry,arrays,files,loading,onnxrt,exportcheck},
          inpaint, detection, restoration, anysize, detail, _patchmatch, jpegsplice, batchlog,
          remote, api, checks, predict, viz
          -- no torch at import time (a learned model imports it when it is loaded)
networks  models/ (the rest: onnx.py exports), losses/, checkpoint, evaluate -- core, networks
engine    train/                                                     -- core, networks, engine
front     cli/, serve/                                                -- anything
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
CORE_MODELS = {
    "base", "registry", "arrays", "files", "loading", "onnxrt", "exportcheck", "__init__"
}  # fmt: skip
CORE_FILES = {
    "errors", "fsutil", "progress", "config", "imageio", "masks", "metrics", "challenge",
    "device", "inpaint", "anysize", "api", "checks", "predict", "viz", "png", "__init__",
    "threads", "damage", "detection", "restoration", "detail", "_patchmatch", "jpegsplice",
    "batchlog", "remote",
}  # fmt: skip
NETWORK_FILES = {"checkpoint", "evaluate"}
ORDER = ["core", "networks", "engine", "front"]


def layer(module: str) -> str:
    parts = module.split(".")[1:]  # drop "photorecon"
    top = parts[0] if parts else "__init__"
    if top in ("cli", "serve"):
        return "front"
    if top == "train":
        return "engine"
    if top == "losses" or top in NETWORK_FILES:
        return "networks"
    if top == "models":
        return "core" if (parts[1:] or ["__init__"])[0] in CORE_MODELS else "networks"
    assert top in CORE_FILES or top == "data", f"{module}: which layer? (add it to this test)"
    return "core"


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted((SRC / "photorecon").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found.append((name.removesuffix(".__init__"), path))
    return found


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(imported at module level, imported anywhere), as absolute module names."""
    tree = ast.parse(path.read_text())
    top, everywhere = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {node.module}
        else:
            continue
        everywhere |= names
    for node in tree.body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks are for type checkers only
            continue
        if isinstance(node, ast.Import):
            top |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top.add(node.module)
    return top, everywhere


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_imports_follow_the_layers(module: str, path: Path) -> None:
    mine = ORDER.index(layer(module))
    top, everywhere = imports(path)
    for name in everywhere:
        if name.startswith("photorecon.") and name != "photorecon":
            theirs = ORDER.index(layer(name))
            # at import time only downwards; inside a function core may reach the networks
            # (loading a learned model), never the engine or the front ends
            allowed = mine if name in top else max(mine, ORDER.index("networks"))
            assert theirs <= allowed, f"{module} ({ORDER[mine]}) imports {name} ({ORDER[theirs]})"
    if layer(module) == "core":
        heavy = sorted(n for n in top if n.split(".")[0] in ("torch", "onnx", "onnxruntime"))
        assert not heavy, f"{module} imports {heavy} at import time; import it where it is used"


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The photorecon modules `path` imports anywhere (`from photorecon.x import y` counts
    photorecon.x.y when y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found & known


def test_no_modules_import_each_other_in_a_circle() -> None:
    """Not even inside functions: each module's imports lead only further down."""
    known = {name for name, _ in modules()} - {"photorecon"}
    graph = {name: imported_modules(path, known) - {name} for name, path in modules()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            circle = [*trail[trail.index(name) :], name]
            raise AssertionError("imports in a circle: " + " -> ".join(circle))
        if name in done:
            return
        for other in sorted(graph.get(name, ())):
            visit(other, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_no_module_is_over_600_lines() -> None:
    long = {m: n for m, p in modules() if (n := len(p.read_text().splitlines())) > 600}
    assert not long, f"split these: {long}"


# modules that serve the way from a model's name to its network without taking part in the
# choice (errors, threads, file hashing, the kinds and config recording, an export's canary,
# the checkpoint format) and the networks' own modules, built on the way
SERVICES = {
    "photorecon",
    "photorecon.errors",
    "photorecon.threads",
    "photorecon.fsutil",
    "photorecon.imageio",
    "photorecon.checks",
    "photorecon.checkpoint",
    "photorecon.models.base",
    "photorecon.models.exportcheck",
    "photorecon.models.blocks",
    "photorecon.models.ffc",
    "photorecon.models.detector",
}


def stops_to_network(run) -> list[str]:
    """The modules `run` passes through until the model is loaded (until `cached_model`
    returns), in order, a module named again only when entered again; services aside, with
    whatever they call."""
    import sys

    stops: list[str] = []
    inside: list = []  # the service frame being run, if any
    done = []

    def profile(frame, event, arg) -> None:
        if done:
            return
        if inside:
            if event == "return" and frame is inside[0]:
                inside.clear()
            return
        name = frame.f_globals.get("__name__", "")
        if event == "return" and frame.f_code.co_name == "cached_model":
            done.append(True)
        if event != "call" or not name.startswith("photorecon"):
            return
        if name in SERVICES:
            inside.append(frame)
        elif not stops or stops[-1] != name:
            stops.append(name)

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return stops


@pytest.mark.parametrize(
    ("model", "runtime"), [("ffc", "auto"), (None, "auto"), ("ffc", "torch"), ("telea", "auto")]
)
def test_a_models_name_reaches_its_network_through_each_module_once(model, runtime) -> None:
    """Following `photorecon.fill`'s `model` to the network that runs: resolved once into what
    to open (models/files.py), opened by the module that opens it, each module entered once;
    a detector's name the same way from `photorecon.detect`."""
    import photorecon
    from photorecon.api import clear_models

    photo = np.full((64, 64, 3), 120, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[20:30, 20:30] = True
    photorecon.fill(photo, mask, model=model, runtime=runtime)  # the export made and cached
    clear_models()
    stops = stops_to_network(lambda: photorecon.fill(photo, mask, model=model, runtime=runtime))
    assert len(stops) == len(set(stops)), "\n".join(stops)
    assert stops[:3] == ["photorecon.api", "photorecon.models.loading", "photorecon.models.files"]
    if runtime == "torch":  # built by the registry, placed on torch by the runtime adapter
        assert stops[3:] == ["photorecon.models.registry", "photorecon.models.onnxrt"]
    elif model == "telea":  # the registry builds it (its network is on arrays), kept as it is
        assert stops[3:] == [
            "photorecon.models.registry",
            "photorecon.models.arrays",
            "photorecon.models.onnxrt",
        ]
    else:  # the cached export, opened without torch
        assert stops[3:] == ["photorecon.models.onnxrt"]


def test_a_detectors_name_reaches_its_network_through_each_module_once() -> None:
    import photorecon
    from photorecon.api import clear_models

    photo = np.full((64, 64, 3), 120, np.uint8)
    photorecon.detect(photo)
    clear_models()
    stops = stops_to_network(lambda: photorecon.detect(photo))
    assert len(stops) == len(set(stops)), "\n".join(stops)
    assert "photorecon.models.files" in stops and stops[-1] == "photorecon.models.onnxrt"
