"""The accuracy study (benchmarks/accuracy.py, pieces in benchmarks/study/): every arm's model builds and
costs what it should, one arm trains 2 iterations end to end (resuming skips it), the DCT-192 analyses, and
the summary/table/plot of its JSON."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.study.arms import BEST, REPO, classification_arms, detection_arms, quick_plan
from benchmarks.study.cost import classification_cost, detection_cost
from benchmarks.study.data import prepare_data, register
from benchmarks.study.main import main as run_study, save
from benchmarks.study.report import paired, plot, summarize, table

pytestmark = pytest.mark.skipif(not Path("/usr/share/backgrounds/mate/nature").is_dir(),
                                reason="the study set needs Debian's mate-backgrounds")
RED, BLUE = (214, 39, 40), (31, 119, 180)  # matplotlib's tab:red (RGB arms) and tab:blue (DCT arms)


@pytest.fixture(scope="module", autouse=True)
def default_demo_names():
    from freqdet.synthetic.register import register_demo_datasets

    yield
    register_demo_datasets()  # the study points the builtin demo names at its set: back to the default root


def assert_plot(path, panels: int, colors):
    """The study plot decodes, has one 7.5 x 4.8 in panel (110 dpi) per task, and shows the arms' markers."""
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (528, 825 * panels, 3)
    for color in colors:
        assert (np.abs(image.astype(int) - color).sum(-1) < 30).sum() > 20, color


def test_every_detection_arm_builds_with_its_input_and_cost(tmp_path):
    plan = quick_plan()
    root = tmp_path / "datasets" / "demo"
    prepare_data(plan, str(root))
    register(str(root))
    costs = {arm: detection_cost(plan, arm) for arm in detection_arms(plan)}
    R = plan.size
    assert costs["rgb_R"]["input_shape"] == [3, R, R] and costs["rgb_R"]["dtype"] == "torch.uint8"
    for arm, c in (("dct24_s2_R", 24), ("dct192_s2_R", 192), ("dct24_s2_R_conv", 24),
                   ("dct24_s2_R_lc", 24), (f"dct64_s2_R_src_{BEST}", 64), ("pt_dct24_s2_R_fit", 24)):
        assert costs[arm]["input_shape"] == [c, R // 4, R // 4], arm
    s1 = costs[f"dct24_s1_2R_{BEST}"]
    assert s1["input_shape"] == [24, R // 4, R // 4] and s1["image_px"] == 2 * R
    # DCT-24 at s=2 in float16 ships exactly the bytes of RGB uint8 (24 x 2 B per 4x4 px = 3 x 1 B per px).
    assert costs["dct24_s2_R"]["input_bytes"] == costs["rgb_R"]["input_bytes"] == costs["pt_rgb_R"]["input_bytes"]
    assert costs["dct24_s2_R"]["gflops"] < costs["dct192_s2_R"]["gflops"]
    assert costs["dct24_s2_R"]["gflops"] < costs["rgb_R"]["gflops"]  # no stride-4 stem
    # a learned stem costs its convolutions on top (conv2 the most), and the long schedule costs the same per image
    assert costs["dct24_s2_R"]["gflops"] < costs["dct24_s2_R_lc"]["gflops"] < costs["dct24_s2_R_conv"]["gflops"]
    assert costs["dct24_s2_R_conv"]["gflops"] < costs["dct24_s2_R_conv2"]["gflops"]
    # the fitted stem is conv2 too (FrozenBN instead of GroupNorm: the norms' flops differ a little)
    assert costs["pt_dct24_s2_R_fit"]["gflops"] == pytest.approx(costs["dct24_s2_R_conv2"]["gflops"], rel=1e-2)
    assert costs[f"dct24_s2_R_{BEST}_4x"] == costs[f"dct24_s2_R_{BEST}"] and costs["rgb_R_4x"] == costs["rgb_R"]


def test_classification_arms_input_and_cost():
    plan = quick_plan()
    rgb, dct = (classification_cost(plan, arm) for arm in ("cls_rgb", "cls_dct24"))
    side = plan.cls_size
    assert rgb["input_shape"] == [3, side // 4, side // 4] and rgb["image_px"] == side // 4
    assert dct["input_shape"] == [24, side // 8, side // 8] and dct["image_px"] == side  # RGB: stride-2 stem
    assert rgb["input_bytes"] == 4 * 3 * (side // 4) ** 2 and dct["input_bytes"] == 4 * 24 * (side // 8) ** 2
    assert set(classification_arms(plan)) == {"cls_rgb", "cls_dct24"} and dct["gflops"] > 0 and rgb["gflops"] > 0


def test_one_arm_end_to_end_resumes_and_plots(tmp_path, monkeypatch):
    argv = ["--quick", "--arms", "dct24_s2_R", "rgb_R", "--work-dir", str(tmp_path), "--sensitivity"]
    results = run_study(argv)
    run = results["arms"]["dct24_s2_R"]["seeds"]["1"]
    assert run["metric"] is not None and os.path.isfile(os.path.join(run["dir"], "model_final.pth"))
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["summary"]["dct24_s2_R"]["n"] == 1 and saved["arms"]["dct24_s2_R"]["cost"]["gflops"] > 0
    assert saved["plan"] == {"size": 64, "scene": 128, "num_train": 4, "num_val": 2, "iters": 2, "batch": 2,
                             "seeds": [1], "cls_size": 64, "cls_train": 2, "cls_val": 1, "cls_iters": 2, "cls_batch": 4,
                             "stats_images": 4, "more_seeds": [], "long_factor": 2, "pretrain_iters": 2,
                             "pretrain_size": 32, "fit_iterations": 2}
    assert results["arms"]["rgb_R"]["seeds"]["1"]["metric"] is not None  # Detectron2's RGB model through train_net
    assert_plot(tmp_path / "study.png", panels=1, colors=[RED, BLUE])
    metrics = Path(run["dir"]) / "metrics.json"
    before = metrics.stat().st_mtime_ns
    again = run_study(argv)  # finished: nothing is trained again
    assert metrics.stat().st_mtime_ns == before and again["arms"]["dct24_s2_R"]["seeds"]["1"]["metric"] == run["metric"]
    # --collect in another process setting (no JSON left) records the thread count the run trained under
    trained_under = os.environ.get("OMP_NUM_THREADS", "torch default")
    assert run["omp_threads"] == trained_under
    (tmp_path / "study.json").unlink()
    monkeypatch.setenv("OMP_NUM_THREADS", "7" if trained_under != "7" else "5")
    collected = run_study([*argv, "--collect"])
    assert collected["arms"]["dct24_s2_R"]["seeds"]["1"]["omp_threads"] == trained_under


def test_dct192_arm_then_sensitivity_gate_and_rankings(tmp_path):
    results = run_study(["--quick", "--arms", "dct192_s2_R", "--work-dir", str(tmp_path), "--sensitivity", "component"])
    sens = json.loads(Path(results["spectral_sensitivity"][0]).read_text())
    assert sens["unit"] == "component" and [u["name"] for u in sens["units"]] == ["Y", "Cb", "Cr"]
    gate = results["gate"]
    assert gate["metric"] is not None and 0 <= gate["mean_channels_on"] <= 192
    assert set(gate["bbox_ap_by_inference_rule"]) == {"expected_count", "sample", "on_greater_off"}
    assert all(ap is not None for ap in gate["bbox_ap_by_inference_rule"].values())
    subset = results["arms"]["dct24gate_s2_R"]  # the static subset the gate picked, trained like square-24
    assert len(subset["channels"]) == 24 and sum(c < 64 for c in subset["channels"]) == 16
    assert subset["seeds"]["1"]["metric"] is not None
    saved_rates = json.loads(Path(gate["rates_file"]).read_text())
    ranking = results["spectral_ranking"]["component"]
    for key in ("rates", "on_probability"):
        values = saved_rates[key]
        assert ranking[key]["gate_rate"]["Y"] == pytest.approx(sum(values[str(c)] for c in range(64)) / 64, abs=1e-4)
    assert 0 < ranking["on_probability"]["gate_rate"]["Cb"] < 1
    assert json.loads((tmp_path / "study.json").read_text())["spectral_ranking"]["component"] == ranking
    assert json.loads((tmp_path / "study_gate_selection_rates.json").read_text()) == saved_rates
    heat_map = np.asarray(Image.open(tmp_path / "study_gate_on_probability.png").convert("RGB"))
    assert len(np.unique(heat_map.reshape(-1, 3), axis=0)) > 50  # a filled heat map, not an empty figure
    collected = run_study(["--quick", "--arms", "dct192_s2_R", "--work-dir", str(tmp_path), "--collect"])
    assert collected["gate"] == json.loads(json.dumps(gate)) and collected["spectral_ranking"]["component"] == ranking


def test_pretrained_proxy_end_to_end(tmp_path):
    """The proxy: an RGB ResNet-50 pretrained on the photo patches, then the RGB, sliced and fitted-stem
    backbones made from it with freqdet's tools, each fine-tuned; the fit's R² and the pretraining's top-1
    land in the JSON."""
    results = run_study(["--quick", "--arms", "pt_rgb_R", "pt_dct24_s2_R_slice", "pt_dct24_s2_R_fit",
                         "--work-dir", str(tmp_path), "--sensitivity"])
    for arm in ("pt_rgb_R", "pt_dct24_s2_R_slice", "pt_dct24_s2_R_fit"):
        assert results["arms"][arm]["seeds"]["1"]["metric"] is not None, arm
    assert 0 <= results["pretrain"]["top1"] <= 100
    fit = results["arms"]["pt_dct24_s2_R_fit"]["stem_fit"]
    assert fit["r2"]["min"] <= fit["r2"]["mean"] <= 1 and fit["images"]["held_out"] >= 1
    made = sorted(p.name for p in (tmp_path / "pretrain").glob("backbone_*.pkl"))
    assert made == ["backbone_fit.pkl", "backbone_rgb.pkl", "backbone_slice.pkl"]


def test_summary_table_and_plot_of_several_seeds(tmp_path):
    cost = {"gflops": 1.0, "input_bytes": 3000.0, "input_shape": [3, 8, 8], "image_px": 8, "dtype": "torch.uint8"}
    results = {"plan": {"seeds": [1, 2, 3]}, "arms": {
        "rgb_R": {"metric_name": "bbox AP", "cost": cost, "seeds": {
            s: {"metric": m, "s_per_iter": t} for s, m, t in (("1", 10.0, 1.0), ("2", 12.0, 3.0), ("3", 14.0, 2.0))}},
        "cls_dct24": {"metric_name": "top-1 (%)", "cost": {**cost, "input_bytes": 1500.0}, "seeds": {
            "1": {"metric": 50.0, "s_per_iter": None}}}}}
    results["summary"] = summarize(results)
    assert results["summary"]["rgb_R"] == {"n": 3, "mean": 12.0, "std": 2.0, "s_per_iter": 2.0}
    assert results["summary"]["cls_dct24"]["std"] == 0.0
    assert "| rgb_R | bbox AP | 1: 10.0, 2: 12.0, 3: 14.0 | 12.0 ± 2.0 | 1.000 |" in table(results)
    # paired on the seeds both ran (dct24_s2_R has no seed 3); a pair with an arm that never ran is left out
    results["arms"]["dct24_s2_R"] = {"metric_name": "bbox AP", "cost": cost, "seeds": {
        "2": {"metric": 15.0, "s_per_iter": 1.0}, "1": {"metric": 9.0, "s_per_iter": 1.0}}}
    results["summary"], results["paired"] = summarize(results), paired(results, [("dct24_s2_R", "rgb_R"), ("pt_rgb_R", "rgb_R")])
    assert results["paired"] == {"dct24_s2_R − rgb_R": {"seeds": {"1": -1.0, "2": 3.0}, "mean": 1.0}}
    assert "| dct24_s2_R − rgb_R | 1: -1.0, 2: +3.0 | +1.0 |" in table(results)
    assert_plot(plot(results, str(tmp_path / "p.png")), panels=2, colors=[RED, BLUE])


def test_saved_json_names_repository_files_relative_to_it(tmp_path):
    """docs/study.json is committed: a run dir inside the clone must not carry this machine's path."""
    inside, outside = os.path.join(REPO, "output", "study", "runs", "rgb_R_seed1"), str(tmp_path / "runs" / "x")
    results = {"arms": {"rgb_R": {"seeds": {"1": {"metric": 1.0, "dir": inside}, "2": {"dir": outside}}}},
               "spectral_sensitivity": [os.path.join(REPO, "docs", "a.json")], "plan": {"size": 192}}
    save(results, str(tmp_path / "s.json"))
    saved = json.loads((tmp_path / "s.json").read_text())
    seeds = saved["arms"]["rgb_R"]["seeds"]
    assert seeds["1"] == {"metric": 1.0, "dir": os.path.join("output", "study", "runs", "rgb_R_seed1")}
    assert seeds["2"]["dir"] == outside and saved["spectral_sensitivity"] == [os.path.join("docs", "a.json")]
    assert saved["plan"] == {"size": 192} and results["arms"]["rgb_R"]["seeds"]["1"]["dir"] == inside  # not mutated


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
