"""The setup form and setup tests, derived from a connector's configuration SPEC.

    def configuration_form():
        return setup.form(SPEC, setup.checks(settings, {"user": probe_users}))

``form`` turns each Field into a text, password, dropdown or toggle field with its required flag,
description and placeholder. ``checks`` yields named setup tests: the configuration parses, the host
answers, the credentials are accepted, and each table can be read; each returns Test.success() or
Test.failure(<a reason a person can act on>), never a traceback and never a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from .config import Field
from .errors import ApiError, AuthError, ConfigError, PagingError, RetriesExhausted, SyncError
from .redact import mask

Check = Callable[[dict[str, Any]], Any]


def _label(key: str, field: Field) -> str:
    return field.label or key.replace("_", " ").capitalize()


def form(spec: Mapping[str, Field], tests: Iterable[tuple[str, Check]] = ()) -> Any:
    from fivetran_connector_sdk import ConfigurationForm
    from fivetran_connector_sdk import form_field as ff

    out = ConfigurationForm()
    for key, field in spec.items():
        description = field.description or None
        default = "" if field.default is None else str(field.default).lower() if field.kind is bool else str(
            field.default)
        if field.kind is bool:
            out.add_field(ff.ToggleField(key, _label(key, field), description=description, required=field.required))
        elif field.choices:
            options = [ff.DropdownFieldParam(value=c) for c in field.choices]
            out.add_field(ff.DropdownField(key, _label(key, field), fields=options, description=description,
                                           required=field.required, placeholder=default or None))
        else:
            kind = ff.TextField.password if field.secret else ff.TextField.plain_text
            placeholder = field.placeholder or (default if default else None)
            out.add_field(ff.TextField(key, _label(key, field), kind, description=description,
                                       required=field.required, placeholder=placeholder))
    for label, func in tests:
        out.add_test(label=label, func=func)
    return out


def explain(exc: BaseException, what: str) -> str:
    """A reason a person can act on, for a failed setup check."""
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, AuthError):
        return f"{what}: the credentials were refused ({exc}); check them and try again"
    if isinstance(exc, ApiError) and exc.status == 403:
        return f"{what}: permission denied ({exc}); give the credentials read access"
    if isinstance(exc, ApiError) and exc.status == 404:
        return f"{what}: not found ({exc}); check the base URL and account"
    if isinstance(exc, (RetriesExhausted, requests.exceptions.RequestException)):
        return f"{what}: the host did not answer usefully ({exc}); check the base URL and the network"
    if isinstance(exc, (SyncError, PagingError)):
        return f"{what}: {exc}"
    return f"{what}: unexpected {type(exc).__name__}: {exc}"


def _named(name: str, func: Callable[[dict[str, Any]], Any]) -> Check:
    func.__name__ = name  # the platform calls each test by its function name
    func.__qualname__ = name
    return func


def checks(settings: Callable[[dict[str, Any]], Any], probes: Mapping[str, Callable[[Any], None]],
           *, connect: Callable[[Any], None] | None = None) -> list[tuple[str, Check]]:
    """Setup tests: configuration, then (optionally) credentials via ``connect``, then one per table."""
    from fivetran_connector_sdk import Test

    def run(what: str, body: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], Any]:
        def test(configuration: dict[str, Any]) -> Any:
            try:
                body(configuration)
            except Exception as exc:  # every failure becomes a reason, never a traceback
                return Test.failure(mask(explain(exc, what)))
            return Test.success()

        return test

    out: list[tuple[str, Check]] = [
        ("Configuration is complete and valid", _named("check_configuration", run("configuration", settings))),
    ]
    if connect is not None:
        out.append(("Host reachable and credentials accepted",
                    _named("check_credentials", run("credentials", lambda c: connect(settings(c))))))
    for table, probe in probes.items():
        out.append((f"Permission to read {table}",
                    _named(f"check_table_{table}", run(f"table {table}", lambda c, p=probe: p(settings(c))))))
    return out
