"""``scones ui``: the local dashboard."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    ui = subparsers.add_parser(
        "ui", help="local dashboard: versions, approvals, endpoint, traffic, pipeline runs",
        description="A web dashboard on 127.0.0.1: model versions with an accuracy chart and approve/reject "
                    "buttons (approval redeploys the endpoint), the live endpoint and its traffic, an upload "
                    "box that runs an image through the inference workflow, and each pipeline run as a DAG.",
        epilog="Example: scones ui --port 8090, then open http://127.0.0.1:8090")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8090)
    ui.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    from scones.ui.app import serve

    return serve(args.host, args.port)
