"""Per-user tagging in a web handler.

Wrap each request's work in `tokentrail.tags(...)`: every LLM call inside, including calls made in
worker threads started with the request's context, carries `user.id`, `session.id` and the
feature, so costs can be split per user and per feature. Tags are context variables, so
concurrent requests never see each other's tags.

    OPENAI_BASE_URL=http://127.0.0.1:8787/v1 OPENAI_API_KEY=sk-test python examples/web_handler_tagging.py
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import Request, urlopen

import openai

import tokentrail

client: openai.OpenAI | None = None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = self.headers.get("X-User-Id", "anonymous")  # from your auth layer in a real app
        with tokentrail.tags(user_id=user, session_id=self.headers.get("X-Session-Id"), feature="ask",
                             plan=self.headers.get("X-Plan", "free")):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": body["question"]}]
            )
        payload = json.dumps({"answer": reply.choices[0].message.content}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    global client
    tokentrail.instrument(service_name="web-example")
    client = openai.OpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ask"
    for user, plan in [("alice", "pro"), ("bob", "free"), ("alice", "pro")]:
        request = Request(url, data=json.dumps({"question": "Hi!"}).encode(),
                          headers={"X-User-Id": user, "X-Session-Id": f"{user}-1", "X-Plan": plan})
        with urlopen(request) as response:
            print(user, json.loads(response.read())["answer"][:40])
    server.shutdown()
    tokentrail.uninstrument()


if __name__ == "__main__":
    main()
