"""`make package`: the deployment templates, built offline.

`chalice package` turns app.py and .chalice/config.json into a SAM template
and the Lambda bundle; infra/template.yml (infra/localstack.yml for the
`localstack` stage) is merged into it."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package(stage: str) -> Path:
    out = ROOT / "infra" / "build" / stage
    chalice = Path(sys.executable).parent / "chalice"
    # Packaging talks to no AWS service, but botocore wants a region. The
    # queue names Chalice writes must be the default ones the merged
    # templates create, whatever this shell says.
    env = {"AWS_DEFAULT_REGION": "us-east-1", **os.environ}
    for name in ("JOBS_QUEUE_NAME", "DEAD_LETTER_QUEUE_NAME"):
        env.pop(name, None)
    merge = "localstack.yml" if stage == "localstack" else "template.yml"
    subprocess.run([str(chalice), "package", "--stage", stage, "--template-format", "yaml",
                    "--merge-template", str(ROOT / "infra" / merge), str(out)],
                   cwd=ROOT, env=env, check=True)
    return out / "sam.yaml"


if __name__ == "__main__":
    print(package(sys.argv[1] if len(sys.argv) > 1 else "dev"))
