"""Sample replies from the default models, through kidchat's websocket with the real safety stage.

    .venv/bin/python bench/samples.py

Starts the app on a free port with a temporary database, signs a child in, and prints each persona's
greeting, the child's messages and the replies (what the child saw) with each turn's status.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [
    ("reading-buddy", "en", ["Why is the sky blue?", "Can we read a story about a bunny?"]),
    ("soeun-mom", "ko", ["엄마 나 오늘 학교에서 친구랑 싸웠어", "민지가 나보고 거지래"]),
    ("teacher-hana", "ko", ["선생님, 공룡은 왜 없어졌어요?"]),
    ("teacher-hana", "en", ["How many legs does a spider have?"]),
]


def main() -> None:
    import uvicorn
    from websockets.sync.client import connect

    from bench.family import child_session_headers
    from server.app import create_app
    from server.config import Settings
    from server.db.migrate import upgrade_head

    tmp = Path(tempfile.mkdtemp(prefix="kidchat-samples-"))
    settings = Settings(database_url=f"sqlite:///{tmp / 's.db'}", data_dir=ROOT / "var", log_level="warning")
    upgrade_head(settings.resolved_database_url)
    app = create_app(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    for persona, lang, messages in CASES:
        headers = child_session_headers(app.state.sessions, base, language=lang)
        with connect(f"ws://127.0.0.1:{port}/ws/chat", additional_headers=headers) as ws:
            ws.send(json.dumps({"type": "start", "persona": persona}))
            ready = json.loads(ws.recv())
            print(f"## {persona} ({lang}) greeting: {ready['history'][0]['text']}")
            for text in messages:
                ws.send(json.dumps({"type": "message", "text": text}))
                shown, status = "", "?"
                while True:
                    frame = json.loads(ws.recv())
                    if frame["type"] == "delta":
                        shown += frame["text"]
                    elif frame["type"] == "redirect":
                        shown = frame["text"] + f"  [redirect: {frame['category']}]"
                    elif frame["type"] == "done":
                        status = frame["status"]
                        break
                print(f"  child: {text}\n  reply: {shown}  ({status})")
    server.should_exit = True


if __name__ == "__main__":
    main()
