"""Check .travis.yml against Travis's own JSON schema (a dev check: `make lint`).

Two passes: check-jsonschema's bundled `vendor.travis` schema (general shape), then Travis's own
schema from travis-ci/travis-yml, vendored in vendor/travis-yml/ (README.md there says which
commit), which also knows the deploy keys; each `jobs.include` entry is checked against its job
definition, where the deploy stanzas live. TRAVIS_SCHEMA names another copy of that schema. A
schema that cannot be read fails the check: it is never skipped.
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
DEFAULT_SCHEMA = REPO_DIR / "vendor" / "travis-yml" / "schema.json"


def main() -> int:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.travis", str(TRAVIS_FILE)]
    )
    if result.returncode != 0:
        return result.returncode

    schema_path = Path(os.environ.get("TRAVIS_SCHEMA", DEFAULT_SCHEMA))
    try:
        schema = json.loads(schema_path.read_text())
    except (OSError, ValueError) as error:
        print(f"Travis's own schema cannot be read at {schema_path}: {error}")
        print("It is vendored in vendor/travis-yml/schema.json (vendor/travis-yml/README.md says where from).")
        return 1
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
