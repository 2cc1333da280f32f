"""nginx in front of the mock: the native limit of what a proxy costs on this machine.

A reference system, not a competitor: nginx does no JSON at all. One worker per --workers, a
keep-alive upstream pool, HTTP/1.1 upstream, proxy_buffering off (streams leave as they arrive),
access log off. This process writes the config into a temporary folder, runs nginx in the
foreground as its child, logs ``serving on http://HOST:PORT (pid N)`` once the port answers, and
stops nginx on SIGTERM. Its own CPU (idle while it waits) counts in the measured tree too.

    python bench/nginx_floor.py --upstream http://127.0.0.1:9090/v1 [--port 0] [--workers N]

nginx comes from the distribution: ``apt-get install -y nginx`` (Debian). Without it this exits
2 and says so; bench skips the system.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

CONFIG = """
worker_processes {workers};
{user}
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {home}/body;
  proxy_temp_path {home}/proxy;
  fastcgi_temp_path {home}/fastcgi;
  uwsgi_temp_path {home}/uwsgi;
  scgi_temp_path {home}/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream mock {{ server {upstream}; keepalive 256; }}
  server {{
    listen {host}:{port} backlog=2048;
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      tcp_nodelay on;
    }}
  }}
}}
"""


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the mock's base URL, e.g. http://127.0.0.1:9090/v1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)
    if binary is None:
        print("nginx_floor: nginx is not installed (apt-get install -y nginx)", file=sys.stderr)
        return 2
    port = args.port or _free_port(args.host)
    upstream = urlsplit(args.upstream)
    with tempfile.TemporaryDirectory(prefix="edge-bench-nginx-") as home:
        # As root, nginx's workers would switch to an unprivileged user that cannot use this folder.
        user = "user root;" if os.geteuid() == 0 else ""
        config = Path(home) / "nginx.conf"
        config.write_text(CONFIG.format(workers=args.workers, user=user, home=home, upstream=upstream.netloc, host=args.host, port=port))
        child = subprocess.Popen([binary, "-p", home, "-c", str(config), "-g", "daemon off;"])
        stop = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        deadline = time.monotonic() + 20
        while not _answers(args.host, port):
            if child.poll() is not None or time.monotonic() > deadline:
                print(f"nginx_floor: nginx did not start: {(Path(home) / 'error.log').read_text() if (Path(home) / 'error.log').exists() else ''}", file=sys.stderr)
                child.kill()
                return 1
            time.sleep(0.05)
        print(f"serving on http://{args.host}:{port} (pid {os.getpid()})", file=sys.stderr, flush=True)
        while not stop and child.poll() is None:
            time.sleep(0.2)
        child.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
