"""``connector config check``'s run-time checks that need more than the settings: key files,
spreadsheet URLs and the sources' mapping files against the media backend."""

from __future__ import annotations

from connector.config import SERVED_MEDIA_BACKENDS as SERVED_MEDIA
from connector.config import Settings
from connector.config.runtime import Finding, check_runtime_settings, error, warning
from connector.errors import ConfigError, MappingError, SourceError
from connector.mapping import Mapping, load_mapping
from connector.media.store import get_media_base_url
from connector.media.urls import check_public_base_url
from connector.services import resolve_mapping_path
from connector.sources.sheets.google import load_service_account_info
from connector.sources.sheets.source import parse_spreadsheet_key

MAPPING_FIX = (
    "fix the mapping file (docs/mappings.md); `connector mappings check FILE` shows the same"
)


def check_config(settings: Settings) -> list[Finding]:
    """Every problem ``settings`` will run into, errors first."""
    findings = [
        *check_runtime_settings(settings),
        *check_google_key(settings),
        *check_spreadsheets(settings),
        *check_mappings(settings),
    ]
    return sorted(findings, key=lambda f: f.level != "error")


def check_google_key(settings: Settings) -> list[Finding]:
    """The service-account key can be read and is one."""
    google = settings.google
    json_set = google.service_account_json is not None and bool(
        google.service_account_json.get_secret_value().strip()
    )
    if not json_set and not google.service_account_file:
        return []
    try:
        load_service_account_info(google)
    except ConfigError as exc:
        path = "google.service_account_json" if json_set else "google.service_account_file"
        return [
            error(
                path,
                problem.split(": ", 1)[-1] if problem.startswith("google") else problem,
                "point it at the JSON key downloaded for the service account (Google Cloud "
                "console → IAM → Service accounts → Keys), readable by the connector's user",
            )
            for problem in exc.problems
        ]
    return []


def check_spreadsheets(settings: Settings) -> list[Finding]:
    """Every sheet source names a spreadsheet key or URL the connector can read the key from."""
    found = []
    for index, source in enumerate(settings.sources):
        if source.type != "sheets":
            continue
        try:
            parse_spreadsheet_key(source.spreadsheet)
        except SourceError as exc:
            found.append(
                error(
                    f"sources[{index}].spreadsheet",
                    exc.message,
                    "paste the sheet's URL (https://docs.google.com/spreadsheets/d/<key>/edit) "
                    "or its key",
                )
            )
    return found


def check_mappings(settings: Settings) -> list[Finding]:
    """Each source's mapping loads, fits the source's kind, and can rehost its pictures."""
    found: list[Finding] = []
    for index, source in enumerate(settings.sources):
        if not source.enabled:
            continue
        path = f"sources[{index}].mapping"
        try:
            mapping = load_mapping(resolve_mapping_path(source.mapping))
        except MappingError as exc:
            found.extend(error(path, problem, MAPPING_FIX) for problem in exc.problems)
            continue
        found.extend(
            warning(
                path,
                problem,
                "correct the key (docs/mappings.md#checks-and-lint), or keep it if the API "
                "sends it; `connector mappings check --strict` fails on these",
            )
            for problem in mapping.warnings
        )
        if mapping.kind != source.type:
            found.append(
                error(
                    path,
                    f"{source.mapping} is a {mapping.kind} mapping but source {source.name!r} is "
                    f"a {source.type} source",
                    f"point it at a kind: {source.type} mapping (e.g. the shipped default)",
                )
            )
        found.extend(_check_pictures(settings, mapping, path))
    return found


def _check_pictures(settings: Settings, mapping: Mapping, path: str) -> list[Finding]:
    rehosts = [f for f in mapping.fields if any(t.name == "rehost" for t in f.transforms)]
    if not rehosts:
        return []
    backend = settings.media_backend
    where = f"{mapping.path} ({rehosts[0].target})"
    found = []
    if backend == "none":
        found.append(
            warning(
                path,
                f"{where} rehosts pictures but media.backend is none: the field stays as it is",
                "choose a media.backend, or drop the rehost transform",
            )
        )
    if backend in SERVED_MEDIA:
        base_url = get_media_base_url(settings)
        try:
            usable = base_url is not None and bool(check_public_base_url(base_url))
        except ValueError:
            usable = False
        if not usable:
            found.append(
                error(
                    path,
                    f"{where} rehosts pictures, which needs a public URL for them",
                    "set public_base_url (PUBLIC_BASE_URL) to the web app's https:// address, "
                    "or media.public_base_url to where the pictures are served",
                )
            )
    if backend not in SERVED_MEDIA and any(f.image_formula for f in mapping.fields):
        found.append(
            error(
                path,
                f"{mapping.path} writes =IMAGE() formulas, which only work with pictures the "
                f"connector serves (media.backend {backend})",
                "use media.backend local, database or s3, or remove image_formula",
            )
        )
    return found
