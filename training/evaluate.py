"""Stage 7, evaluation: the base and the fine-tuned GGUF side by side on a fixed held-out prompt set
(training/eval/prompts.jsonl), through llama.cpp as the server runs them.

    kidchat train eval --recipe cpu-small      # writes <build>/eval/report.json and report.png

For each reply: does it pass the safety filter (``server.safety.build_checker()``; reported as null
when the safety package is not installed), does it refuse where it should and only there, does it answer
in the child's language, do length and vocabulary fit the age band, does the persona ask back, did the
model stop by itself. Replies are stored in the report (model output on fixed prompts, not children's
words) so a reviewer can read them.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.eval_metrics import METRICS, judge, summarize


def load_prompts(path: Path, limit: int | None = None) -> list[dict]:
    """The held-out prompts; with ``limit``, that many spread evenly over the file (which is ordered by
    language and expectation), so a short run still sees both languages, answers and refusals."""
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    if not limit or limit >= len(rows):
        return rows
    return [rows[round(i * len(rows) / limit)] for i in range(limit)]


def load_checker():
    """The server's safety checker when the safety package provides one, else None (checks skipped)."""
    try:
        from server.safety import build_checker  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        return build_checker()
    except TypeError:
        from server.config import Settings

        return build_checker(Settings())


def messages_for(prompt: dict, system: dict | None) -> list[dict]:
    text = (system or {}).get((prompt["persona"], prompt["language"]))
    head = [{"role": "system", "content": text}] if text else []
    return [*head, {"role": "user", "content": prompt["prompt"]}]


def run_model(
    gguf: Path,
    prompts: list[dict],
    system: dict | None,
    *,
    template: str | None,
    stop,
    max_tokens: int,
    threads: int,
    checker,
    label: str,
    progress: bool = True,
) -> list[dict]:
    from tqdm import tqdm

    from training.gguf_tools import chat, open_llama

    llm = open_llama(gguf, template=template, threads=threads, n_ctx=2048)
    rows = []
    for prompt in tqdm(prompts, desc=f"eval {label}", unit="prompt", disable=not progress):
        reply = chat(llm, messages_for(prompt, system), max_tokens=max_tokens, stop=stop)
        verdict = judge(reply.text, prompt, reply.finish_reason, checker)
        rows.append(
            {
                "id": prompt["id"],
                "expect": prompt["expect"],
                "category": prompt["category"],
                "language": prompt["language"],
                "reply": reply.text,
                **verdict,
            }
        )
    del llm
    return rows


def plot(summary: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    metrics = [m for m in METRICS if any(summary[n].get(m) is not None for n in names)]
    fig, ax = plt.subplots(figsize=(1.3 * len(metrics) + 2, 3.6))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [summary[name].get(m) or 0 for m in metrics]
        bars = ax.bar([j + i * width for j in range(len(metrics))], values, width, label=name)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], fontsize=7)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(metrics))], metrics, rotation=15)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share of replies")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_build(build, checker=None) -> dict:
    """Evaluate the build's GGUF (and the base, when the recipe asks) and write the report."""
    from training.bases import read_template
    from training.data import persona_prompts
    from training.export import MANIFEST, update_manifest
    from training.gguf_tools import convert, quantize

    recipe = build.recipe
    section = recipe.eval
    if not (build.dir / MANIFEST).exists():
        raise FileNotFoundError(f"{build.dir / MANIFEST} is missing: run `kidchat train export` first")
    manifest = json.loads((build.dir / MANIFEST).read_text(encoding="utf-8"))
    prompts = load_prompts(section.prompts, section.limit)
    system = persona_prompts(recipe.data.system_prompt, recipe.data.child_name)
    checker = checker if checker is not None else load_checker()
    prepared = build.prepared()
    stop = list(prepared.spec.stop_tokens) if prepared.spec else None
    out = build.dir / "eval"
    out.mkdir(parents=True, exist_ok=True)
    common = {
        "stop": stop,
        "max_tokens": section.max_tokens,
        "threads": build.threads,
        "checker": checker,
        "progress": not build.quiet,
    }

    results: dict[str, list[dict]] = {}
    if section.compare_base:
        base_gguf = prepared.gguf
        if base_gguf is None:  # an HF base: convert it the same way the build was
            f16 = out / "base-f16.gguf"
            convert(Path(prepared.hf), f16, "f16", log=out / "convert-base.log")
            base_gguf = out / f"base-{manifest['quant']}.gguf"
            quantize(f16, base_gguf, manifest["quant"], build.threads)
            f16.unlink()
        template = read_template(prepared.spec.chat_template) if prepared.spec else None
        results["base"] = run_model(base_gguf, prompts, system, template=template, label="base", **common)
    results["tuned"] = run_model(
        build.dir / manifest["gguf"], prompts, system, template=None, label="tuned", **common
    )

    summary = {name: summarize(rows) for name, rows in results.items()}
    report = {
        "build": manifest["name"],
        "gguf": manifest["gguf"],
        "prompts": str(section.prompts),
        "safety_checker": type(checker).__name__ if checker is not None else None,
        "summary": summary,
        "replies": results,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    plot(
        summary,
        out / "report.png",
        f"{manifest['name']}: base vs fine-tuned ({len(prompts)} held-out prompts)",
    )
    update_manifest(build.dir, eval=summary)
    return summary
