"""Serve the sidecar app with the no-op benchmark route (used by bench/sidecar_ingest.py)."""

import sys

from sidecar.app import create_app
from sidecar.server import serve

db_path, port = sys.argv[1], int(sys.argv[2])
serve(create_app(db_path, bench_noop=True), "127.0.0.1", port, log_level="warning")
