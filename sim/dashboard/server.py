"""Serving the dashboard: Solara's Starlette app under uvicorn, in this process, bound to loopback by default."""

from __future__ import annotations

import ipaddress
import os
import sys
from typing import TYPE_CHECKING

from sim.errors import UserError

if TYPE_CHECKING:
    from sim.dashboard.session import Session


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(session: Session, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the page for ``session`` until Ctrl-C or SIGTERM. Anyone who reaches ``host:port`` controls the run,
    so only loopback is the default."""
    os.environ["SOLARA_APP"] = "sim.dashboard.app"
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no calls home (and no network here)
    os.environ.setdefault("SOLARA_MODE", "production")
    from sim.llm.server import listening_socket

    with listening_socket(host, port) as sock:  # taken or not ours: a message before the URL is printed
        try:
            from sim.dashboard import app, assets
        except ImportError as exc:
            raise UserError(
                f"the dashboard needs {exc.name}, which is not installed: pip install -e '.[dashboard]'"
            ) from exc
        fetched = assets.prepare()
        if fetched:
            print(f"alignsim dashboard: fetched the page's scripts once: {', '.join(fetched)}", file=sys.stderr)
        app.SESSION = session
        import uvicorn

        if not is_loopback(host):
            print(f"alignsim dashboard: serving on {host}: anyone who can reach it can control this run",
                  file=sys.stderr)
        config = uvicorn.Config("solara.server.starlette:app", host=host, port=port, log_level="warning")
        print(f"alignsim dashboard: http://{'localhost' if is_loopback(host) else host}:{port}/ (Ctrl-C stops it)",
              flush=True)
        uvicorn.Server(config).run(sockets=[sock])
