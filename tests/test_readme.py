"""README, "Using freqdet in your own project", and every Python block of docs/: run as written.

The README section's bash block (``pip install .``) runs in a copy of the checkout; pip's own
config file (PIP_CONFIG_FILE) only points it at a temporary --target without network or
dependencies. The README section's Python blocks, then those of the docs pages that continue its
example (DOC_PAGES, in that order), run in one interpreter in an empty directory that sees freqdet
only through that install."""
import glob
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## Using freqdet in your own project"
# Docs pages whose Python blocks continue the README's example (they use its cfg, paths and
# output/model_final.pth); export.md switches the config to on-device DCT, so it comes late.
DOC_PAGES = ["docs/design.md", "docs/configs.md", "docs/export.md", "docs/classification.md"]
BLOCK = re.compile(r"```(bash|python)\n(.*?)```", flags=re.S)


def _read(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read()


def section_blocks():
    text = _read("README.md")
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return BLOCK.findall(text[start:end])


def doc_python_blocks():
    return [code for page in DOC_PAGES for kind, code in BLOCK.findall(_read(page)) if kind == "python"]


def test_readme_section_has_install_and_python():
    kinds = [k for k, _ in section_blocks()]
    assert kinds[0] == "bash" and kinds.count("python") >= 1


def test_every_python_block_in_docs_is_run():
    """A Python block added to any docs page must be listed here, i.e. executed below."""
    with_python = {os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))
                   if "```python" in _read(os.path.relpath(p, REPO))}
    assert with_python == set(DOC_PAGES), f"docs pages with Python blocks not run: {with_python ^ set(DOC_PAGES)}"
    assert all(code.strip() for code in doc_python_blocks())


def test_readme_commands_run_from_an_install(tmp_path):
    src, site, work = tmp_path / "src", tmp_path / "site", tmp_path / "work"
    shutil.copytree(os.path.join(REPO, "freqdet"), src / "freqdet", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, f), src / f)
    conf = tmp_path / "pip.conf"  # no-build-isolation = false means "no isolation" (pip's inverted flag)
    conf.write_text(f"[install]\ntarget = {site}\nno-deps = true\nno-index = true\n[global]\nno-build-isolation = false\n")
    env = {**os.environ, "PIP_CONFIG_FILE": str(conf), "PYTHONWARNINGS": "ignore",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    env.pop("PYTHONPATH", None)
    blocks = section_blocks()
    for kind, code in blocks:
        if kind == "bash":
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=src, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (site / "freqdet" / "model_zoo" / "configs" / "Demo").is_dir()
    shutil.rmtree(src)
    work.mkdir()
    program = "\n".join([code for kind, code in blocks if kind == "python"] + doc_python_blocks())
    program += f"\nassert freqdet.__file__.startswith({str(site)!r}), freqdet.__file__\n"
    proc = subprocess.run([sys.executable, "-c", program], cwd=work, env={**env, "PYTHONPATH": str(site)},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert re.search(r"^\d+ detections$", proc.stdout, flags=re.M)  # the README's predictor
    assert re.search(r"^\d+ detections \(exported\)$", proc.stdout, flags=re.M)  # docs/export.md
    assert (work / "output" / "model_final.pth").is_file() and (work / "exported" / "model.ts").is_file()
