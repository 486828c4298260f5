"""benchmarks/accuracy.py pieces: every arm's config builds and costs what it should, one arm trains
2 iterations end to end (resuming skips it), and the summary/table/plot of its JSON."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(not Path("/usr/share/backgrounds/mate/nature").is_dir(),
                                reason="the study set needs Debian's mate-backgrounds")


def load_study():
    spec = importlib.util.spec_from_file_location("accuracy", os.path.join(REPO, "benchmarks", "accuracy.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["accuracy"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study():
    from freqdet.synthetic.register import register_demo_datasets

    yield load_study()
    register_demo_datasets()  # the study points the builtin demo names at its set: back to the default root


def test_every_detection_arm_builds_with_its_input_and_cost(study, tmp_path):
    plan = study.Plan(**study.QUICK)
    root = tmp_path / "datasets" / "demo"
    study.prepare_data(plan, str(root))
    study.register(str(root))
    costs = {arm: study.detection_cost(plan, arm, str(tmp_path)) for arm in study.detection_arms(plan)}
    R = plan.size
    assert costs["rgb_R"]["input_shape"] == [3, R, R] and costs["rgb_R"]["dtype"] == "torch.uint8"
    for arm, c in (("dct6_s2_R", 6), ("dct24_s2_R", 24), ("dct64_s2_R", 64), ("dct192_s2_R", 192), ("dct24_s2_R_src", 24)):
        assert costs[arm]["input_shape"] == [c, R // 4, R // 4], arm
    assert costs["dct24_s1_2R"]["input_shape"] == [24, R // 4, R // 4] and costs["dct24_s1_2R"]["image_px"] == 2 * R
    # docs/design.md: DCT-24 at s=2 in float16 ships exactly the bytes of RGB uint8.
    assert costs["dct24_s2_R"]["input_bytes"] == costs["rgb_R"]["input_bytes"]
    assert costs["dct24_s2_R_src"]["gflops"] == costs["dct24_s2_R"]["gflops"]  # FROM_SOURCE: equal cost
    assert costs["dct6_s2_R"]["gflops"] < costs["dct24_s2_R"]["gflops"] < costs["dct192_s2_R"]["gflops"]
    assert costs["dct24_s2_R"]["gflops"] < costs["rgb_R"]["gflops"]  # no stride-4 stem


def test_one_arm_end_to_end_resumes_and_plots(study, tmp_path):
    argv = ["--quick", "--arms", "dct24_s2_R", "--work-dir", str(tmp_path), "--sensitivity"]
    results = study.main(argv)
    run = results["arms"]["dct24_s2_R"]["seeds"]["1"]
    assert run["metric"] is not None and os.path.isfile(os.path.join(run["dir"], "model_final.pth"))
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["summary"]["dct24_s2_R"]["n"] == 1 and saved["arms"]["dct24_s2_R"]["cost"]["gflops"] > 0
    assert (tmp_path / "study.png").stat().st_size > 5_000
    metrics = Path(run["dir"]) / "metrics.json"
    before = metrics.stat().st_mtime_ns
    again = study.main(argv)  # finished: nothing is trained again
    assert metrics.stat().st_mtime_ns == before and again["arms"]["dct24_s2_R"]["seeds"]["1"]["metric"] == run["metric"]


def test_dct192_arm_then_sensitivity_gate_and_rankings(study, tmp_path):
    results = study.main(["--quick", "--arms", "dct192_s2_R", "--work-dir", str(tmp_path), "--sensitivity", "component"])
    sens = json.loads(Path(results["spectral_sensitivity"][0]).read_text())
    assert sens["unit"] == "component" and [u["name"] for u in sens["units"]] == ["Y", "Cb", "Cr"]
    gate = results["gate"]
    assert gate["metric"] is not None and 0 <= gate["mean_channels_on"] <= 192
    saved_rates = json.loads(Path(gate["rates_file"]).read_text())
    ranking = results["spectral_ranking"]["component"]
    for key in ("rates", "on_probability"):
        values = saved_rates[key]
        assert ranking[key]["gate_rate"]["Y"] == pytest.approx(sum(values[str(c)] for c in range(64)) / 64, abs=1e-4)
    assert 0 < ranking["on_probability"]["gate_rate"]["Cb"] < 1
    assert json.loads((tmp_path / "study.json").read_text())["spectral_ranking"]["component"] == ranking
    assert json.loads((tmp_path / "study_gate_selection_rates.json").read_text()) == saved_rates


def test_summary_table_and_plot_of_several_seeds(study, tmp_path):
    cost = {"gflops": 1.0, "input_bytes": 3000.0, "input_shape": [3, 8, 8], "image_px": 8, "dtype": "torch.uint8"}
    results = {"plan": {"seeds": [1, 2, 3]}, "arms": {
        "rgb_R": {"metric_name": "bbox AP", "cost": cost, "seeds": {
            s: {"metric": m, "s_per_iter": t} for s, m, t in (("1", 10.0, 1.0), ("2", 12.0, 3.0), ("3", 14.0, 2.0))}},
        "cls_dct24": {"metric_name": "top-1 (%)", "cost": {**cost, "input_bytes": 1500.0}, "seeds": {
            "1": {"metric": 50.0, "s_per_iter": None}}}}}
    results["summary"] = study.summarize(results)
    assert results["summary"]["rgb_R"] == {"n": 3, "mean": 12.0, "std": 2.0, "s_per_iter": 2.0}
    assert results["summary"]["cls_dct24"]["std"] == 0.0
    assert "| rgb_R | bbox AP | 1: 10.0, 2: 12.0, 3: 14.0 | 12.0 ± 2.0 | 1.000 |" in study.table(results)
    assert Path(study.plot(results, str(tmp_path / "p.png"))).stat().st_size > 5_000


def test_photo_patch_folder_has_one_class_per_photo(tmp_path):
    from PIL import Image

    from freqdet.synthetic.photo_patches import write_patch_folder

    root = Path(write_patch_folder(tmp_path, num_train=2, num_val=1, size=32, patch=(64, 96)))
    photos = sorted(p.stem for p in Path("/usr/share/backgrounds/mate/nature").glob("*.jpg"))
    for split, n in (("train", 2), ("val", 1)):
        assert sorted(d.name for d in (root / split).iterdir()) == photos
        files = sorted((root / split).glob("*/*.jpg"))
        assert len(files) == n * len(photos) and Image.open(files[0]).size == (32, 32)
    first = (root / "train" / photos[0] / "0000.jpg").read_bytes()
    write_patch_folder(tmp_path, num_train=2, num_val=1, size=32, patch=(64, 96))  # complete: left as it is
    assert (root / "train" / photos[0] / "0000.jpg").read_bytes() == first
