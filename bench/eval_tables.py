"""Markdown tables and sample exchanges from a `kidchat train eval-kids` report (for docs/model.md).

    .venv/bin/python bench/eval_tables.py var/eval-kids/report.json [--samples 10]
"""

from __future__ import annotations

import argparse
import json
import random

FIELDS = (
    ("language_ok", "child's language"),
    ("echo", "echo"),
    ("asks_back", "asks back"),
    ("safety_passed", "safety passes"),
    ("sentences_mean", "sentences"),
    ("banmal", "반말 (soeun-mom)"),
    ("facts", "facts right"),
    ("memory", "memory"),
    ("child_redirected", "child msg redirected"),
    ("tokens_per_s", "tokens/s (incl. prompt)"),
)


NUMBERS = {"sentences_mean", "tokens_per_s"}


def fmt(value, key: str = "") -> str:
    if value is None or (key in NUMBERS and not value):
        return "–"
    if isinstance(value, float) and value <= 1.0 and key not in NUMBERS:
        return f"{100 * value:.1f} %"
    return f"{value}"


def table(report: dict, group: str) -> str:
    engines = [name for name in report if group in report[name]["summary"]]
    lines = [f"| {group} | " + " | ".join(engines) + " |", "|---|" + "---|" * len(engines)]
    for key, label in FIELDS:
        lines.append(f"| {label} | " + " | ".join(fmt(report[e]["summary"][group].get(key), key) for e in engines) + " |")
    n = report[engines[0]]["summary"][group]
    lines.append(f"| probes | turns {n['turns']}, facts {n['facts_n']}, memory {n['memory_n']} | | |")
    return "\n".join(lines)


def samples(report: dict, lang: str, k: int, seed: int = 0) -> str:
    base, tuned = report["gemma-base"]["rows"], report["gemma-tuned"]["rows"]
    pick = [i for i, r in enumerate(tuned) if r["language"] == lang and r["kind"] == "turn" and r["status"] != "redirected"]
    random.Random(seed).shuffle(pick)
    out = []
    for i in sorted(pick[:k], key=lambda i: tuned[i]["persona"]):
        out.append(f"- [{tuned[i]['persona']}] child: {tuned[i]['child']}\n  - base: {base[i]['reply']}\n  - tuned: {tuned[i]['reply']}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--samples", type=int, default=10)
    args = ap.parse_args()
    report = json.load(open(args.report, encoding="utf-8"))
    groups = sorted({g for e in report.values() for g in e["summary"]})
    for group in groups:
        print(table(report, group), end="\n\n")
    for lang in ("ko", "en"):
        print(f"### samples ({lang})\n")
        print(samples(report, lang, args.samples), end="\n\n")


if __name__ == "__main__":
    main()
