"""Read settings from environment variables, failing at start-up with the variable's name.

Every parse error raises ``ImproperlyConfigured`` naming the variable and what it expects, so a
typo in a PaaS dashboard stops the process with a sentence instead of a traceback later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from backchannel.setting_specs import SettingSpec

# The doctor (scripts/doctor_backend.py) reads an env file's booleans with these same words.
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class Env:
    """Typed access to one environment mapping (``os.environ`` unless a test passes its own)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def setting(self, spec: SettingSpec) -> Any:
        """``spec``'s variable, parsed by its kind, within its bounds, else its default."""
        if not spec.from_env:
            raise ValueError(f"{spec.name} is an internal constant, not an environment variable")
        if spec.kind == "bool":
            return self.boolean(spec.name, spec.default)
        if spec.kind == "int":
            minimum, maximum = int(spec.minimum or 0), None if spec.maximum is None else int(spec.maximum)
            return self.integer(spec.name, spec.default, minimum=minimum, maximum=maximum)
        if spec.kind == "float":
            return self.number(spec.name, spec.default, minimum=spec.minimum or 0.0, maximum=spec.maximum)
        if spec.kind == "choice":
            return self.choice(spec.name, spec.default, list(spec.choices))
        if spec.kind == "list":
            return self.items(spec.name, list(spec.default))
        if spec.kind == "origins":
            return self.origins(spec.name, list(spec.default))
        return self.text(spec.name) or spec.default  # blank reads as unset

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._environ.get(name)
        return default if value is None else value.strip()

    def required_text(self, name: str, why: str) -> str:
        value = self.text(name)
        if not value:
            raise ImproperlyConfigured(f"{name} must be set: {why}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._environ.get(name)
        if raw is None:
            return default
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self._environ.get(name)
        if raw is None or not raw.strip():
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
        if value < minimum:
            raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None) -> float:
        raw = self._environ.get(name)
        if raw is None or not raw.strip():
            return default
        try:
            value = float(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None
        if not value >= minimum:  # also refuses nan
            raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}")
        return value

    def choice(self, name: str, default: str, choices: list[str]) -> str:
        """One of ``choices`` (compared in lower case)."""
        raw = self._environ.get(name)
        if raw is None or not raw.strip():
            return default
        value = raw.strip().lower()
        if value not in choices:
            raise ImproperlyConfigured(f"{name}={raw!r} must be one of: {', '.join(choices)}")
        return value

    def items(self, name: str, default: list[str]) -> list[str]:
        """A comma-separated list; blank items are dropped."""
        raw = self._environ.get(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def origins(self, name: str, default: list[str]) -> list[str]:
        """A comma-separated list of web origins, each exactly ``scheme://host[:port]``."""
        origins = self.items(name, default)
        for origin in origins:
            problem = origin_problem(origin)
            if problem:
                raise ImproperlyConfigured(f"{name}: {origin!r} {problem}")
        return origins


def origin_problem(origin: str) -> str | None:
    """Why ``origin`` is not a plain ``scheme://host[:port]`` web origin, or None when it is."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "has a malformed port"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host name"
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return "must be scheme://host[:port] only (no path, no trailing slash, no query, no user)"
    if (parts.scheme, parts.port) in (("http", 80), ("https", 443)):
        return "names its scheme's default port; browsers omit it, so drop it"
    if origin != origin.lower():
        return "must be lower case, as browsers send it"
    return None
