"""Sealed exports: ``deploy.json`` carries a manifest of everything the export is made of.

After a target has written its artefacts, :func:`seal_export` records the SHA-256 of every file of
the export (except the sidecar itself and the outputs of ``verify``), of the sidecar's other
fields, of the source model, the export options and the package versions under the sidecar key
``"manifest"``. Every command that loads an export goes through :func:`load_export`, which calls
:func:`check_export` first: a changed, missing or extra file is refused (exit 2) unless the user
passes ``--allow-modified``; then the result carries ``modified`` and every output says so.

The seal is an integrity check (it catches edits, damage and mixed-up files), not a signature:
someone who rewrites the manifest on purpose can forge it; nothing here holds a secret.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nrf_deploy.deployment import SIDECAR
from nrf_deploy.errors import NrfError

MANIFEST_KEY = "manifest"
VERIFY_OUTPUTS = ("verify-report.json", "verify-diff.npz")
"""Files ``verify`` writes into an export: outside the seal (they describe it, not make it)."""
NOT_SEALED = (SIDECAR, *VERIFY_OUTPUTS)
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def sidecar_digest(sidecar: dict[str, Any]) -> str:
    """SHA-256 of the sidecar's fields other than the manifest (whitespace-independent)."""
    fields = {k: v for k, v in sidecar.items() if k != MANIFEST_KEY}
    return hashlib.sha256(_canonical(fields)).hexdigest()


def export_files(out_dir: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every sealed file under `out_dir` (sorted).

    A symbolic link or anything that is not a regular file or directory is refused: an export
    holds its own bytes, never a pointer elsewhere."""
    out_dir = Path(out_dir)
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(out_dir, followlinks=False):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if Path(root, d).is_symlink()]:
            path = Path(root, name)
            rel = path.relative_to(out_dir).as_posix()
            if root == str(out_dir) and name in NOT_SEALED:
                continue
            if path.is_symlink() or not path.is_file():
                raise NrfError(
                    f"'{rel}' in the export is a link or special file, not a plain file",
                    str(path),
                    "an export holds plain files only; re-run nrf-deploy export",
                )
            found[rel] = sha256_file(path)
    return dict(sorted(found.items()))


def build_manifest(
    out_dir: Path, sidecar: dict[str, Any], source_sha256: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """The manifest of the export written in `out_dir` (before the sidecar is rewritten)."""
    from nrf_deploy.deployment import package_versions

    return {
        "algorithm": "sha256",
        "files": export_files(out_dir),
        "sidecar": sidecar_digest(sidecar),
        "source_model": source_sha256,
        "options": {
            k: v
            for k, v in sorted(options.items())
            if isinstance(v, (str, int, float, bool, type(None)))
        },
        "packages": package_versions(),
    }


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The one hash that names an export's content: ``verify-report.json`` records it."""
    return hashlib.sha256(_canonical(manifest)).hexdigest()


def seal_export(out_dir: Path, source_sha256: str | None, options: dict[str, Any]) -> str:
    """Add the manifest to ``out_dir/deploy.json`` (rewritten deterministically); return its
    digest."""
    from nrf_deploy.fileio import dumps_json

    path = Path(out_dir) / SIDECAR
    sidecar = json.loads(path.read_text())
    sidecar.pop(MANIFEST_KEY, None)
    sidecar[MANIFEST_KEY] = build_manifest(out_dir, sidecar, source_sha256, options)
    path.write_text(dumps_json(sidecar))
    return manifest_digest(sidecar[MANIFEST_KEY])


@dataclass
class SealCheck:
    """What :func:`check_export` found: `changed`, `missing` and `extra` are relative paths
    (``deploy.json`` in `changed` means its fields were edited)."""

    digest: str | None
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unsealed: bool = False

    @property
    def modified(self) -> bool:
        return self.unsealed or bool(self.changed or self.missing or self.extra)

    def describe(self) -> str:
        if self.unsealed:
            return "deploy.json has no manifest (not sealed, or made by an older nrf-deploy)"
        groups = (("changed", self.changed), ("missing", self.missing), ("extra", self.extra))
        parts = [f"{label}: {', '.join(names)}" for label, names in groups if names]
        return "; ".join(parts) or "unmodified"


def check_export(out_dir: str | os.PathLike, sidecar: dict[str, Any]) -> SealCheck:
    """Compare the export as it is now with the manifest in its sidecar."""
    manifest = sidecar.get(MANIFEST_KEY)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return SealCheck(None, unsealed=True)
    try:
        now = export_files(Path(out_dir))
    except OSError as exc:
        raise NrfError(
            f"the export cannot be read ({exc})", str(out_dir), "check the permissions"
        ) from None
    sealed = manifest["files"]
    check = SealCheck(manifest_digest(manifest))
    if manifest.get("sidecar") != sidecar_digest(sidecar):
        check.changed.append(SIDECAR)
    check.changed += [n for n in sealed if n in now and now[n] != sealed[n]]
    check.missing = [n for n in sealed if n not in now]
    check.extra = [n for n in now if n not in sealed]
    return check


def require_sealed(
    out_dir: str | os.PathLike, sidecar: dict[str, Any], allow_modified: bool = False
) -> SealCheck:
    """:func:`check_export`, refusing a modified export unless `allow_modified`."""
    check = check_export(out_dir, sidecar)
    if check.modified and not allow_modified:
        raise NrfError(
            f"the export has been modified since 'nrf-deploy export' sealed it "
            f"({check.describe()})",
            str(out_dir),
            "re-run nrf-deploy export to regenerate it; or pass --allow-modified "
            "to run the modified files on purpose (every output then says so)",
        )
    return check


@dataclass
class LoadedExport:
    """An export read through the seal: its target, deployment and what the check found."""

    target: Any
    deployment: Any
    seal: SealCheck

    @property
    def modified(self) -> bool:
        return self.seal.modified


def load_export(out_dir: str | os.PathLike, allow_modified: bool = False) -> LoadedExport:
    """The one way the commands read an export: check the seal, then ``target.load``."""
    from nrf_deploy.deployment import read_sidecar
    from nrf_deploy.targets import get_target

    sidecar = read_sidecar(Path(out_dir))
    target = get_target(sidecar["target"])
    check = require_sealed(out_dir, sidecar, allow_modified)
    deployment = target.load(Path(out_dir))
    if check.modified:
        deployment.extras["modified"] = check.describe()
    return LoadedExport(target, deployment, check)


def file_in_export(out_dir: str | os.PathLike, name: Any, where: str) -> Path:
    """The path of a file an export refers to by `name`, which must be a plain file name inside
    the export (no directories, no ``..``, not absolute, not a link); otherwise NrfError."""
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not os.path.isabs(name)
    )
    path = Path(out_dir) / name if plain else None
    if path is None or path.is_symlink():
        raise NrfError(
            f"the export refers to '{name}', which is not a plain name inside the export",
            where,
            "an export only refers to its own files; re-run nrf-deploy export",
        )
    return path


def rebuild_and_compare(out_dir: Path, sidecar: dict[str, Any]) -> str:
    """Re-export the export's ``source.nir`` with its recorded options into a temporary folder
    and require byte-identical artefacts (``verify --rebuild``); NrfError names what differs."""
    import tempfile

    from nrf_deploy.exporting import SOURCE_FILE, export

    manifest = sidecar.get(MANIFEST_KEY)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("options"), dict):
        raise NrfError(
            "the export has no manifest with the options it was made with",
            str(out_dir),
            "re-export it with this nrf-deploy version",
        )
    source = file_in_export(out_dir, SOURCE_FILE, "--rebuild")
    with tempfile.TemporaryDirectory(prefix=".nrf-rebuild.") as tmp:
        rebuilt = Path(tmp) / "export"
        export(str(source), sidecar["target"], rebuilt, dict(manifest["options"]))
        again = json.loads((rebuilt / SIDECAR).read_text())
        new_files = again[MANIFEST_KEY]["files"]
        differ = sorted(
            n
            for n in set(new_files) | set(manifest["files"])
            if new_files.get(n) != manifest["files"].get(n)
        )
        if again[MANIFEST_KEY]["sidecar"] != manifest["sidecar"]:
            differ.insert(0, SIDECAR)
    if differ:
        versions = (
            ""
            if again[MANIFEST_KEY]["packages"] == manifest.get("packages")
            else " (the installed package versions differ from the recorded ones)"
        )
        raise NrfError(
            f"re-exporting source.nir with the recorded options gives different "
            f"artefacts: {', '.join(differ)}{versions}",
            str(out_dir),
            "the export was not made from its source.nir with these options, or the "
            "toolchain changed; re-export it",
        )
    return f"re-export of source.nir is byte-identical ({len(new_files)} files)"
