"""``scones endpoint serve|status|invoke|shadow|split``: the local endpoint on SageMaker's serving contract."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scones.commands import add_group

EPILOG = """\
The endpoint serves the latest Approved version of $SCONES_MODEL_GROUP and redeploys, with no
downtime, whenever a version is approved (or the live one rejected) in the registry.

Examples:
  scones endpoint serve --port 8080              # in one terminal
  scones registry approve 2                      # in another: v2 goes live, requests never fail
  scones endpoint invoke bicycle.png moped.jpg   # through boto3's sagemaker-runtime client
  aws sagemaker-runtime invoke-endpoint --endpoint-url http://127.0.0.1:8080 \\
      --endpoint-name scones-endpoint --content-type image/png --body fileb://bike.png out.json

Deployment modes ($SCONES_DEPLOY_MODE, $SCONES_ROLLOUT; the template's DeployMode and Rollout):
  SCONES_ROLLOUT="canary 10% 5m" scones endpoint serve   # an approval takes 10 %, bakes 5 min, then all
  SCONES_DEPLOY_MODE=serverless scones endpoint serve    # throttles past MaxConcurrency; the classifier captures
  scones endpoint shadow 4        # v4 answers copies of live traffic; compare on the dashboard's v4 page
  scones endpoint split 3=90 4=10 # an A/B split of two approved versions (TargetVariant v3 / v4 picks one)
"""


def register(subparsers) -> None:
    from scones.serving.run import DEFAULT_ENDPOINT

    group = add_group(subparsers, "endpoint", "local endpoint: serve, status, invoke, shadow, split")
    serve = group.add_parser("serve", help="run the local endpoint (foreground)", epilog=EPILOG,
                             description="Serve the model over HTTP on SageMaker's container contract "
                                         "and Runtime API path, with data capture.",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--name", default=DEFAULT_ENDPOINT)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    serve.add_argument("--no-capture", action="store_true", help="turn data capture off")
    serve.add_argument("--alarm-period", type=float, default=None, metavar="SECONDS",
                       help="seconds per rollback-alarm datapoint while a rollout bakes (default: the template's 60)")
    serve.set_defaults(handler=_serve)

    shadow = group.add_parser(
        "shadow", help="let a version answer copies of live traffic, off the record",
        description="A candidate (pending or approved) answers a copy of each live request after the client has "
                    "its answer; its answers are captured as their own variant (shadow-vN) and compared with the "
                    "live version's on the dashboard's version page. The client's answer and latency do not change.",
        epilog="Examples:\n  scones endpoint shadow 4              # every request\n"
               "  scones endpoint shadow 4 --share 0.2  # one request in five\n  scones endpoint shadow --off",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    shadow.add_argument("version", nargs="?", type=int)
    shadow.add_argument("--share", type=float, default=1.0, help="share of requests the shadow sees (default 1)")
    shadow.add_argument("--off", action="store_true", help="stop shadowing")
    shadow.add_argument("--name", default=DEFAULT_ENDPOINT)
    shadow.add_argument("--sagemaker", metavar="ENDPOINT", default=None,
                        help="apply to this SageMaker endpoint instead (a new endpoint configuration with "
                             "ShadowProductionVariants; SCONES_REGISTRY=sagemaker://)")
    shadow.set_defaults(handler=_shadow)

    split = group.add_parser(
        "split", help="an A/B split of approved versions by weight",
        description="Serve two or more approved versions side by side, each taking its weight's share of requests "
                    "(SageMaker's production variants, named vN). A request's TargetVariant picks one. Capture, "
                    "counts, confidence and live accuracy are kept per variant; the dashboard tests whether the "
                    "difference is real yet. Approving a version ends the split.",
        epilog="Examples:\n  scones endpoint split 3=90 4=10\n  scones endpoint split --off   # the live version "
               "takes all traffic again", formatter_class=argparse.RawDescriptionHelpFormatter)
    split.add_argument("weights", nargs="*", metavar="VERSION=WEIGHT")
    split.add_argument("--off", action="store_true", help="end the split")
    split.add_argument("--name", default=DEFAULT_ENDPOINT)
    split.add_argument("--sagemaker", metavar="ENDPOINT", default=None,
                       help="apply to this SageMaker endpoint instead (weighted production variants vN)")
    split.set_defaults(handler=_split)

    status = group.add_parser("status", help="what is live, since when, request counts")
    status.add_argument("--name", default=DEFAULT_ENDPOINT)
    status.set_defaults(handler=_status)

    invoke = group.add_parser("invoke", help="send images through boto3's sagemaker-runtime client")
    invoke.add_argument("images", nargs="+", type=Path)
    invoke.add_argument("--name", default=DEFAULT_ENDPOINT)
    invoke.add_argument("--url", default=None, help="endpoint URL (default: the running local endpoint)")
    invoke.set_defaults(handler=_invoke)


def _serve(args: argparse.Namespace) -> int:
    import errno

    from scones.errors import SconesError
    from scones.serving.run import serve
    from scones.settings import Settings

    try:
        return serve(Settings.from_env(), args.name, args.host, args.port, args.threads, not args.no_capture,
                     args.alarm_period)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SconesError(f"port {args.port} on {args.host} is already in use (another endpoint?): "
                              "stop it, or pass --port N (0 picks a free one)") from exc
        raise


def _status(args: argparse.Namespace) -> int:
    import urllib.request

    from scones.serving.run import read_state
    from scones.settings import Settings

    state = read_state(Settings.from_env(), args.name)
    if state is None:
        print(f"endpoint {args.name} has never run here: start it with `scones endpoint serve`")
        return 1
    try:
        with urllib.request.urlopen(f"{state['url']}/scones/status", timeout=2) as response:  # noqa: S310
            state = json.loads(response.read())
    except OSError:
        state["status"] = "Stopped" if state.get("status") != "Stopped" else state["status"]
    live = state.get("live")
    print(f"endpoint {state['endpoint']}: {state['status']} at {state['url']}")
    if live:
        accuracy = f", accuracy {live['accuracy']:.4f}" if live.get("accuracy") is not None else ""
        print(f"  live: {live['group']}/{live['version']} since {live['since']} ({live['backend']}{accuracy})")
    since = f" since its process (pid {state.get('pid')}) started at {state['process_started']}" \
        if state.get("process_started") else ""
    print(f"  {state.get('requests', 0)} requests answered{since}: {state.get('invocations', 0)} with predictions, "
          f"{state.get('errors', 0)} with errors (counts start at zero with each start; capture keeps every "
          f"request: {_capture_note(state)})")
    for line in layout_lines(state):
        print(f"  {line}")
    for item in state.get("history", []):
        print(f"  deployed v{item['version']} at {item['since']}")
    return 0 if state["status"] == "InService" else 1


def _capture_note(state: dict) -> str:
    if state.get("capture"):
        return state["capture"]
    return "written by the classifier (serverless)" if "serverless" in (state.get("mode") or "") else "off"


def layout_lines(state: dict) -> list[str]:
    """What serves beyond one version: the mode, the variants' shares, a shadow, a rollout."""
    lines = [f"mode: {state['mode']}"] if state.get("mode") else []
    variants = state.get("variants") or []
    if len(variants) > 1:
        lines += [f"variant {v['variant']}: v{v['version']} {v['share']:.0%} of traffic, {v.get('invocations', 0)} "
                  f"answered, {v.get('errors', 0)} errors" for v in variants]
    shadow = state.get("shadow")
    if shadow:
        lines.append(f"shadow {shadow['variant']}: v{shadow['version']} sees {shadow['share']:.0%} of requests; "
                     f"{shadow['answered']} answered, {shadow['failed']} failed, {shadow['skipped']} skipped (busy)")
    rollout = state.get("rollout")
    if rollout:
        reason = f": {rollout['reason']}" if rollout.get("reason") else ""
        lines.append(f"rollout v{rollout['from']} -> v{rollout['to']} ({rollout['rollout']}): {rollout['state']}, "
                     f"step {rollout['step']} of {rollout['steps']} ({rollout['share']:.0%}){reason}")
    if state.get("layout_error"):
        lines.append(f"last split/shadow request not applied: {state['layout_error']}")
    return lines


def _request_layout(args: argparse.Namespace, split=False, shadow=False) -> int:
    """Write the request, then wait (briefly) for the running endpoint to apply it, and say what happened."""
    from scones.serving.layout import layout_file, write_request
    from scones.serving.run import endpoint_folder, read_state
    from scones.settings import Settings

    settings = Settings.from_env()
    path = layout_file(endpoint_folder(settings, args.name))
    request_id = write_request(path, split, shadow)
    state = read_state(settings, args.name)
    if not state or state.get("status") != "InService":
        print(f"asked for in {path}: applied when endpoint {args.name} starts (scones endpoint serve)")
        return 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = _live_state(state["url"])
        if live is None:
            print(f"asked for in {path}: endpoint {args.name} is not answering; applied when it starts")
            return 0
        if live.get("layout_applied") == request_id:
            if live.get("layout_error"):
                print(f"endpoint {args.name} refused it: {live['layout_error']}", file=sys.stderr)
                return 1
            for line in layout_lines(live) or [f"v{live['live']['version']} serves all traffic"]:
                print(line)
            return 0
        time.sleep(0.2)
    print(f"endpoint {args.name} has not applied it yet (loading?): see scones endpoint status", file=sys.stderr)
    return 1


def _live_state(url: str) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/scones/status", timeout=2) as response:  # noqa: S310
            return json.loads(response.read())
    except OSError:
        return None


def _on_sagemaker(args: argparse.Namespace, split: dict | None = None, shadow: tuple | None | bool = False) -> int:
    """Serve a split or a shadow on a SageMaker endpoint: one new endpoint configuration, then UpdateEndpoint.

    The configuration replaces what serves: a shadow goes beside the live version alone; a split
    (or ``--off``) serves no shadow.
    """
    from scones.deploy.modes import Layout
    from scones.deploy.sagemaker import SageMakerEndpointBackend
    from scones.settings import Settings

    settings = Settings.from_env()
    backend = SageMakerEndpointBackend.for_endpoint(args.sagemaker, settings.registry(),
                                                    settings.aws_client("sagemaker"))
    live = backend.live_version()
    if live is None:
        print(f"SageMaker endpoint {args.sagemaker} serves no model package version", file=sys.stderr)
        return 1
    keep_shadow = None if shadow is False else (Layout.shadow_of(*shadow) if shadow else None)
    layout = Layout.split(split, keep_shadow) if split else Layout.single(live.version, keep_shadow)
    name = backend.apply_layout(layout)
    serving = ", ".join(f"{v.name} v{v.version} ({share:.0%})" for v, share in
                        zip(layout.production, layout.shares().values(), strict=True))
    print(f"SageMaker endpoint {args.sagemaker}: updating to {name}: {serving}"
          + (f"; {layout.shadow.name} shadows {layout.shadow.weight:.0%}" if layout.shadow else "")
          + " (UpdateEndpoint is asynchronous: aws sagemaker describe-endpoint shows when it is InService)")
    return 0


def _shadow(args: argparse.Namespace) -> int:
    from scones.deploy.modes import Layout
    from scones.settings import Settings

    if args.off == (args.version is not None):
        print("name the version to shadow (scones endpoint shadow 4), or --off", file=sys.stderr)
        return 2
    if args.sagemaker:
        return _on_sagemaker(args, shadow=None if args.off else (args.version, args.share))
    if args.off:
        return _request_layout(args, shadow=None)
    Layout.shadow_of(args.version, args.share)  # refuses a share outside (0, 1]
    settings = Settings.from_env()
    settings.registry().get_version(settings.model_group, args.version)  # refuses an unknown version by name
    settings.deploy_mode.check(Layout.single(0, Layout.shadow_of(args.version, args.share)))
    return _request_layout(args, shadow=(args.version, args.share))


def _split(args: argparse.Namespace) -> int:
    from scones.deploy.modes import Layout, parse_split
    from scones.settings import Settings

    if args.off == bool(args.weights):
        print("give VERSION=WEIGHT pairs (scones endpoint split 3=90 4=10), or --off", file=sys.stderr)
        return 2
    if args.sagemaker:
        return _on_sagemaker(args, split=None if args.off else parse_split(args.weights))
    if args.off:
        return _request_layout(args, split=None)
    weights = parse_split(args.weights)
    settings = Settings.from_env()
    settings.deploy_mode.check(Layout.split(weights))
    for version in weights:
        settings.registry().get_version(settings.model_group, version)
    return _request_layout(args, split=weights)


def _invoke(args: argparse.Namespace) -> int:
    from scones.serving.client import runtime_client
    from scones.serving.run import read_state
    from scones.settings import Settings

    url = args.url or (read_state(Settings.from_env(), args.name) or {}).get("url")
    if not url:
        print("no running local endpoint: start one with `scones endpoint serve`, or pass --url")
        return 1
    client = runtime_client(url, retries=2)  # as the AWS CLI: three attempts in botocore's standard mode
    from botocore.exceptions import ClientError, EndpointConnectionError

    failures = 0
    for path in args.images:
        kind = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
        try:
            response = client.invoke_endpoint(EndpointName=args.name, ContentType=kind, Body=path.read_bytes())
            print(f"{path}: {json.loads(response['Body'].read())} ({response.get('CustomAttributes', '')})")
        except ClientError as exc:
            failures += 1
            error = exc.response["Error"]
            if error.get("Code") == "ModelError":  # SageMaker's wrapper: what the model itself answered
                print(f"{path}: ModelError (the model answered {exc.response.get('OriginalStatusCode')}): "
                      f"{exc.response.get('OriginalMessage', error.get('Message'))}")
            else:
                print(f"{path}: {error.get('Code')}: {error.get('Message')}")
        except EndpointConnectionError as exc:
            from scones.errors import SconesError

            raise SconesError(f"endpoint {args.name} at {url} is not answering: start it with "
                              "`scones endpoint serve` (or pass --url)") from exc
    return 1 if failures else 0
