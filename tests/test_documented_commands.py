"""Every command written in the docs (README, docs/*.md, Makefile, config comments, script docstrings) names
flags its script really has and config keys that exist: each documented script's ``--help`` is
run and parsed, so a slip like a non-existent ``--all-channels`` fails here."""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from detectron2.config import get_cfg

from freqdet.classification.config import get_classification_cfg
from freqdet.detection.config import add_freqdet_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=REPO)), "Makefile", "datasets/README.md", *sorted(glob.glob("configs/**/*.yaml", root_dir=REPO, recursive=True)),
        *sorted(glob.glob("tools/*.py", root_dir=REPO)), *sorted(glob.glob("benchmarks/*.py", root_dir=REPO)),
        "datasets/prepare_demo.py", *sorted(glob.glob("freqdet/**/*.py", root_dir=REPO, recursive=True))]
SCRIPT = re.compile(r"(?<![\w/.-])((?:tools|benchmarks|datasets)/\w+\.py)\b")
FLAG = re.compile(r"^(--?[A-Za-z][\w-]*)(=.*)?$")
KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z][A-Z0-9_]*)+$")


def _logical_lines(text: str):
    """Lines with shell continuations joined; a comment's continuation loses its leading '#'."""
    out, cur = [], ""
    for line in text.splitlines():
        part = line.strip()
        if cur:
            part = part.lstrip("#").strip()
        if part.endswith("\\") and not part.endswith("\\\\"):
            cur += part[:-1] + " "
            continue
        out.append(cur + part)
        cur = ""
    return out


def documented_commands():
    """(doc file, script, argument tokens) for every script invocation written in the docs."""
    found = []
    for doc in DOCS:
        with open(os.path.join(REPO, doc), encoding="utf-8") as f:
            text = f.read()
        for line in _logical_lines(text):
            for m in SCRIPT.finditer(line):
                if doc.endswith(".py") and line.lstrip().startswith(("from ", "import ")):
                    continue
                rest = re.split(r"`|\s;\s|\s&&\s|\s\|\s|\|\||\s#\s", line[m.end():])[0]
                try:
                    tokens = shlex.split(rest.replace("\\\\", "\\"))
                except ValueError:
                    tokens = rest.split()
                found.append((doc, m.group(1), tokens))
    return found


COMMANDS = documented_commands()


# Runs each script as __main__ with --help in one interpreter (torch/Detectron2 imported once):
# argparse prints the help and exits before any work starts.
_HELP_RUNNER = """
import contextlib, io, json, runpy, sys
out = {}
for script in sys.argv[1:]:
    buf = io.StringIO()
    sys.argv = [script, "--help"]
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(script, run_name="__main__")
            code = "returned without exiting"
        except SystemExit as e:
            code = e.code
    out[script] = buf.getvalue() if code in (0, None) else f"FAILED: {code}"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def helps():
    """``--help`` output of every documented script."""
    scripts = sorted({s for _, s, _ in COMMANDS})
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", _HELP_RUNNER, *scripts], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    failed = {s: h for s, h in out.items() if h.startswith("FAILED")}
    assert not failed, f"--help failed: {failed}"
    return out


def test_docs_name_scripts_that_exist():
    assert len(COMMANDS) > 30  # the parser finds the commands (README and docs/ alone have ~50)
    assert {"README.md", "docs/design.md", "docs/gate.md"} <= {doc for doc, _, _ in COMMANDS}
    missing = sorted({(doc, s) for doc, s, _ in COMMANDS if not os.path.isfile(os.path.join(REPO, s))})
    assert not missing, f"documented scripts that do not exist: {missing}"


def test_documented_flags_exist(helps):
    wrong = []
    for doc, script, tokens in COMMANDS:
        for tok in tokens:
            m = FLAG.match(tok)
            if m and not re.search(rf"(?<![\w-]){re.escape(m.group(1))}(?![\w-])", helps[script]):
                wrong.append(f"{doc}: {script} {m.group(1)}")
    assert not wrong, "documented flags the scripts do not have:\n" + "\n".join(sorted(set(wrong)))


PROSE_KEY = re.compile(r"(?<![\w.])((?:MODEL|INPUT|SOLVER|DATALOADER|DATASETS|TEST)(?:\.[A-Z][A-Z0-9_]*)+)(?![\w(])")


def test_documented_config_keys_exist():
    """Config keys given to commands, and those named anywhere in docs, comments and docstrings."""
    cfg = get_cfg()
    add_freqdet_config(cfg)
    classification = get_classification_cfg()
    # tools/train_classifier.py takes the classification config; other commands and prose may name either task's keys.
    named = [(doc, tok, (classification,) if script == "tools/train_classifier.py" else (cfg, classification))
             for doc, script, tokens in COMMANDS for tok in tokens if KEY.match(tok)]
    for doc in DOCS:
        with open(os.path.join(REPO, doc), encoding="utf-8") as f:
            named += [(doc, m.group(1), (cfg, classification)) for m in PROSE_KEY.finditer(f.read())]
    wrong = [f"{doc}: {key}" for doc, key, configs in named if not any(_has_key(c, key) for c in configs)]
    assert len(named) > 50
    assert not wrong, "documented config keys that do not exist:\n" + "\n".join(sorted(set(wrong)))


def _has_key(cfg, key: str) -> bool:
    node = cfg
    for part in key.split("."):
        node = node.get(part) if hasattr(node, "get") else None
        if node is None:
            return False
    return True


def test_the_parser_sees_config_comments(helps):
    """The check itself: the Base config's comment command is parsed across its '#' continuations."""
    base = [t for d, s, t in COMMANDS
            if d == "configs/Base-FreqRCNN-FPN.yaml" and s == "tools/compute_dct_stats.py" and "--output" in t]
    assert base == [["--config-file", "<this", "config>", "--dataset", "coco_2017_train", "--max-images", "5000",
                     "--output", "datasets/coco/dct_stats_s2.json"]]
    assert "--all-channels" not in helps["tools/compute_dct_stats.py"]
    assert "--selected-only" in helps["tools/compute_dct_stats.py"]


def test_every_config_loads():
    """Config comments name real keys: every shipped YAML merges (yacs rejects unknown keys)."""
    for path in sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)):
        cfg = get_cfg()
        add_freqdet_config(cfg)
        cfg.merge_from_file(path)


def test_documented_lazyconfig_overrides_apply():
    """Every key=value override written after a LazyConfig (.py) goes through Hydra's parser onto that config,
    and no documented command gives a .py config KEY VALUE pairs or a .yaml config key=value ones."""
    from freqdet.detection.tool_config import config_kind, load_lazy_config

    checked = 0
    for doc, script, tokens in COMMANDS:
        if "--config-file" not in tokens:
            continue
        config = tokens[tokens.index("--config-file") + 1]
        path = os.path.join(REPO, config)
        if not os.path.isfile(path):
            continue  # placeholders such as <this config>
        overrides = [t for t in tokens if re.match(r"^[a-z_][\w.]*=", t)]
        yacs_keys = [t for t in tokens if KEY.match(t)]
        if config_kind(path) == "lazy":
            assert not yacs_keys, f"{doc}: {script} gives the LazyConfig {config} yacs keys {yacs_keys}"
            load_lazy_config(path, overrides)  # raises naming the override Hydra cannot parse
            checked += len(overrides)
        else:
            assert not overrides, f"{doc}: {script} gives the yacs config {config} key=value overrides {overrides}"
    assert checked >= 5  # README and docs/configs.md write LazyConfig overrides
