"""``rox serve`` (the intake service), ``rox keys`` (API keys), ``rox deliveries`` (webhooks)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from rox.cli._app import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    app,
    console,
    emit,
    err_console,
    open_workspace,
)

keys_app = typer.Typer(
    help="API keys of the service: create, list, revoke (stored hashed).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
deliveries_app = typer.Typer(
    help="Outbound webhooks of the service: the delivery log, and replay.", no_args_is_help=True
)
app.add_typer(deliveries_app, name="deliveries")
WebhooksOption = Annotated[
    str | None,
    typer.Option(
        "--webhooks",
        envvar="ROX_WEBHOOKS",
        help="The outbound webhooks' TOML file (endpoints, secrets, retries; docs/service.md).",
        show_default=False,
    ),
]


@app.command(name="serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_body: Annotated[
        int, typer.Option(help="Largest request body in bytes (413 above).")
    ] = 1_048_576,
    client_rate: Annotated[
        float, typer.Option(help="Requests per second per client IP (429 above; 0: no limit).")
    ] = 200.0,
    key_rate: Annotated[
        float, typer.Option(help="Requests per second per API key (429 above; 0: no limit).")
    ] = 1000.0,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="ROX_WEBHOOK_SECRET",
            help="The whsec_ secret inbound webhooks are signed with (Standard Webhooks).",
            show_default=False,
        ),
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="ROX_SECRET",
            help="The key that signs dashboard sessions (default: random; they end on restart).",
            show_default=False,
        ),
    ] = None,
    survey_cooldown: Annotated[
        float,
        typer.Option(help="Days before a customer who answered at a touchpoint is invited again."),
    ] = 30.0,
    dashboard_refresh: Annotated[
        float,
        typer.Option(help="Least seconds between two computations of a dashboard page."),
    ] = 10.0,
    dashboard_expensive_refresh: Annotated[
        float,
        typer.Option(
            help="Least seconds between two computations, in the background, of the overview's "
            "worth of experience (customer value models fitted to every customer)."
        ),
    ] = 600.0,
    dashboard_wait: Annotated[
        float,
        typer.Option(
            help="Most seconds a dashboard load waits for a recomputation it starts before "
            "showing the page it has (saying that a newer one is being computed)."
        ),
    ] = 1.0,
    case_rules: Annotated[
        str | None,
        typer.Option(
            help="Case rules (TOML) applied to responses as they arrive (default: the built-in "
            "rules, docs/actions.md).",
            show_default=False,
        ),
    ] = None,
    cases: Annotated[
        bool, typer.Option(help="Whether arriving responses open cases (per the case rules).")
    ] = True,
    webhooks: WebhooksOption = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (more than 1 needs a PostgreSQL workspace).",
        ),
    ] = 1,
    workspace: WorkspaceOption = None,
) -> None:
    """Run the intake service and admin API (docs at http://HOST:PORT/docs); needs rox[service]."""
    try:
        import uvicorn
    except ImportError as exc:
        from rox.errors import MissingDependencyError

        raise MissingDependencyError(
            f"the service needs its optional extra: pip install 'rox[service]' ({exc})"
        ) from None
    from rox import engines
    from rox.service import ServiceConfig, create_app

    url = workspace if workspace is not None else engines.default_url()
    config = ServiceConfig(
        workspace=url,
        max_body=max_body,
        client_rate=client_rate,
        client_burst=2 * client_rate,
        key_rate=key_rate,
        key_burst=2 * key_rate,
        webhook_secret=webhook_secret,
        secret=secret,
        dashboard_refresh=dashboard_refresh,
        dashboard_expensive_refresh=dashboard_expensive_refresh,
        dashboard_wait=dashboard_wait,
        survey_cooldown_days=survey_cooldown,
        case_rules=case_rules,
        cases_on_arrival=cases,
        webhooks=webhooks,
    )
    if workers > 1 and engines.parse_url(url).engine != "postgres":
        from rox.errors import ServiceError

        raise ServiceError(
            f"--workers {workers} needs a PostgreSQL workspace (postgres://…): a DuckDB file has "
            f"one writing process, not {url}"
        )
    err_console.print(
        f"rox service on http://{host}:{port} (docs at /docs, dashboard at /dashboard), "
        f"workspace {url}" + (f", {workers} processes" if workers > 1 else "")
    )
    if workers == 1:
        uvicorn.run(create_app(config), host=host, port=port, log_level="warning")
        return
    import dataclasses
    import json
    import os
    import secrets

    from rox.service.app import CONFIG_VARIABLE

    # the processes must sign sessions and invitations alike: one secret for all of them
    shared = dataclasses.replace(config, secret=secret or secrets.token_hex(32))
    os.environ[CONFIG_VARIABLE] = json.dumps(dataclasses.asdict(shared))
    uvicorn.run(
        "rox.service.app:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
    )


@keys_app.command(name="create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key.")],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="read, write or admin (repeat for several).")
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Create an API key; it is printed once (only its hash is stored)."""
    from rox.service.keys import create_key

    with open_workspace(workspace, read_only=False, create=True) as ws:
        key, text = create_key(ws, name, scope)
    err_console.print(
        f"key {key.key_id} ({', '.join(sorted(key.scopes))}); keep it, it is shown once:"
    )
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@keys_app.command(name="list")
def keys_list(workspace: WorkspaceOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """List the API keys (never the keys themselves)."""
    from rox.service.keys import list_keys

    with open_workspace(workspace) as ws:
        keys = list_keys(ws)
    frame = pd.DataFrame(
        [{**k.public(), "scopes": ",".join(k.public()["scopes"])} for k in keys],  # type: ignore[arg-type]
        columns=["key_id", "name", "scopes", "created_at", "revoked_at"],
    )
    emit(frame, fmt, title="API keys")


@keys_app.command(name="revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `rox keys list`).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke an API key (a service on DuckDB sees it on restart, on PostgreSQL within 5 s)."""
    from rox.service.keys import revoke_key

    with open_workspace(workspace, read_only=False) as ws:
        key = revoke_key(ws, key_id)
    console.print(f"revoked key {key.key_id} ({key.name})", highlight=False, markup=False)


@deliveries_app.command(name="list")
def deliveries_list(
    status: Annotated[
        str | None, typer.Option(help="pending, delivered or failed.", show_default=False)
    ] = None,
    response: Annotated[
        str | None, typer.Option(help="Those announcing this response.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 100,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The webhooks' delivery log: event, endpoint, status, attempts, last error."""
    from rox.service.outbox import list_deliveries

    with open_workspace(workspace) as ws:
        frame = list_deliveries(ws, status=status, response_id=response, limit=limit)
    shown = ["delivery_id", "event_type", "endpoint", "status", "attempts", "last_status_code",
             "last_error", "next_attempt_at", "created_at"]  # fmt: skip
    emit(frame, fmt, title="Webhook deliveries", table=frame[shown])


@deliveries_app.command(name="replay")
def deliveries_replay(
    delivery_id: Annotated[
        str | None, typer.Argument(help="The delivery to send again.", show_default=False)
    ] = None,
    response: Annotated[
        str | None,
        typer.Option(
            help="Send again every delivery announcing this response.", show_default=False
        ),
    ] = None,
    webhooks: WebhooksOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Queue deliveries again (new ids); `rox serve` sends them when it starts.

    A running service holds its DuckDB workspace: replay through its API then
    (POST /v1/deliveries/ID/replay).
    """
    from rox.errors import ServiceError
    from rox.service.outbox import Hooks, replay

    if webhooks is None:
        raise ServiceError("give the webhooks file (--webhooks FILE) the endpoints are named in")
    hooks = Hooks.load(webhooks)
    with open_workspace(workspace, read_only=False) as ws:
        ids = replay(ws, hooks, delivery_id=delivery_id, response_id=response)
    err_console.print(f"{len(ids)} deliveries queued again; `rox serve` sends them:")
    for new in ids:
        console.print(new, highlight=False, markup=False)
