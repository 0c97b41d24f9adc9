#!/usr/bin/env python3
"""A webhook receiver that trusts nothing of wagate's code: it checks `x-enviaai-signature` the
way the EnviaAI docs compute it (HMAC-SHA256 of the raw body, hex, keyed with the secret's bytes)
and the Standard Webhooks headers with the published `standardwebhooks` library (PyPI).

Usage: standard_webhooks_receiver.py SECRET
Prints the port it listens on, then one JSON line per request: {"enviaai": bool, "standard": bool,
"id": webhook-id}. Answers 200 when both signatures are valid, else 401.
"""
import base64
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = sys.argv[1]
STANDARD = Webhook(base64.b64encode(SECRET.encode()).decode())


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        enviaai = hmac.compare_digest(expected, self.headers.get("x-enviaai-signature", ""))
        try:
            STANDARD.verify(body, {k.lower(): v for k, v in self.headers.items()})
            standard = True
        except WebhookVerificationError:
            standard = False
        ok = enviaai and standard
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"Invalid signature")
        line = {"enviaai": enviaai, "standard": standard, "id": self.headers.get("webhook-id")}
        print(json.dumps(line), flush=True)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
