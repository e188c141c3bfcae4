"""An SQS queue fed by EventBridge rules (Secrets Manager via CloudTrail, Parameter Store changes, S3)
or by S3 event notifications: long-polled, each message turned into the names that changed, and
deleted only after the caller has acted on it. Blocking boto3 calls, run in worker threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stashsync import errors
from stashsync.aws.clients import AwsClients, translate_errors

WAIT_SECONDS = 20  # SQS's longest long poll: one call per 20 s on an idle queue


@dataclass(frozen=True)
class Message:
    body: str
    receipt: str
    sent_at: float | None  # epoch seconds SQS received it


class QueueReader:
    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self.clients = clients
        self.queue_url = queue_url

    @property
    def _sqs(self) -> Any:
        return self.clients.client("sqs")

    def open(self) -> None:
        with translate_errors(f"queue {self.queue_url}", not_found=errors.StoreNotReady):
            self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])

    def receive(self, wait_seconds: int = WAIT_SECONDS) -> list[Message]:
        with translate_errors(f"ReceiveMessage from {self.queue_url}", not_found=errors.StoreNotReady):
            answer = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                               WaitTimeSeconds=wait_seconds, AttributeNames=["SentTimestamp"])
        messages = []
        for raw in answer.get("Messages") or []:
            sent = (raw.get("Attributes") or {}).get("SentTimestamp")
            messages.append(Message(str(raw.get("Body", "")), str(raw["ReceiptHandle"]),
                                    int(sent) / 1000 if sent and str(sent).isdigit() else None))
        return messages

    def delete(self, messages: list[Message]) -> None:
        if not messages:
            return
        entries = [{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(messages)]
        with translate_errors(f"DeleteMessageBatch on {self.queue_url}", not_found=errors.StoreNotReady):
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
