"""CLI subcommands of this stage (see tokentrail.cli)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands; heavy imports belong in the handlers."""
