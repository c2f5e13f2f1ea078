"""Check .travis.yml against Travis's own JSON schema (a dev check: `make lint`).

Two passes: check-jsonschema's bundled `vendor.travis` schema (general shape), then, when it is
available, Travis's own schema from travis-ci/travis-yml, which also knows the deploy keys; each
`jobs.include` entry is checked against its job definition, where the deploy stanzas live.
Set TRAVIS_SCHEMA to that schema's path; by default ../shared/schemas/ beside the repo is tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

REPO_DIR = Path(__file__).resolve().parent.parent
TRAVIS_FILE = REPO_DIR / ".travis.yml"
DEFAULT_SCHEMA = REPO_DIR.parent / "shared" / "schemas" / "travis-yml.schema.json"


def main() -> int:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.travis", str(TRAVIS_FILE)]
    )
    if result.returncode != 0:
        return result.returncode

    schema_path = Path(os.environ.get("TRAVIS_SCHEMA", DEFAULT_SCHEMA))
    if not schema_path.is_file():
        print(f"Travis's own schema not found at {schema_path} (set TRAVIS_SCHEMA); deploy keys not checked.")
        return 0
    schema = json.loads(schema_path.read_text())
    document = YAML(typ="safe").load(TRAVIS_FILE.read_text())

    errors = [f".travis.yml: {error.message}" for error in jsonschema.Draft7Validator(schema).iter_errors(document)]
    job_schema = {**schema, "$ref": "#/definitions/type/jobs_include"}
    job_schema.pop("allOf", None)
    for index, job in enumerate(document.get("jobs", {}).get("include", [])):
        for error in jsonschema.Draft7Validator(job_schema).iter_errors(job):
            errors.append(f".travis.yml jobs.include[{index}] at {list(error.absolute_path)}: {error.message}")
    for error in errors:
        print(error)
    print(f"{TRAVIS_FILE.name}: {'INVALID' if errors else 'valid'} against {schema_path.name}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
