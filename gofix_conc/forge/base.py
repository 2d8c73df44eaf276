"""What the PR bot needs from a forge, and the HTTP client every adapter talks through.

One interface (:class:`Forge`) for GitHub, GitLab and Gitea/Forgejo, in the
manner of Renovate's platform layer: the pull-request lifecycle above it never
knows which forge it talks to. A merge request is a pull request here; its
``iid`` is the number.

The token goes in the Authorization header and nowhere else: every message an
exception carries passes through :meth:`Http.redact` first.
"""

from __future__ import annotations

import email.utils
import functools
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Protocol

import httpx

from gofix_conc import __version__

USER_AGENT = f"gofix-conc/{__version__}"


class ForgeError(Exception):
    """A forge call failed (after retries); the text never holds the token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class State(str, Enum):
    OPEN = "open"
    CLOSED = "closed"  # closed without merging: its fixes are declined
    MERGED = "merged"


@dataclass(frozen=True)
class PullRequest:
    number: int  # GitLab: the merge request's iid
    url: str  # the web page
    title: str  # without a draft prefix ("Draft: ", "WIP: ")
    body: str
    state: State
    head: str  # branch name
    base: str
    draft: bool = False
    # Known when the pull request was read on its own (Forge.get_pull): what a line comment is anchored to.
    head_sha: str = ""
    base_sha: str = ""  # GitLab's diff_refs.base_sha (the merge base); elsewhere the base branch's head
    start_sha: str = ""  # GitLab's diff_refs.start_sha (the target branch's head when the diff was made)


@dataclass(frozen=True)
class Comment:
    """A conversation comment (GitLab: a note) on a pull request, which the bot may edit later."""

    id: int
    body: str


@dataclass(frozen=True)
class Suggestion:
    """A suggested change on a pull request's head: lines ``start``..``end`` (1-based, inclusive) become ``code``.

    ``anchor`` is a line of that range the pull request adds, where the comment is attached;
    ``before`` and ``after`` are markdown around the suggestion block.
    """

    path: str
    start: int
    end: int
    anchor: int
    code: str
    before: str
    after: str


@dataclass(frozen=True)
class Repository:
    """A repository of an organisation (GitLab: a project of a group, subgroups included), as the API lists it."""

    full_name: str  # owner/name, group/subgroup/name
    clone_url: str
    archived: bool = False
    fork: bool = False


def fence(code: str) -> str:
    """Backticks enough to fence ``code`` (longer than any run of backticks in it)."""
    return "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", code))])


def suggestion_body(suggestion: Suggestion, info: str) -> str:
    """The comment's text: ``before``, a fenced block whose info string is ``info`` (``suggestion``...), ``after``."""
    code = suggestion.code if suggestion.code.endswith("\n") or not suggestion.code else suggestion.code + "\n"
    marks = fence(code)
    return f"{suggestion.before}\n\n{marks}{info}\n{code}{marks}\n\n{suggestion.after}".strip() + "\n"


class Forge(Protocol):
    """The calls the lifecycle makes; one adapter per forge implements them over REST."""

    kind: str  # "github", "gitlab" or "gitea"
    repo: str  # owner/name, or group/subgroup/name on GitLab

    def default_branch(self) -> str: ...

    def find_pulls(self, branch: str) -> list[PullRequest]:
        """Every pull request whose head is ``branch`` in this repository, newest first, any state."""
        ...

    def create_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest: ...

    def update_pull(self, pull: PullRequest, *, title: str, body: str) -> PullRequest: ...

    def close_pull(self, pull: PullRequest) -> None: ...

    def comments(self, pull: PullRequest) -> list[str]: ...

    def get_pull(self, number: int) -> PullRequest:
        """One pull request, with ``head_sha`` (and GitLab's diff refs) filled in."""
        ...

    def issue_comments(self, pull: PullRequest) -> list[Comment]: ...

    def edit_comment(self, pull: PullRequest, comment: Comment, body: str) -> None: ...

    def line_comments(self, pull: PullRequest) -> list[str]:
        """The bodies of the comments on lines of the diff (review comments; GitLab: diff discussion notes)."""
        ...

    def suggest(self, pull: PullRequest, suggestions: list[Suggestion]) -> None:
        """Post each suggestion as a comment on its lines of ``pull.head_sha``."""
        ...

    def comment(self, pull: PullRequest, body: str) -> None: ...

    def add_labels(self, pull: PullRequest, labels: list[str]) -> None: ...

    def request_reviewers(self, pull: PullRequest, users: list[str]) -> None: ...

    def add_assignees(self, pull: PullRequest, users: list[str]) -> None: ...

    def blob_url(self, ref: str, path: str, line: int) -> str: ...

    def git_authorization(self) -> str:
        """The Authorization header value for git over https to this forge."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on 429, 5xx, secondary rate limits and network errors, bounded in count and in time slept."""

    attempts: int = 5
    max_wait: float = 120.0  # seconds slept in total for one call
    backoff: float = 1.0  # first delay without a Retry-After; doubles each time


class Http:
    """An httpx client with the forge's auth header, bounded retries, pagination and redacted errors."""

    def __init__(
        self,
        kind: str,
        base_url: str,
        token: str,
        authorization: str,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kind = kind
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.client = httpx.Client(
            base_url=self.base_url + "/",
            headers={"Authorization": authorization, "User-Agent": USER_AGENT, **(headers or {})},
            timeout=httpx.Timeout(30.0),
            follow_redirects=True,  # httpx drops Authorization when a redirect leaves the host
            verify=_ssl_context(),
        )

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        slept = 0.0
        where = f"{self.kind} API {method} {self.redact(path.split('?')[0])}"
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = self.client.request(
                    method, path.lstrip("/") if "://" not in path else path, params=params, json=json
                )
            except httpx.TransportError as err:
                delay = self.retry.backoff * 2 ** (attempt - 1)
                if attempt == self.retry.attempts or slept + delay > self.retry.max_wait:
                    raise ForgeError(self.redact(f"{where}: {type(err).__name__}: {err}")) from None
                self._sleep(delay)
                slept += delay
                continue
            delay = self._retry_delay(response, attempt)
            if delay is None:
                if response.status_code >= 400:
                    raise ForgeError(self.redact(f"{where}: {_describe(response)}"), response.status_code)
                return response
            if attempt == self.retry.attempts or slept + delay > self.retry.max_wait:
                raise ForgeError(
                    self.redact(
                        f"{where}: {_describe(response)} (gave up after {attempt} attempts, {slept:.0f}s waited)"
                    ),
                    response.status_code,
                )
            self._sleep(delay)
            slept += delay
        raise AssertionError("unreachable")

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None when the answer is final."""
        status = response.status_code
        headers = response.headers
        limited = status == 403 and (
            "retry-after" in headers
            or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in response.text.lower()
        )
        if not (status == 429 or status >= 500 or limited):
            return None
        if "retry-after" in headers:
            return _seconds(headers["retry-after"])
        reset = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
        if reset and reset.isdigit():
            return max(0.0, int(reset) - time.time()) + 1
        return self.retry.backoff * 2 ** (attempt - 1)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Items of a list endpoint across pages: a Link rel="next" (GitHub, Gitea) or X-Next-Page (GitLab)."""
        url: str | None = path
        query: dict[str, Any] | None = params
        for _ in range(1000):
            assert url is not None
            response = self.request("GET", url, params=query)
            yield from response.json()
            following = response.links.get("next", {}).get("url")
            if following:
                url, query = following, None
                continue
            next_page = response.headers.get("x-next-page", "").strip()
            if next_page:
                url, query = path, {**params, "page": next_page}
                continue
            return


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying context per process: loading the CA bundle costs more than a whole API call."""
    return httpx.create_ssl_context()


def _seconds(value: str) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())


def _describe(response: httpx.Response) -> str:
    detail = ""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        detail = str(data.get("message") or data.get("error") or "")
        errors = data.get("errors")
        if errors:
            detail += f" {errors}"
    elif response.text:
        detail = response.text.strip()[:200]
    hint = {
        401: "the token was refused (check GOFIX_CONC_TOKEN)",
        403: "the token may lack permission",
        404: "not found (check --repo and --api-url; a private repository also answers 404 to a bad token)",
    }.get(response.status_code, "")
    return " ".join(p for p in (f"{response.status_code} {response.reason_phrase}", detail, hint and f"({hint})") if p)


class RepoIssueComments:
    """What GitHub's v3 API and Gitea's v1 share: a repository's default branch,
    closing a pull request, and its conversation comments (Gitea copied the
    endpoints; only the page-size parameter differs, ``_page``)."""

    http: Http
    _path: str
    _page: ClassVar[dict[str, Any]]

    def default_branch(self) -> str:
        return self.http.json("GET", self._path)["default_branch"]

    def close_pull(self, pull: PullRequest) -> None:
        self.http.request("PATCH", f"{self._path}/pulls/{pull.number}", json={"state": "closed"})

    def issue_comments(self, pull: PullRequest) -> list[Comment]:
        items = self.http.pages(f"{self._path}/issues/{pull.number}/comments", dict(self._page))
        return [Comment(c["id"], c.get("body") or "") for c in items]

    def comments(self, pull: PullRequest) -> list[str]:
        return [c.body for c in self.issue_comments(pull)]

    def comment(self, pull: PullRequest, body: str) -> None:
        self.http.request("POST", f"{self._path}/issues/{pull.number}/comments", json={"body": body})

    def edit_comment(self, pull: PullRequest, comment: Comment, body: str) -> None:
        self.http.request("PATCH", f"{self._path}/issues/comments/{comment.id}", json={"body": body})
