"""``rox themes`` and ``rox comments``: what customers write about, and what it costs in NPS."""

from __future__ import annotations

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
    emit,
    open_workspace,
    require,
)


@app.command(name="themes")
def themes_command(
    language: Annotated[
        str | None, typer.Option(help="Only the themes of this language (it, en, ...).")
    ] = None,
    period: Annotated[str, typer.Option(help="Period of the trend (--trend).")] = "month",
    trend: Annotated[
        bool, typer.Option("--trend", help="Print the themes by period instead.")
    ] = False,
    value: Annotated[
        bool,
        typer.Option(
            "--value",
            help="Price each theme: the CLV of the customers who mention it, and of those who "
            "do negatively (value at risk); fits the CLV model on the transactions.",
        ),
    ] = False,
    rules: RulesOption = None,
    languages: LanguagesOption = "en,it,de,fr,es",
    n_themes: ThemesOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Themes of the comments: volume, sentiment, and the NPS of customers who mention them."""
    with open_workspace(workspace) as ws:
        require(ws, "responses")
        clv = None
        if value:
            require(ws, "transactions")
            from rox.value import clv as fit_clv

            clv = fit_clv(ws)
        from rox.voice import themes

        result = themes(
            ws,
            value=clv,
            language=language,
            period=period,  # type: ignore[arg-type]
            **comment_options(rules, languages, n_themes),  # type: ignore[arg-type]
        )
    if trend:
        emit(result.trend, fmt, title=f"Themes by {period}: share of comments")
        return
    frame = result.to_frame()
    if fmt is not OutputFormat.table:
        emit(frame, fmt)
        return
    level = f"{result.confidence:.0%}"
    compact = frame[
        ["theme_id", "theme", "language", "comments", "sentiment", "negative_share"]
    ].copy()
    compact["NPS difference"] = frame["nps_difference"]
    if value:
        compact["value at risk"] = frame["value_at_risk"]
    compact[f"{level} interval"] = [
        "" if lo != lo else f"{lo:.1f} to {hi:.1f}"
        for lo, hi in zip(frame["nps_difference_low"], frame["nps_difference_high"], strict=True)
    ]
    title = (
        f"Themes of {int(frame['comments'].sum()):,} comments (NPS of customers who mention "
        "the theme minus the others')"
    )
    emit(frame, fmt, title=title, table=compact)


@app.command(name="comments")
def comments_command(
    theme: Annotated[
        str | None, typer.Option(help="Only the comments of this theme (its label or id).")
    ] = None,
    language: Annotated[str | None, typer.Option(help="Only comments in this language.")] = None,
    contradicting: Annotated[
        bool,
        typer.Option(
            "--contradicting", help="Only comments whose sentiment contradicts the score."
        ),
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many comments (0: all).")] = 20,
    rules: RulesOption = None,
    languages: LanguagesOption = "en,it,de,fr,es",
    n_themes: ThemesOption = None,
    workspace: WorkspaceOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Comments with their language, sentiment, score and theme (redacted at ingest)."""
    with open_workspace(workspace) as ws:
        require(ws, "responses")
        from rox.voice import analyse

        result = analyse(ws, **comment_options(rules, languages, n_themes))  # type: ignore[arg-type]
    frame = result.with_theme(theme) if theme is not None else result.frame
    if language is not None:
        frame = frame[frame["language"] == language]
    if contradicting:
        frame = frame[frame["contradicts"]]
    if limit > 0:
        frame = frame.head(limit)
    cols = [
        c
        for c in (
            "response_id",
            "metric",
            "score",
            "language",
            "sentiment",
            "contradicts",
            "theme",
            "comment",
        )
        if c in frame.columns
    ]
    emit(frame.reset_index(drop=True), fmt, title=f"{len(frame):,} comments", table=frame[cols])
