"""The ``s3`` media backend: picture bytes in an S3-compatible bucket, served by the web app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from connector.config import S3MediaSettings
from connector.errors import AuthError, ConnectorError, RateLimitedError, TransientError
from connector.media.base import MediaUrls
from connector.media.urls import parse_media_name
from connector.retry import RetryPolicy, call_with_retries

T = TypeVar("T")
CACHE_CONTROL = "public, max-age=31536000, immutable"
_MISSING = {"404", "NoSuchKey", "NotFound"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "429"}


def build_s3_client(settings: S3MediaSettings) -> Any:
    """A boto3 S3 client with explicit timeouts; retries are ours (``connector.retry``)."""
    key_id = settings.access_key_id.get_secret_value() if settings.access_key_id else None
    secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": settings.addressing_style},
        user_agent_extra="connector-media/1",
    )
    # A session per client: boto3's default session is shared module state, not thread-safe.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url or None,
        region_name=settings.region or None,
        aws_access_key_id=key_id or None,
        aws_secret_access_key=secret or None,
        config=config,
    )


def translate_s3_error(exc: Exception, what: str) -> ConnectorError:
    """A botocore error as the connector's error tree (retryable, auth, or plain)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"{what}: S3 answered {status} {code}".rstrip()
        if code in _THROTTLED or status in (429, 503):
            return RateLimitedError(message)
        if status >= 500:
            return TransientError(message)
        if status in (401, 403):
            return AuthError(message, hint="check media.s3 credentials and the bucket policy")
        if code == "NoSuchBucket":
            return ConnectorError(message, hint="create the bucket or fix media.s3.bucket")
        return ConnectorError(message)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AuthError(
            f"{what}: no S3 credentials",
            hint="set media.s3.access_key_id and secret_access_key (or AWS_* variables)",
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return TransientError(f"{what}: S3 unreachable ({exc.__class__.__name__})")
    return ConnectorError(f"{what}: {exc.__class__.__name__}")


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code", "")) in _MISSING or status == 404


class S3MediaBackend(MediaUrls):
    """Objects ``<prefix><hash>.<ext>`` in one bucket; the web app serves them at ``/media/``.

    The bucket can stay private: the URLs written into records are the connector's own, and
    the web process reads the object and answers with the recorded type and caching headers.
    Point ``media.public_base_url`` at a CDN in front of the bucket to bypass the web app.
    """

    def __init__(
        self,
        client: Any,
        settings: S3MediaSettings,
        public_base_url: str | None,
    ) -> None:
        super().__init__(public_base_url)
        if not settings.bucket:
            raise ValueError("media.s3.bucket is not set")
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self._client = client
        self._policy = RetryPolicy(
            attempts=settings.max_attempts, wait_initial=0.5, wait_max=10.0, timeout=60.0
        )

    def key_for(self, content_hash: str, ext: str) -> str:
        """The object key of a picture (the name is validated, so no key tricks)."""
        parse_media_name(f"{content_hash}.{ext}")
        return f"{self.prefix}{content_hash}.{ext}"

    def _call(self, what: str, func: Callable[[], T], *, retry: bool = True) -> T:
        def attempt() -> T:
            try:
                return func()
            except (ClientError, BotoCoreError) as exc:
                raise translate_s3_error(exc, what) from exc

        if not retry:
            return attempt()
        return call_with_retries(attempt, policy=self._policy, what=what)

    def put(self, content_hash: str, ext: str, data: bytes, content_type: str) -> str:
        """Upload unless the object exists; same key, same bytes, so a race is harmless."""
        url = self.url_for(content_hash, ext)
        if self.exists(content_hash, ext):
            return url
        key = self.key_for(content_hash, ext)
        self._call(
            f"upload of {key}",
            lambda: self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=CACHE_CONTROL,
            ),
        )
        return url

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the object is in the bucket (a HEAD request)."""
        key = self.key_for(content_hash, ext)

        def head() -> bool:
            try:
                self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):
                    return False
                raise
            return True

        return self._call(f"look-up of {key}", head)

    def delete(self, content_hash: str, ext: str) -> bool:
        """Delete the object; False when it was not there."""
        if not self.exists(content_hash, ext):
            return False
        key = self.key_for(content_hash, ext)
        self._call(
            f"deletion of {key}", lambda: self._client.delete_object(Bucket=self.bucket, Key=key)
        )
        return True

    def fetch(self, content_hash: str, ext: str) -> bytes | None:
        """The object's bytes, or None when it is not in the bucket."""
        key = self.key_for(content_hash, ext)

        def get() -> bytes | None:
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return self._call(f"download of {key}", get)

    def check(self) -> None:
        """The bucket answers a HEAD request with these credentials (once: probes are repeated)."""
        self._call(
            f"bucket {self.bucket}",
            lambda: self._client.head_bucket(Bucket=self.bucket),
            retry=False,
        )
