"""``scones endpoint serve|status|invoke``: the local endpoint on SageMaker's serving contract."""

from __future__ import annotations

import argparse
import json
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
"""


def register(subparsers) -> None:
    from scones.serving.run import DEFAULT_ENDPOINT

    group = add_group(subparsers, "endpoint", "local endpoint: serve, status, invoke")
    serve = group.add_parser("serve", help="run the local endpoint (foreground)", epilog=EPILOG,
                             description="Serve the model over HTTP on SageMaker's container contract "
                                         "and Runtime API path, with data capture.",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--name", default=DEFAULT_ENDPOINT)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    serve.add_argument("--no-capture", action="store_true", help="turn data capture off")
    serve.set_defaults(handler=_serve)

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
        return serve(Settings.from_env(), args.name, args.host, args.port, args.threads, not args.no_capture)
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
          f"request: {state.get('capture')})")
    for item in state.get("history", []):
        print(f"  deployed v{item['version']} at {item['since']}")
    return 0 if state["status"] == "InService" else 1


def _invoke(args: argparse.Namespace) -> int:
    from scones.serving.client import runtime_client
    from scones.serving.run import read_state
    from scones.settings import Settings

    url = args.url or (read_state(Settings.from_env(), args.name) or {}).get("url")
    if not url:
        print("no running local endpoint: start one with `scones endpoint serve`, or pass --url")
        return 1
    client = runtime_client(url)
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
