"""GitHub REST v3 (github.com and Enterprise Server, whose API lives at https://HOST/api/v3)."""

from __future__ import annotations

import base64
from typing import Any, ClassVar
from urllib.parse import quote

from gofix_conc.forge.base import (
    ForgeError,
    Http,
    PullRequest,
    RepoIssueComments,
    Repository,
    RetryPolicy,
    State,
    Suggestion,
    suggestion_body,
)


class GitHub(RepoIssueComments):
    kind = "github"

    _page: ClassVar[dict[str, Any]] = {"per_page": 100}

    def __init__(self, api_url: str, repo: str, web_url: str, token: str, retry: RetryPolicy | None = None) -> None:
        self.repo = repo
        self.owner = repo.split("/", 1)[0]
        self.web_url = web_url.rstrip("/")
        self._token = token
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        self.http = Http(self.kind, api_url, token, f"Bearer {token}", headers, retry)
        self._path = f"repos/{quote(repo, safe='/')}"

    def find_pulls(self, branch: str) -> list[PullRequest]:
        params = {
            "state": "all",
            "head": f"{self.owner}:{branch}",
            "per_page": 100,
            "sort": "created",
            "direction": "desc",
        }
        found = [_pull(p) for p in self.http.pages(f"{self._path}/pulls", params)]
        return sorted((p for p in found if p.head == branch), key=lambda p: -p.number)

    def create_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        data = {"head": head, "base": base, "title": title, "body": body, "draft": draft}
        return _pull(self.http.json("POST", f"{self._path}/pulls", json=data))

    def update_pull(self, pull: PullRequest, *, title: str, body: str) -> PullRequest:
        return _pull(self.http.json("PATCH", f"{self._path}/pulls/{pull.number}", json={"title": title, "body": body}))

    def get_pull(self, number: int) -> PullRequest:
        return _pull(self.http.json("GET", f"{self._path}/pulls/{number}"))

    def line_comments(self, pull: PullRequest) -> list[str]:
        items = self.http.pages(f"{self._path}/pulls/{pull.number}/comments", {"per_page": 100})
        return [c.get("body") or "" for c in items]

    def suggest(self, pull: PullRequest, suggestions: list[Suggestion]) -> None:
        # One review holding every comment: one notification, one call (the single-comment endpoint
        # meets the secondary rate limit sooner).
        comments = []
        for s in suggestions:
            comment = {"path": s.path, "body": suggestion_body(s, "suggestion"), "line": s.end, "side": "RIGHT"}
            if s.start < s.end:
                comment.update(start_line=s.start, start_side="RIGHT")
            comments.append(comment)
        n = len(comments)
        data = {
            "commit_id": pull.head_sha,
            "event": "COMMENT",
            "body": f"gofix-conc suggests {n} change{'s' * (n != 1)} on lines this pull request changes.",
            "comments": comments,
        }
        self.http.request("POST", f"{self._path}/pulls/{pull.number}/reviews", json=data)

    def add_labels(self, pull: PullRequest, labels: list[str]) -> None:
        self.http.request("POST", f"{self._path}/issues/{pull.number}/labels", json={"labels": labels})

    def request_reviewers(self, pull: PullRequest, users: list[str]) -> None:
        self.http.request("POST", f"{self._path}/pulls/{pull.number}/requested_reviewers", json={"reviewers": users})

    def add_assignees(self, pull: PullRequest, users: list[str]) -> None:
        self.http.request("POST", f"{self._path}/issues/{pull.number}/assignees", json={"assignees": users})

    def blob_url(self, ref: str, path: str, line: int) -> str:
        return f"{self.web_url}/{self.repo}/blob/{quote(ref)}/{quote(path)}#L{line}"

    def git_authorization(self) -> str:
        return "Basic " + base64.b64encode(f"x-access-token:{self._token}".encode()).decode()


def org_repositories(http: Http, org: str) -> list[Repository]:
    """The repositories of an organisation, or of a user when ``org`` is not one."""
    try:
        items = list(http.pages(f"orgs/{quote(org)}/repos", {"type": "all", "per_page": 100}))
    except ForgeError as err:
        if err.status != 404:
            raise
        items = list(http.pages(f"users/{quote(org)}/repos", {"type": "owner", "per_page": 100}))
    return [Repository(r["full_name"], r["clone_url"], bool(r.get("archived")), bool(r.get("fork"))) for r in items]


def _pull(data: dict[str, Any]) -> PullRequest:
    state = State.OPEN if data["state"] == "open" else State.MERGED if data.get("merged_at") else State.CLOSED
    return PullRequest(
        number=data["number"],
        url=data["html_url"],
        title=data["title"],
        body=data.get("body") or "",
        state=state,
        head=data["head"]["ref"],
        base=data["base"]["ref"],
        draft=bool(data.get("draft")),
        head_sha=data["head"].get("sha") or "",
        base_sha=data["base"].get("sha") or "",
    )
