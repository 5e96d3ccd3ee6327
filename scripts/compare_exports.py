"""Compare two export trees file by file (e.g. written by scripts/export_set.py on two stacks).

    python scripts/compare_exports.py OLD_DIR NEW_DIR

One line per file: ``identical``, ``differs`` or ``only in OLD/NEW``. A ``deploy.json`` that is
not identical is compared key by key (dotted paths, list items as ``[i]``), and each differing key
is put in one of four classes:

* ``versions`` - the recorded package versions (``packages``, ``manifest.packages``, Xylo's
  ``witness_package``);
* ``consequence`` - ``manifest.sidecar`` when recomputing the digest over the new sidecar with the
  old recorded versions gives the old digest, and ``manifest.files.<f>`` when file ``<f>`` itself
  differs only in versions;
* ``last bits`` - a float that differs by at most MAX_ULPS units in the last place (a statistic
  from a sum whose rounding depends on numpy's vector kernels, never a quantised value: those
  are integers);
* ``OTHER`` - anything else.

Exit 0 when every file is identical or its deploy.json differs only in the first three classes,
else 1.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

VERSION_KEYS = ("packages", "manifest.packages", "witness_package")
"""deploy.json keys (and their sub-keys) that record installed package versions (Xylo records its
witness's version as ``witness_package``)."""
MAX_ULPS = 16


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b[2].c": leaf}`` of nested dicts and lists."""
    if isinstance(data, dict):
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in data.items()]
    elif isinstance(data, list) and data and any(isinstance(v, (dict, list)) for v in data):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(data)]
    else:
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, key))
    return out


def sidecar_digest(sidecar: dict[str, Any]) -> str:
    """seal.sidecar_digest: SHA-256 of the canonical JSON of every field but the manifest."""
    fields = {k: v for k, v in sidecar.items() if k != "manifest"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def ulps(a: Any, b: Any) -> float:
    """Units in the last place between two floats (inf if either is not a finite float)."""
    if not all(isinstance(v, float) and math.isfinite(v) for v in (a, b)):
        return math.inf
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


class Comparison:
    def __init__(self, old_root: Path, new_root: Path):
        self.old_root, self.new_root = old_root, new_root

    def acceptable(self, rel: str) -> bool:
        """File `rel` is identical, or a deploy.json differing only in acceptable classes."""
        a, b = self.old_root / rel, self.new_root / rel
        if not (a.is_file() and b.is_file()):
            return False
        if a.read_bytes() == b.read_bytes():
            return True
        return Path(rel).name == "deploy.json" and self.sidecars(rel)[0]

    def sidecars(self, rel: str) -> tuple[bool, str, str]:
        """(acceptable, worst class, description) of a differing deploy.json."""
        old = json.loads((self.old_root / rel).read_text())
        new = json.loads((self.new_root / rel).read_text())
        a, b = flatten(old), flatten(new)
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k, KeyError) != b.get(k, KeyError))
        classes: dict[str, list[str]] = {}
        folder = str(Path(rel).parent)
        for key in keys:  # the sidecar's own fields first: the manifest's digest depends on them
            if not key.startswith("manifest."):
                classes.setdefault(self.classify(key, a.get(key), b.get(key)), []).append(key)
        for key in keys:
            if key.startswith("manifest."):
                kind = self.manifest_key(key, a.get(key), b.get(key), old, new, folder, classes)
                classes.setdefault(kind, []).append(key)
        worst = next(
            (k for k in ("OTHER", "last bits", "consequence", "versions") if k in classes), "none"
        )
        parts = []
        for kind in ("versions", "consequence", "last bits", "OTHER"):
            if kind in classes:
                names = classes[kind]
                if kind == "versions":
                    names = sorted({k.split(".")[-1] for k in names})
                if kind == "last bits":
                    names = [f"{k} ({ulps(a[k], b[k]):.0f} ulp)" for k in names]
                parts.append(f"{kind}: {', '.join(names)}")
        return "OTHER" not in classes, worst, "; ".join(parts)

    def classify(self, key: str, a: Any, b: Any) -> str:
        if any(key == v or key.startswith(v + ".") for v in VERSION_KEYS):
            return "versions"
        return "last bits" if ulps(a, b) <= MAX_ULPS else "OTHER"

    def manifest_key(
        self, key: str, a: Any, b: Any, old: dict, new: dict, folder: str, classes: dict
    ) -> str:
        """A manifest entry is a consequence when the digest over the new sidecar, with the old
        values of the fields that differ acceptably, is the old digest (``sidecar``), or when the
        file it hashes differs acceptably itself (``files.<f>``)."""
        if key == "manifest.sidecar" and "OTHER" not in classes:
            differing = {k.split(".")[0].split("[")[0] for ks in classes.values() for k in ks}
            if sidecar_digest({**new, **{k: old[k] for k in differing if k in old}}) == a:
                return "consequence"
        hashed = f"{folder}/{key.removeprefix('manifest.files.')}"
        if key.startswith("manifest.files.") and self.acceptable(hashed):
            return "consequence"
        return self.classify(key, a, b)


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: compare_exports.py OLD_DIR NEW_DIR", file=sys.stderr)
        return 2
    old_root, new_root = Path(argv[0]), Path(argv[1])
    cmp = Comparison(old_root, new_root)
    old_files, new_files = files(old_root), files(new_root)
    ok = True
    counts = dict.fromkeys(("identical", "versions", "consequence", "last bits", "OTHER"), 0)
    counts["missing"] = 0
    for rel in sorted(old_files | new_files):
        if rel not in new_files or rel not in old_files:
            print(f"{rel}: only in {'OLD' if rel in old_files else 'NEW'}")
            ok, counts["missing"] = False, counts["missing"] + 1
            continue
        a, b = (old_root / rel).read_bytes(), (new_root / rel).read_bytes()
        if a == b:
            print(f"{rel}: identical")
            counts["identical"] += 1
        elif Path(rel).name == "deploy.json":
            acceptable, worst, text = cmp.sidecars(rel)
            print(f"{rel}: differs in {text}")
            counts[worst] += 1
            ok = ok and acceptable
        else:
            print(f"{rel}: differs ({len(a)} vs {len(b)} bytes)")
            ok, counts["OTHER"] = False, counts["OTHER"] + 1
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"{len(old_files | new_files)} files: {summary} (deploy.json files by their worst key)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
