"""Configuration: env parsing, system checks, and the production settings' deploy check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from backchannel.env import Env
from chat.checks import check_allowed_origins, check_channel_layer_for_production, check_limits

BACKEND_DIR = Path(__file__).resolve().parents[2] / "backend"
PRODUCTION_ENV = {
    "SECRET_KEY": "Zt3-q9vW1xLr8ZP0kQy7sB2mN5cD4fG6hJ8kL0pO2iU4yT6rE8wQ0aS2dF4gH6jK",
    "ALLOWED_HOSTS": "chat.example.com",
    "ALLOWED_ORIGINS": "https://www.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def run_backend(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python in a fresh process with exactly the given backend environment."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL", "ALLOWED_ORIGINS", "ALLOWED_HOSTS")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BACKEND_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "backchannel.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


class TestEnv:
    def test_booleans(self):
        env = Env({"A": "yes", "B": "0", "C": "Off"})
        assert (env.boolean("A", False), env.boolean("B", True), env.boolean("C", True), env.boolean("D", True)) == (
            True,
            False,
            False,
            True,
        )

    def test_a_bad_boolean_names_the_variable(self):
        with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe'"):
            Env({"DEBUG": "maybe"}).boolean("DEBUG", False)

    def test_a_bad_integer_names_the_variable(self):
        with pytest.raises(ImproperlyConfigured, match="MAX_TEXT_CHARS='lots'"):
            Env({"MAX_TEXT_CHARS": "lots"}).integer("MAX_TEXT_CHARS", 5)
        with pytest.raises(ImproperlyConfigured, match="HISTORY_LIMIT=-1 must be at least 0"):
            Env({"HISTORY_LIMIT": "-1"}).integer("HISTORY_LIMIT", 5)

    def test_numbers(self):
        env = Env({"RATE": " 2.5 ", "WHOLE": "3", "EXP": "1e-2", "BLANK": " "})
        assert (env.number("RATE", 1.0), env.number("WHOLE", 1.0), env.number("EXP", 1.0)) == (2.5, 3.0, 0.01)
        assert (env.number("BLANK", 7.0), env.number("MISSING", 7.0)) == (7.0, 7.0)

    @pytest.mark.parametrize(
        ("raw", "match"),
        [
            ("fast", "MESSAGE_PER_SEC='fast' is not a number"),
            ("0", "MESSAGE_PER_SEC=0.0 must be at least 0.01"),
            ("-1", "must be at least 0.01"),
            ("nan", "MESSAGE_PER_SEC=nan must be at least"),
            ("1,5", "is not a number"),
        ],
    )
    def test_a_bad_number_names_the_variable(self, raw, match):
        with pytest.raises(ImproperlyConfigured, match=match):
            Env({"MESSAGE_PER_SEC": raw}).number("MESSAGE_PER_SEC", 1.0, minimum=0.01)

    def test_lists_drop_blanks(self):
        assert Env({"L": " a, ,b ,"}).items("L", []) == ["a", "b"]

    @pytest.mark.parametrize(
        ("origin", "problem"),
        [
            ("https://example.com/", "no path"),
            ("https://example.com/chat", "no path"),
            ("example.com", "http:// or https://"),
            ("wss://example.com", "http:// or https://"),
            ("https://Example.com", "lower case"),
            ("https://example.com:443", "default port"),
            ("http://example.com:80", "default port"),
            ("https://example.com:99999", "malformed port"),
        ],
    )
    def test_malformed_origins_name_the_variable_and_the_problem(self, origin, problem):
        with pytest.raises(ImproperlyConfigured, match=f"ALLOWED_ORIGINS: '{origin}'.*{problem}"):
            Env({"ALLOWED_ORIGINS": f"http://localhost:1313,{origin}"}).origins("ALLOWED_ORIGINS", [])

    def test_good_origins(self):
        value = "http://localhost:1313,https://www.example.com,https://example.com:8443"
        assert Env({"ALLOWED_ORIGINS": value}).origins("ALLOWED_ORIGINS", []) == value.split(",")


class TestChecks:
    def test_defaults_pass(self):
        assert check_allowed_origins() == [] and check_limits() == []

    def test_no_origins(self, settings):
        settings.BACKCHANNEL_ALLOWED_ORIGINS = []
        assert [message.id for message in check_allowed_origins()] == ["backchannel.E001"]

    def test_malformed_origin_set_in_code(self, settings):
        settings.BACKCHANNEL_ALLOWED_ORIGINS = ["https://example.com/"]
        assert [message.id for message in check_allowed_origins()] == ["backchannel.E002"]

    def test_plain_http_origin_in_production(self, settings):
        settings.DEBUG = False
        settings.BACKCHANNEL_ALLOWED_ORIGINS = ["http://www.example.com", "http://localhost:1313"]
        assert [message.id for message in check_allowed_origins()] == ["backchannel.E003"]
        settings.DEBUG = True
        assert check_allowed_origins() == []

    def test_frame_limit_must_carry_the_longest_message(self, settings):
        settings.BACKCHANNEL_MAX_TEXT_CHARS = 5_000
        settings.BACKCHANNEL_MAX_FRAME_BYTES = 16_000
        [message] = check_limits()
        assert message.id == "backchannel.E004" and "20512" in message.hint

    def test_a_page_frame_must_carry_the_longest_message(self, settings):
        settings.BACKCHANNEL_MAX_TEXT_CHARS = 10_000
        settings.BACKCHANNEL_MAX_FRAME_BYTES = 64_000
        [message] = check_limits()
        assert message.id == "backchannel.E005" and "BACKCHANNEL_PAGE_BUDGET_BYTES" in message.msg

    def test_in_memory_layer_warns_for_deploys(self, settings):
        assert [message.id for message in check_channel_layer_for_production()] == ["backchannel.W001"]
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
        assert check_channel_layer_for_production() == []


@pytest.mark.process
class TestStartUp:
    def test_production_settings_pass_check_deploy(self):
        result = run_backend(
            "import django; django.setup(); from django.core.management import call_command;"
            "call_command('check', deploy=True, fail_level='WARNING')",
            PRODUCTION_ENV,
        )
        assert result.returncode == 0, result.stderr
        assert "no issues" in result.stdout + result.stderr

    def test_production_without_secret_key_refuses_to_start(self):
        env = {key: value for key, value in PRODUCTION_ENV.items() if key != "SECRET_KEY"}
        result = run_backend("import django; django.setup()", env)
        assert result.returncode != 0
        assert "SECRET_KEY must be set" in result.stderr

    def test_a_malformed_origin_refuses_to_start(self):
        result = run_backend("import django; django.setup()", {**PRODUCTION_ENV, "ALLOWED_ORIGINS": "https://x.com/"})
        assert result.returncode != 0
        assert "ALLOWED_ORIGINS: 'https://x.com/'" in result.stderr

    def test_the_asgi_app_refuses_to_start_on_a_failing_check(self):
        result = run_backend("import backchannel.asgi", {**PRODUCTION_ENV, "ALLOWED_ORIGINS": "http://www.example.com"})
        assert result.returncode != 0
        assert "backchannel.E003" in result.stderr

    def test_development_mode_needs_no_configuration(self):
        result = run_backend("import backchannel.asgi; print('ok')", {"DEBUG": "1"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"
