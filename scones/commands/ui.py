"""``scones ui``: the local dashboard."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    ui = subparsers.add_parser(
        "ui", help="local dashboard: versions, approvals, endpoint, traffic, pipeline runs",
        description="A web dashboard on 127.0.0.1: model versions (live, deploying, failed to deploy) with an "
                    "approver's page per version (the candidate beside the live one: metrics, per class, "
                    "confusion, calibration, training curves, data, mistakes, approval history; approve or "
                    "reject with a reason), live traffic with each version's drift verdict, an upload box that "
                    "runs an image through the inference workflow, a form that starts a pipeline run, and each "
                    "run as a DAG with its logs and artifacts.",
        epilog="Examples:\n  scones ui --port 8090            then open http://127.0.0.1:8090\n"
               "  scones ui --host 0.0.0.0 --allow-host build-box.internal\n"
               "                                   reachable from other machines: it prints a URL with an "
               "access token\n\n"
               "Approve, reject, start a run and upload are POST forms carrying a CSRF token; requests from "
               "other sites (Origin/Referer) and unknown Host names (DNS rebinding) are refused.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=8090)
    ui.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                    help="a Host name the dashboard answers to besides localhost/127.0.0.1/::1 (repeatable)")
    ui.add_argument("--token", default=None,
                    help="access token required from clients (default: none on loopback, generated otherwise)")
    ui.set_defaults(handler=_ui)


def _ui(args: argparse.Namespace) -> int:
    from scones.ui.app import serve

    return serve(args.host, args.port, tuple(args.allow_host), args.token)
