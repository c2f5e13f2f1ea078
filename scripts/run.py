"""`make run`: migrate, build the site, start the backend and serve the site; Ctrl-C stops both.

    SITE_PORT=1313 BACKEND_PORT=8000 python scripts/run.py

Uses the embedded defaults (SQLite in backend/db.sqlite3, the in-memory channel layer) unless
DATABASE_URL / REDIS_URL are set. The site is built against this backend and served as plain
files, the way GitHub Pages serves it.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.processes import (  # noqa: E402
    REPO_DIR,
    ServerFailed,
    backend_env,
    migrate,
    progress,
    serve_directory,
    start_daphne,
    stop_process,
)
from scripts.site import SiteBuildError, build_site  # noqa: E402


def main() -> int:
    site_port = int(os.environ.get("SITE_PORT", "1313"))
    backend_port = int(os.environ.get("BACKEND_PORT", "8000"))
    site_url = f"http://localhost:{site_port}/"
    # Both spellings of the local site, since browsers send whichever the visitor typed.
    site_origins = f"http://localhost:{site_port},http://127.0.0.1:{site_port}"

    env = backend_env({
        "DEBUG": os.environ.get("DEBUG", "1"),
        "ALLOWED_ORIGINS": os.environ.get("ALLOWED_ORIGINS", site_origins),
        **{key: os.environ[key] for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
           if key in os.environ},
    })
    public_dir = REPO_DIR / "public"
    log_path = REPO_DIR / "artifacts" / "daphne.log"

    try:
        migrate(env)
        build_site(f"ws://localhost:{backend_port}", public_dir, site_url)
        daphne = start_daphne(port=backend_port, env=env, log_path=log_path)
    except (ServerFailed, SiteBuildError) as error:
        progress(f"could not start: {error}")
        progress("Is another program using the port? Pick others: make run SITE_PORT=1414 BACKEND_PORT=8100")
        return 1

    try:
        site = serve_directory(public_dir, port=site_port)
    except OSError as error:
        stop_process(daphne, what="daphne")
        progress(f"could not serve the site on port {site_port}: {error}. Try make run SITE_PORT=1414")
        return 1

    print(
        f"\nBackchannel is running.\n"
        f"  Site:    {site_url}   <- open this\n"
        f"  Backend: http://localhost:{backend_port}/healthz  (admin at /admin/, log in artifacts/daphne.log)\n"
        f"Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        # Ctrl-C and a plain `kill` both stop cleanly, even when started from a shell that
        # ignores SIGINT for background jobs.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        daphne.wait()
        progress(f"the backend stopped by itself (status {daphne.returncode}); see {log_path}")
        return 1
    except (KeyboardInterrupt, SystemExit):
        progress("stopping")
        return 0
    finally:
        site.shutdown()
        stop_process(daphne, what="daphne")


if __name__ == "__main__":
    sys.exit(main())
