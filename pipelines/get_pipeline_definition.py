"""``get-pipeline-definition``: AWS seed-code compatible; prints (or writes) the definition JSON."""

from __future__ import annotations

import argparse
import json
import sys

from pipelines._utils import add_driver_arguments, convert_struct


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Gets the pipeline definition for the pipeline script.")
    add_driver_arguments(parser)
    parser.add_argument("-f", "--file-name", dest="file_name", default=None,
                        help="the file to output the pipeline definition json to")
    args = parser.parse_args(argv)
    from pipelines.sdk import prepare_offline

    prepare_offline()
    from pipelines._utils import get_pipeline_driver

    try:
        pipeline = get_pipeline_driver(args.module_name, convert_struct(args.kwargs))
        text = json.dumps(json.loads(pipeline.definition()), indent=2, sort_keys=True)
    except (ValueError, TypeError) as exc:  # bad --kwargs: say so; anything else keeps its traceback
        print(f"get-pipeline-definition: {exc}", file=sys.stderr)
        return 2
    if args.file_name:
        with open(args.file_name, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
