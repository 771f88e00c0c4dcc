"""The netdiag Textual app: a view over one run's analysis, loaded once in a worker.

``make_app`` is the one factory used by the CLI and the tests. Screens are modes (overview,
flows, translations, anomalies); a flow's path is pushed on top of the flows mode. Nothing here
recomputes the analysis: screens read ``app.run_view`` and the flow rows built at load time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from netdiag.bundle.open import OpenedRun, open_run
from netdiag.errors import NetdiagError, internal_error
from netdiag.report.describe import FlowRow, flow_rows
from netdiag.report.verdict import Verdict, verdicts
from netdiag.tui.messages import LoadFailed, LoadProgress, RunLoaded
from netdiag.tui.screens.anomalies import AnomaliesScreen
from netdiag.tui.screens.flow import FlowScreen
from netdiag.tui.screens.flows import FlowsScreen
from netdiag.tui.screens.help import HelpScreen
from netdiag.tui.screens.loading import LoadingScreen
from netdiag.tui.screens.overview import OverviewScreen
from netdiag.tui.screens.translations import TranslationsScreen

_NEEDS_RUN = {"switch_mode", "export", "show_flow"}


class NetdiagApp(App[None]):
    """Browse a run: overview, flows, one flow's path, translations, anomalies."""

    CSS_PATH = "app.tcss"
    TITLE = "netdiag"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "overview": OverviewScreen,
        "flows": FlowsScreen,
        "translations": TranslationsScreen,
        "anomalies": AnomaliesScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "switch_mode('overview')", "Overview"),
        Binding("f", "switch_mode('flows')", "Flows"),
        Binding("t", "switch_mode('translations')", "Translations"),
        Binding("a", "switch_mode('anomalies')", "Anomalies"),
        Binding("e", "export", "Export HTML"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        view: OpenedRun | None = None,
        export_dir: Path | None = None,
        ifmaps: Mapping[str, Mapping[int, str]] | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__()
        self.paths = list(paths)
        self.ifmaps = ifmaps
        self.run_view: OpenedRun | None = None
        self.flow_rows: list[FlowRow] = []
        self.verdicts: list[Verdict] = []
        self.t0 = 0
        self.load_error: str | None = None
        self.load_error_internal = False
        self.raise_bugs = debug
        self.export_dir = export_dir
        self._preloaded = view
        self._exports = 0

    def on_mount(self) -> None:
        self.push_screen(LoadingScreen())
        self.load()

    @work(thread=True, exclusive=True, group="load")
    def load(self) -> None:
        """Open the input and build the flow rows off the UI thread.

        The cyclic GC is paused while a million objects are created (each full collection would
        scan them all and hold the interpreter lock for a second, freezing the UI), then the
        loaded run is moved out of the collector's sight with ``gc.freeze`` (it lives until exit).
        """
        gc.disable()
        try:
            view = self._preloaded or open_run(self.paths, self._progress, self.ifmaps)
            rows = flow_rows(view.analysis)
            summary = verdicts(view.analysis, view.manifest)
            # Warm the lookups the screens use, here rather than on the UI thread.
            _ = view.analysis.flow_by_journey, view.analysis.all_anomalies
        except NetdiagError as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        except Exception as exc:  # a bug: end with its one-line report, as the CLI does
            if self.raise_bugs:
                raise
            self.post_message(LoadFailed(internal_error(exc), internal=True))
            return
        finally:
            gc.freeze()
            gc.enable()
        self.post_message(RunLoaded(view, rows, summary))

    def _progress(self, section: str, count: int) -> None:
        self.post_message(LoadProgress(section, count))

    def on_load_progress(self, message: LoadProgress) -> None:
        if isinstance(self.screen, LoadingScreen):
            self.screen.progress(message.section, message.count)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.load_error = message.error
        self.load_error_internal = message.internal
        self.exit()

    def on_run_loaded(self, message: RunLoaded) -> None:
        self.run_view = message.view
        self.flow_rows = message.rows
        self.verdicts = message.verdicts
        self.t0 = min((r.first_ts for r in message.rows), default=0)
        manifest = message.view.manifest
        self.sub_title = manifest.run_id if manifest and manifest.run_id else message.view.source
        self.switch_mode("overview")
        for warning in message.view.warnings:  # e.g. devices of an -i any file named by index
            self.notify(warning, title="note", severity="warning", timeout=15)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Screen and export keys do nothing until the run is loaded."""
        return not (action in _NEEDS_RUN and self.run_view is None)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_show_flow(self, flow_id: str) -> None:
        """Open one flow's hop-by-hop path (from the flows list or an anomaly)."""
        if self.current_mode != "flows":
            self.switch_mode("flows")
        self.push_screen(FlowScreen(flow_id))

    def shown_flows(self) -> Collection[str] | None:
        """Flow ids on the current screen (None: the whole run)."""
        shown = getattr(self.screen, "shown_flows", None)
        return shown() if callable(shown) else None

    def action_export(self) -> None:
        self._exports += 1
        self.export_report(self.shown_flows(), self._exports)

    @work(thread=True, group="export")
    def export_report(self, shown: Collection[str] | None, number: int) -> None:
        """Write the HTML report of what is on screen next to the run (or in export_dir)."""
        from netdiag.report.html import render_html

        view = self.run_view
        assert view is not None
        name = f"netdiag-report-{number}.html"
        try:
            html = render_html(view, shown_flows=shown)
        except NetdiagError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        candidates = [self.export_dir] if self.export_dir else [view.root, Path.cwd()]
        for folder in candidates:
            if folder is None:
                continue
            try:
                (folder / name).write_text(html, encoding="utf-8")
            except OSError:
                continue
            what = "whole run" if shown is None else f"{len(shown)} flow(s)"
            message = f"Report of the {what} written to {folder / name}"
            self.call_from_thread(self.notify, message, markup=False)  # paths may hold "["
            return
        self.call_from_thread(self.notify, "Could not write the report", severity="error")


def make_app(
    paths: Sequence[Path],
    *,
    view: OpenedRun | None = None,
    export_dir: Path | None = None,
    ifmaps: Mapping[str, Mapping[int, str]] | None = None,
    debug: bool = False,
) -> NetdiagApp:
    """The app for ``paths`` (or an already opened ``view``); used by the CLI and the tests.

    ``ifmaps`` names the devices of all-device captures (``--ifmap``), see ``open_run``;
    ``debug``: a bug while loading ends the app with its traceback instead of one line.
    """
    return NetdiagApp(paths, view=view, export_dir=export_dir, ifmaps=ifmaps, debug=debug)
