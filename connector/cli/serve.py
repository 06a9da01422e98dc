"""``connector serve``: run the web app on werkzeug's development server."""

from __future__ import annotations

import click

from connector.cli.context import get_context, handle_errors
from connector.web import create_app
from connector.web.exposure import check_exposure


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@handle_errors
def serve_command(host: str, port: int) -> None:
    """Serve the dashboard, JSON API and webhooks (development; use gunicorn in production)."""

    settings = get_context().settings()
    app = create_app(settings)
    check_exposure(settings, [host])
    click.echo(f"serving on http://{host}:{port}/ (Ctrl+C to stop)")
    app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


COMMANDS = [serve_command]
