"""Print the pinned requirements (name==version lines) that are not installed as pinned.

Used by .ci/install.sh so that set-up is quick when everything is already there.
"""

import importlib.metadata
import re
import sys


def has_extras(name: str, extras: str | None) -> bool:
    """True when every package that `name[extras]` adds is installed (any version)."""
    wanted = {e.strip() for e in (extras or "").split(",") if e.strip()}
    for requirement in importlib.metadata.requires(name) or []:
        marker = re.search(r'extra\s*==\s*"([^"]+)"', requirement)
        if marker is None or marker.group(1) not in wanted:
            continue
        package = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
        try:
            importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return False
    return True


def missing(paths: list[str]) -> list[str]:
    """Requirement lines from `paths` whose package is absent or at another version."""
    out = []
    for path in paths:
        with open(path) as f:
            lines = f.readlines()
        for line in lines:
            spec = line.split("#")[0].strip()
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[(.*)\])?==(\S+)", spec)
            if not match:
                if spec:
                    out.append(spec)  # not a plain pin: let pip decide
                continue
            name, extras, version = match.groups()
            try:
                if importlib.metadata.version(name) != version or not has_extras(name, extras):
                    out.append(spec)
            except importlib.metadata.PackageNotFoundError:
                out.append(spec)
    return out


if __name__ == "__main__":
    print("\n".join(missing(sys.argv[1:])))
