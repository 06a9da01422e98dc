"""The ``connector`` command line: a click group whose commands live in this package's modules.

Each module in ``connector.cli`` exposes ``COMMANDS``, a list of click commands or groups that is
added to the root group; the modules only parse arguments, call the library and turn
``ConnectorError`` into a clear message and a non-zero exit.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from connector import __version__
from connector.cli.context import CliContext


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="CONNECTOR_CONFIG",
    type=click.Path(),
    help="Settings file (default ./connector.yaml, or $CONNECTOR_CONFIG).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output.")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@click.version_option(__version__, prog_name="connector")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, verbose: int, quiet: int, log_json: bool
) -> None:
    """Keep Google Sheets and HubSpot enriched with influencers.club creator data."""
    ctx.obj = CliContext(config_path=config_path, verbosity=verbose - quiet, log_json=log_json)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "context":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    _register_commands()
    cli(prog_name="connector")
