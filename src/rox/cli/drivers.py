"""``rox drivers``: which touchpoints and attributes drive NPS, CSAT, detractors or churn."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from rox.cli._app import (
    FormatOption,
    LanguagesOption,
    OutputFormat,
    RulesOption,
    ThemesOption,
    WorkspaceOption,
    app,
    comment_options,
    console,
    emit,
    open_workspace,
    require,
)


class DriverOutcome(enum.StrEnum):
    """What the drivers explain."""

    nps = "nps"
    csat = "csat"
    detractor = "detractor"
    churn = "churn"


class Missing(enum.StrEnum):
    """Missing-value policies."""

    complete = "complete"
    pairwise = "pairwise"


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


@app.command(name="drivers")
def drivers_command(
    outcome: Annotated[
        DriverOutcome, typer.Option(help="Outcome per customer (docs/drivers.md).")
    ] = DriverOutcome.nps,
    drivers: Annotated[
        str | None,
        typer.Option(
            help="Drivers, comma-separated: metric:touchpoint (csat:financing), customers "
            "columns, or theme:LABEL (a theme of the comments; then only the themes named join) "
            "(default: every touchpoint's CSAT; CES for --outcome csat)."
        ),
    ] = None,
    attributes: Annotated[
        str | None, typer.Option(help="Customers columns added to the drivers, comma-separated.")
    ] = None,
    themes: Annotated[
        bool,
        typer.Option(
            "--themes",
            help="Add the themes of the comments as candidate drivers (1 when a customer "
            "mentions the theme); analyses the comments as `rox themes` does.",
        ),
    ] = False,
    min_mentions: Annotated[
        int,
        typer.Option(
            "--min-mentions", help="Fewest customers mentioning a theme for it to join (--themes)."
        ),
    ] = 10,
    rules: RulesOption = None,
    languages: LanguagesOption = "en,it,de,fr,es",
    n_themes: ThemesOption = None,
    missing: Annotated[
        Missing | None,
        typer.Option(
            help="Keep customers with every driver (complete), or pair by pair (pairwise; the "
            "default for nps and csat; detractor and churn need complete).",
            show_default=False,
        ),
    ] = None,
    min_n: Annotated[
        int, typer.Option("--min-n", help="Fewest customers a correlation may rest on.")
    ] = 30,
    inactive_after: Annotated[
        int, typer.Option(help="Days without a purchase that count as churn (--outcome churn).")
    ] = 365,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates.")] = 500,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Key drivers: relative weights and Shapley (LMG) shares of R², with intervals."""
    with open_workspace(workspace) as ws:
        require(ws, "responses", *(["transactions"] if outcome is DriverOutcome.churn else []))
        from rox.impact import key_drivers

        names = _names(drivers)
        source = None
        if themes or any(n.startswith("theme:") for n in names or ()):
            from rox.voice import analyse

            source = analyse(ws, **comment_options(rules, languages, n_themes))  # type: ignore[arg-type]
        result = key_drivers(
            ws,
            outcome.value,
            drivers=names,
            attributes=_names(attributes) or (),
            themes=source,
            min_mentions=min_mentions,
            missing=None if missing is None else missing.value,
            min_n=min_n,
            inactive_after=inactive_after,
            n_boot=n_boot,
            level=level,
        )
    frame = result.to_frame()
    if fmt is not OutputFormat.table:
        emit(frame, fmt)
        return
    kind = "pseudo-R²" if result.binary else "R²"
    title = (
        f"Drivers of {result.outcome}: {kind} {result.r2:.3f} "
        f"({result.r2_low:.3f}-{result.r2_high:.3f}), {result.n_customers:,} customers "
        f"({result.missing} cases, {result.n_dropped:,} dropped)"
    )
    cols = ["driver", "n", "performance", "rw", "rw_low", "rw_high", "rw_pct"]
    if not result.binary:
        cols += ["lmg", "lmg_pct", "ranks_differ"]
    emit(frame, fmt, title=title, table=frame[cols])
    console.print(result.caveat, highlight=False, markup=False)
    for name, reason in result.themes_left_out.items():
        console.print(f"Left out {name}: {reason}.", highlight=False, markup=False)
    if not result.binary and frame["ranks_differ"].any():
        console.print(
            "Relative weights and LMG rank some drivers differently (ranks_differ): "
            "read those drivers as close.",
            highlight=False,
        )
