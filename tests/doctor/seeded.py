"""Seeded deployment configurations for the doctor's tests: a good one, written into a temporary
directory laid out like the repository, and small textual breakages of it.

The good configuration is a real-looking production set-up on a domain that is not a placeholder
(chat.backchannel-demo.org, Heroku app backchannel-demo), so the doctor has nothing to say about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

SITE_HOST = "chat.backchannel-demo.org"
SITE_ORIGIN = f"https://{SITE_HOST}"
HEROKU_APP = "backchannel-demo"
BACKEND_HOST = f"{HEROKU_APP}.herokuapp.com"

GOOD_CONFIG = f"""\
baseURL = "{SITE_ORIGIN}/"
title = "Doctor fixture"
theme = "backchannel"
contentDir = "site"

[params.backchannel]
  backend_url = "wss://{BACKEND_HOST}"
"""

GOOD_TRAVIS = f"""\
language: python
stages:
  - name: test
  - name: deploy backend
    if: branch = main AND type = push
  - name: publish site
    if: branch = main AND type = push
jobs:
  include:
    - stage: test
      script: make test
    - stage: deploy backend
      script: make doctor
      before_deploy: cd backend
      deploy:
        provider: heroku
        strategy: api
        api_key: $HEROKU_API_KEY
        app: {HEROKU_APP}
        on:
          branch: main
    - stage: publish site
      script: make doctor && make site-production
      deploy:
        provider: pages
        strategy: git
        token: $GITHUB_TOKEN
        local_dir: public
        keep_history: true
        fqdn: {SITE_HOST}
        cleanup: false
        on:
          branch: main
"""

# What `heroku config --shell` prints for a healthy backend (all values made up).
GOOD_ENV = {
    "SECRET_KEY": "doctor-fixture-0f9e8d7c6b5a4938271605f4e3d2c1b0a9f8e7d6c5b4a3928170",
    "ALLOWED_ORIGINS": SITE_ORIGIN,
    "ALLOWED_HOSTS": BACKEND_HOST,
    "DATABASE_URL": "postgres://chat:pg-password-not-shown@db.backchannel-demo.internal:5432/chat",
    "REDIS_URL": "rediss://:redis-password-not-shown@redis.backchannel-demo.internal:6380",
    "REDIS_TLS_VERIFY": "0",
    "TRUSTED_PROXY_HOPS": "1",
}


@dataclass(frozen=True)
class Seeded:
    """One configuration: config.toml, .travis.yml (None: no file), other files by relative
    path, and the backend's environment (None: no --env-file)."""

    config: str | None = GOOD_CONFIG
    travis: str | None = GOOD_TRAVIS
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] | None = field(default_factory=lambda: dict(GOOD_ENV))

    def write(self, directory: Path) -> tuple[Path, Path | None]:
        """Lay the configuration out in ``directory``; returns (repo, env file or None)."""
        repo = directory / "repo"
        repo.mkdir(parents=True)
        if self.config is not None:
            (repo / "config.toml").write_text(self.config)
        if self.travis is not None:
            (repo / ".travis.yml").write_text(self.travis)
        for relative, text in self.files.items():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            (repo / relative).write_text(text)
        env_file = None
        if self.env is not None:
            env_file = directory / "backend.env"
            # Quoted as `heroku config --shell` quotes values.
            env_file.write_text("".join(f"{key}='{value}'\n" for key, value in self.env.items()))
        return repo, env_file


GOOD = Seeded()


def edited(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new``; ``old`` must be there (a fixture typo must not
    turn a breakage into a no-op)."""
    assert old in text, f"{old!r} not in the fixture"
    return text.replace(old, new)


def with_config(old: str, new: str) -> Seeded:
    return replace(GOOD, config=edited(GOOD_CONFIG, old, new))


def with_travis(old: str, new: str) -> Seeded:
    return replace(GOOD, travis=edited(GOOD_TRAVIS, old, new))


def with_env(**changes: str | None) -> Seeded:
    """The good environment with variables changed (None removes one)."""
    env = dict(GOOD_ENV)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return replace(GOOD, env=env)


def with_files(files: dict[str, str]) -> Seeded:
    """The good configuration plus ``files`` (relative path -> text)."""
    return replace(GOOD, files=dict(files))
