"""The pitch pack read as an investor would: one run of each tool recorded in a temporary
store by the tools' own run_record functions, with small real results (the business case's
default figures, a CNN trained 1 epoch on digits, a small GPT-2 trained 30 steps and a chat
with it of two real replies, a 2-D optimizer race), the pack built from them, and what its
visible text gives away:

    paths_or_hosts_in_text   the temporary store's folder, the host name and the models
                             folder found in the visible text (target 0)
    raw_metric_keys_in_text  the recorded runs' snake_case metric keys found there (target 0)
    numbers_over_1e15        figures printed above 10^15 that are not FLOP counts (target 0)
    pdf_pages, html_kb       Chromium's PDF of the pack (null without Chromium), its size

Reference in the same run: the build's seconds against the seconds to render plotly.js
into a page (the plain floor of a self-contained pack). Last line: a JSON object.

    python3 bench/pitch_pack.py
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402

HOME = tempfile.mkdtemp(prefix="pitch-bench-")
os.environ["DASHBOARD_HOME"] = HOME  # before the app's modules read it


def record_business(runs) -> str:
    from core.economics import case as cases
    from core.economics import exports

    case = cases.Case()
    return runs.record("business", exports.run_record(case, cases.evaluate(case)))


def record_cnn(runs) -> str:
    from core.vision import data, model, tool, trainer

    ds = data.load_digits("cpu")
    c, h, _ = ds.shape
    request = tool.Request(
        data=ds,
        model=model.CNNConfig(in_channels=c, num_classes=len(ds.classes), image_size=h),
        train=trainer.TrainConfig(seed=0, epochs=1),
        record=False,
    )
    return runs.record("cnn", tool.run_record(tool.train(request)))


def record_gpt2_and_chat(runs) -> tuple[str, str]:
    from core.text import chat, generate, loading, prompt, tinygpt

    cfg = tinygpt.TinyGPTConfig(steps=30, sample_every=15)
    trained = tinygpt.train_and_record(tinygpt.builtin_corpus(), cfg, "cpu")
    lm = loading.load_model(str(trained.folder), "cpu")
    settings = prompt.Settings(max_new_tokens=24, seed=1)
    messages: list[chat.Message] = []
    for asked in ("Tell me about wine.", "What should I drink with fish?"):
        messages.append(chat.Message(role="user", content=asked))
        reply = chat.Message.reply_to(settings)
        built = prompt.build_prompt(lm, chat.turns(messages), settings)
        events = generate.stream_reply(lm, built, settings, threading.Event())
        for _ in chat.follow(reply, events):
            pass
        messages.append(reply)
    card = chat.run_card(lm.name, settings, device="cpu", parameters=lm.parameters)
    return trained.recorded.run_id, runs.record("chat", chat.run_record(card, messages, 0.1))


def record_race(runs) -> str:
    from core.optim import race, surfaces

    surface = surfaces.SURFACES["Rosenbrock"]
    r = race.run_race(surface, (-1.5, 2.0), ["SGD", "Adam"], 100)
    return runs.record("optimizers", race.run_record(r, {}))


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def big_numbers(text: str) -> list[str]:
    """Figures above 1e15 printed in the text, FLOP counts left out."""
    found = []
    for m in re.finditer(r"(\d[\d,.]*(?:e\+?\d+)?)\s*(\w+)?", text):
        try:
            x = float(m.group(1).replace(",", ""))
        except ValueError:
            continue
        if x > 1e15 and (m.group(2) or "") != "FLOPs":
            found.append(m.group(0))
    return found


def main() -> None:
    from core import runs
    from core.runs import pitch

    print(f"cpu: {os.cpu_count()} threads, {' '.join(cpu.flags()) or 'no avx2'}")
    t0 = time.perf_counter()
    ids = [record_business(runs), record_cnn(runs), *record_gpt2_and_chat(runs), record_race(runs)]
    print(f"recorded {len(ids)} runs in {time.perf_counter() - t0:.1f} s")
    details = [runs.get_run(i) for i in ids]
    case, chosen = details[0], details[1:]
    t1 = time.perf_counter()
    page = pitch.build(
        chosen,
        case,
        product="Vino AI",
        hardware=pitch.hardware_line(),
        date=dt.date.today(),
        summary="Wine advice from a model we trained ourselves.",
    )
    build_s = time.perf_counter() - t1
    import plotly.offline

    t2 = time.perf_counter()
    plotly.offline.get_plotlyjs()
    floor_s = time.perf_counter() - t2
    text = visible_text(page)
    leaks = [HOME, socket.gethostname(), str(Path(HOME) / "models"), "/models/"]
    leaked = [x for x in leaks if x and x in text]
    keys = {k for d in details for k in d.metrics} | {k for d in details for k in d.history}
    raw = sorted(k for k in keys if "_" in k and re.search(rf"\b{re.escape(k)}\b", text))
    big = big_numbers(text)
    pdf = pitch.to_pdf(page)
    pages = None if pdf is None else pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    out = Path(HOME) / "pitch.html"
    out.write_text(page, encoding="utf-8")
    print(f"leaked: {leaked}; raw keys: {raw}; big numbers: {big}; pack at {out}")
    result = {
        "paths_or_hosts_in_text": len(leaked),
        "raw_metric_keys_in_text": len(raw),
        "numbers_over_1e15": len(big),
        "pdf_pages": pages,
        "html_kb": round(len(page.encode()) / 1024, 1),
        "build_s": round(build_s, 3),
        "plotlyjs_floor_s": round(floor_s, 3),
        "build_vs_floor_ratio": round(build_s / max(floor_s, 1e-6), 1),
        "cpu_flags": cpu.flags(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
