"""The review queue on Amazon Augmented AI: each item is a human loop of one flow definition.

``a2i://arn:aws:sagemaker:<region>:<account>:flow-definition/<name>``. Adding an item starts a
loop named by the item's id (so a retried workflow state gets ``ConflictException`` and starts
nothing twice); the flow's workers answer in A2I's worker portal, and A2I writes each finished
loop's ``output.json`` to the flow's S3 output, which the same reader as the local queue's turns
into ground truth (:mod:`scones.review.output`). moto has no A2I: the tests validate every
request against botocore's service model with a Stubber.
"""

from __future__ import annotations

import json

from scones.errors import InvalidInput, NotFound, SconesError, Unsupported
from scones.review import HumanAnswer, ReviewItem, ReviewQueue
from scones.review.output import input_content, parse_output


class A2IReviewQueue(ReviewQueue):
    def __init__(self, flow_arn: str, client, store=None):
        self.flow_arn, self.client, self.store = flow_arn, client, store

    @classmethod
    def from_uri(cls, uri: str, clients=None, store=None, **kwargs) -> A2IReviewQueue:
        flow = uri[len("a2i://"):]
        parts = flow.split(":")
        if len(parts) < 6 or parts[2] != "sagemaker" or not parts[5].startswith("flow-definition/"):
            raise InvalidInput(f"review queue {uri!r}: expected a2i://arn:aws:sagemaker:<region>:<account>:"
                               "flow-definition/<name>")
        if clients is None:
            import boto3

            client = boto3.client("sagemaker-a2i-runtime", region_name=parts[3])
        else:
            client = clients("sagemaker-a2i-runtime", region=parts[3])
        return cls(flow, client, store)

    def add(self, item: ReviewItem) -> ReviewItem:
        from botocore.exceptions import ClientError

        try:
            self.client.start_human_loop(HumanLoopName=item.id, FlowDefinitionArn=self.flow_arn,
                                         HumanLoopInput={"InputContent": json.dumps(input_content(item))})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":  # already started: a retry
                raise SconesError(f"A2I StartHumanLoop {item.id} failed: {exc}") from exc
        return item.stamped()

    def get(self, item_id: str) -> ReviewItem:
        from botocore.exceptions import ClientError

        try:
            loop = self.client.describe_human_loop(HumanLoopName=item_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise NotFound(f"no review item {item_id!r} (no human loop of that name)") from exc
            raise SconesError(f"A2I DescribeHumanLoop {item_id} failed: {exc}") from exc
        return self._item(item_id, loop.get("HumanLoopStatus", ""), (loop.get("HumanLoopOutput") or {}).get(
            "OutputS3Uri", ""), loop.get("CreationTime"))

    def items(self, status: str | None = None, limit: int | None = None) -> list[ReviewItem]:
        found: list[ReviewItem] = []
        kwargs = {"FlowDefinitionArn": self.flow_arn, "SortOrder": "Ascending", "MaxResults": 100}
        while True:
            page = self.client.list_human_loops(**kwargs)
            for summary in page.get("HumanLoopSummaries", []):
                item = self.get(summary["HumanLoopName"]) if summary.get("HumanLoopStatus") == "Completed" \
                    else self._item(summary["HumanLoopName"], summary.get("HumanLoopStatus", ""), "",
                                    summary.get("CreationTime"))
                if status is None or item.status == status:
                    found.append(item)
                    if limit is not None and len(found) >= limit:
                        return found
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    def _add_answer(self, item: ReviewItem, answer: HumanAnswer) -> ReviewItem:
        raise Unsupported("in A2I the flow's workers answer in its worker portal; `scones review answer` and the "
                          "Review page answer the local queue")

    def _item(self, item_id: str, loop_status: str, output_uri: str, created) -> ReviewItem:
        """A completed loop read back from its output; an open one is known by name and time only."""
        if loop_status == "Completed" and output_uri and self.store is not None:
            return parse_output(json.loads(self.store.get_bytes(output_uri)))
        when = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if hasattr(created, "strftime") else str(created or "")
        return ReviewItem(id=item_id, image="", classes=(), reason=f"A2I loop {loop_status}".strip(), created=when)

