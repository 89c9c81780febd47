"""``rox serve`` (the intake service) and ``rox keys`` (its API keys)."""

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
    workspace: WorkspaceOption = None,
) -> None:
    """Run the intake service and admin API (docs at http://HOST:PORT/docs); needs rox[service]."""
    try:
        import uvicorn

        from rox.service import ServiceConfig, create_app
    except ImportError as exc:
        from rox.errors import ServiceError

        raise ServiceError(
            f"the service needs the optional extra: pip install 'rox[service]' ({exc})"
        ) from None
    from rox import engines

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
        survey_cooldown_days=survey_cooldown,
    )
    err_console.print(
        f"rox service on http://{host}:{port} (docs at /docs, dashboard at /dashboard), "
        f"workspace {url}"
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


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
    """Revoke an API key (a running service sees it on restart; the API revokes at once)."""
    from rox.service.keys import revoke_key

    with open_workspace(workspace, read_only=False) as ws:
        key = revoke_key(ws, key_id)
    console.print(f"revoked key {key.key_id} ({key.name})", highlight=False, markup=False)
