"""Print the pinned requirements (name==version lines) that are not installed as pinned.

Used by .ci/install.sh so that set-up is quick when everything is already there.
"""

import importlib.metadata
import re
import sys


def missing(paths: list[str]) -> list[str]:
    """Requirement lines from `paths` whose package is absent or at another version."""
    out = []
    for path in paths:
        with open(path) as f:
            lines = f.readlines()
        for line in lines:
            spec = line.split("#")[0].strip()
            match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+?)(?:\[.*\])?==(\S+)", spec)
            if not match:
                if spec:
                    out.append(spec)  # not a plain pin: let pip decide
                continue
            name, version = match.groups()
            try:
                if importlib.metadata.version(name) != version:
                    out.append(spec)
            except importlib.metadata.PackageNotFoundError:
                out.append(spec)
    return out


if __name__ == "__main__":
    print("\n".join(missing(sys.argv[1:])))
