#!/usr/bin/env bash
# Starts the debug binary on a scratch database, fetches /openapi.json and validates it as
# OpenAPI 3.1 with an independent implementation (openapi-spec-validator, from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug/wagate
[ -x "$bin" ] || cargo build -q -p wagate
python3 -m pip install -q --disable-pip-version-check openapi-spec-validator >/dev/null 2>&1 \
  || python3 -m pip install -q --disable-pip-version-check --break-system-packages openapi-spec-validator
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/openapi.json" -o "$dir/openapi.json"
python3 - "$dir/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
doc = json.load(open(sys.argv[1]))
assert doc["openapi"].startswith("3.1"), doc["openapi"]
validate(doc, cls=OpenAPIV31SpecValidator)
ops = sum(len(v) for v in doc["paths"].values())
print(f"openapi.json: valid OpenAPI {doc['openapi']}, {len(doc['paths'])} paths, {ops} operations")
PY
