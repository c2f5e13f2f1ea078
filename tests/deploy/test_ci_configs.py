"""The CI files (.travis.yml, the GitHub Actions workflow): valid for their services, running the
README's commands, and deploying what the rest of the repository says: the backend/ directory
to Heroku, then the production site to GitHub Pages on config.toml's domain.

Travis's own, stricter schema (deploy keys, vendor/travis-yml/) is checked by `make lint`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.deploy

REPO_DIR = Path(__file__).resolve().parents[2]
TRAVIS_FILE = REPO_DIR / ".travis.yml"
WORKFLOW_FILE = REPO_DIR / ".github" / "workflows" / "deploy.yml"


def load_yaml(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def travis_stages() -> dict[str, list[dict]]:
    """Stage name → its jobs, in order (a job without `stage:` is in the one before it, as Travis reads it)."""
    stages: dict[str, list[dict]] = {}
    stage = None
    for job in load_yaml(TRAVIS_FILE)["jobs"]["include"]:
        stage = job.get("stage", stage)
        stages.setdefault(stage, []).append(job)
    return stages


def travis_jobs() -> dict[str, dict]:
    """Stage name → its first job."""
    return {stage: jobs[0] for stage, jobs in travis_stages().items()}


def site_domain() -> str:
    return urlsplit(tomllib.loads((REPO_DIR / "config.toml").read_text())["baseURL"]).hostname


@pytest.mark.process
@pytest.mark.parametrize(
    ("path", "schema"), [(TRAVIS_FILE, "vendor.travis"), (WORKFLOW_FILE, "vendor.github-workflows")]
)
def test_the_ci_file_is_valid_for_its_service(path, schema):
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_push_and_pull_request_runs_the_readme_test_command():
    readme = (REPO_DIR / "README.md").read_text()
    assert "make test   # every test suite" in readme
    assert travis_jobs()["test"]["script"] == "make test"
    assert "if" not in travis_jobs()["test"]
    steps = [step.get("run") for step in load_yaml(WORKFLOW_FILE)["jobs"]["test"]["steps"]]
    assert "make test" in steps
    assert (REPO_DIR / ".ci" / "run").read_text().rstrip().endswith("make test")


def test_every_ci_runs_make_lint_beside_the_tests():
    """Lint gates every CI: Travis in a job of the test stage, the workflow before its tests, .ci/run first."""
    assert [job["script"] for job in travis_stages()["test"]] == ["make test", "make lint"]
    steps = [step.get("run") for step in load_yaml(WORKFLOW_FILE)["jobs"]["test"]["steps"]]
    assert steps.index("make lint") < steps.index("make test")
    assert "if ! make lint; then" in (REPO_DIR / ".ci" / "run").read_text()


def test_deploys_happen_only_for_pushes_to_main_backend_first():
    stages = {stage["name"]: stage.get("if") for stage in load_yaml(TRAVIS_FILE)["stages"]}
    assert list(stages) == ["test", "deploy backend", "publish site"]
    for name in ("deploy backend", "publish site"):
        assert "branch = main" in stages[name] and "type = push" in stages[name]
    workflow = load_yaml(WORKFLOW_FILE)["jobs"]
    assert workflow["deploy-backend"]["needs"] == "test"
    assert workflow["publish-site"]["needs"] == "deploy-backend"
    assert workflow["deploy-backend"]["if"] == "github.ref == 'refs/heads/main' && github.event_name == 'push'"


def test_travis_ships_only_the_backend_to_heroku_with_a_secret_key():
    job = travis_jobs()["deploy backend"]
    assert job["before_deploy"] == "cd backend"  # dpl uploads the current directory
    deploy = job["deploy"]
    assert deploy["provider"] == "heroku"
    assert deploy["api_key"] == "$HEROKU_API_KEY"  # from the secure settings, never a literal
    assert deploy["on"] == {"branch": "main"}
    assert job["script"] == "make doctor"


def test_travis_publishes_the_production_site_to_pages_keeping_the_custom_domain():
    job = travis_jobs()["publish site"]
    assert job["script"] == "make doctor && make site-production"
    deploy = job["deploy"]
    assert deploy["provider"] == "pages"
    assert deploy["strategy"] == "git"  # dpl v2; v1's skip_cleanup is gone
    assert deploy["token"] == "$GITHUB_TOKEN"
    assert deploy["local_dir"] == "public"  # where `make site-production` builds
    assert deploy["keep_history"] is True
    assert deploy["cleanup"] is False
    assert "skip_cleanup" not in deploy
    assert deploy["fqdn"] == site_domain()


def test_the_workflow_pushes_only_backend_and_publishes_the_production_site():
    jobs = load_yaml(WORKFLOW_FILE)["jobs"]
    push = next(step["run"] for step in jobs["deploy-backend"]["steps"] if "git push" in step.get("run", ""))
    assert "git subtree split --prefix backend HEAD" in push
    assert "${HEROKU_API_KEY}" in push and "secrets.HEROKU_API_KEY" in str(jobs["deploy-backend"]["steps"])
    runs = [step["run"] for step in jobs["publish-site"]["steps"] if "run" in step]
    assert runs == ["make doctor", "make site-production"]
    upload = next(step for step in jobs["publish-site"]["steps"] if "upload-pages-artifact" in step.get("uses", ""))
    assert upload["with"]["path"] == "public"


def test_the_makefile_has_the_targets_the_ci_files_call():
    makefile = (REPO_DIR / "Makefile").read_text()
    for target in ("test", "doctor", "site-production", "install"):
        assert f"\n{target}: " in makefile
