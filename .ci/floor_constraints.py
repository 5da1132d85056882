"""Print pip constraints that pin every floor of pyproject.toml to its release series.

`name>=2.16` becomes `name==2.16.*`: the floor's minor release with its latest
patch (patch releases fix bugs and wheels; 2.16.0 may not even exist). Used by
`make floor`: the oldest versions the package admits are installed and tested,
so that a floor in pyproject.toml is a fact, not a hope.

    python .ci/floor_constraints.py [extra ...] > constraints.txt
"""

import pathlib
import re
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLOOR = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(,.*)?$")


def floors(extras):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in extras:
        if extra not in project["optional-dependencies"]:
            raise SystemExit(f"unknown extra {extra!r}; pyproject.toml has "
                             f"{sorted(project['optional-dependencies'])}")
        deps += project["optional-dependencies"][extra]
    for dep in deps:
        m = FLOOR.match(dep.split(";")[0].strip())
        if m:
            yield f"{m.group(1)}=={m.group(3)}.*"


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:])))
