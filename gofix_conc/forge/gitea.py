"""Gitea and Forgejo REST v1 (Codeberg included)."""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar
from urllib.parse import quote

from gofix_conc.forge.base import (
    Http,
    PullRequest,
    RepoIssueComments,
    Repository,
    RetryPolicy,
    State,
    Suggestion,
    suggestion_body,
)

_WIP = re.compile(r"^\s*(wip:|\[wip\])\s*", re.IGNORECASE)


class Gitea(RepoIssueComments):
    kind = "gitea"

    _page: ClassVar[dict[str, Any]] = {"limit": 50}

    def __init__(self, api_url: str, repo: str, web_url: str, token: str, retry: RetryPolicy | None = None) -> None:
        self.repo = repo
        self.web_url = web_url.rstrip("/")
        self._token = token
        self.http = Http(self.kind, api_url, token, f"token {token}", {"Accept": "application/json"}, retry)
        self._path = f"repos/{quote(repo, safe='/')}"

    def find_pulls(self, branch: str) -> list[PullRequest]:
        # The list endpoint cannot filter by head branch: read every page and filter here.
        found = [_pull(p) for p in self.http.pages(f"{self._path}/pulls", {"state": "all", "limit": 50})]
        return sorted((p for p in found if p.head == branch), key=lambda p: -p.number)

    def create_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        data = {"head": head, "base": base, "title": f"WIP: {title}" if draft else title, "body": body}
        return _pull(self.http.json("POST", f"{self._path}/pulls", json=data))

    def update_pull(self, pull: PullRequest, *, title: str, body: str) -> PullRequest:
        data = {"title": f"WIP: {title}" if pull.draft else title, "body": body}
        return _pull(self.http.json("PATCH", f"{self._path}/pulls/{pull.number}", json=data))

    def get_pull(self, number: int) -> PullRequest:
        return _pull(self.http.json("GET", f"{self._path}/pulls/{number}"))

    def line_comments(self, pull: PullRequest) -> list[str]:
        bodies = []
        for review in self.http.pages(f"{self._path}/pulls/{pull.number}/reviews", {"limit": 50}):
            if not review.get("comments_count", 1):
                continue
            comments = self.http.json("GET", f"{self._path}/pulls/{pull.number}/reviews/{review['id']}/comments")
            bodies += [c.get("body") or "" for c in comments or []]
        return bodies

    def suggest(self, pull: PullRequest, suggestions: list[Suggestion]) -> None:
        # Gitea has no suggestion syntax: the block is still labelled so, and renders as code.
        comments = [
            {"path": s.path, "new_position": s.anchor, "old_position": 0, "body": suggestion_body(s, "suggestion")}
            for s in suggestions
        ]
        n = len(comments)
        data = {
            "commit_id": pull.head_sha,
            "event": "COMMENT",
            "body": f"gofix-conc suggests {n} change{'s' * (n != 1)} on lines this pull request changes.",
            "comments": comments,
        }
        self.http.request("POST", f"{self._path}/pulls/{pull.number}/reviews", json=data)

    def add_labels(self, pull: PullRequest, labels: list[str]) -> None:
        # Older Gitea takes label ids only, and no forge of this family creates a missing label.
        known = {label["name"]: label["id"] for label in self.http.pages(f"{self._path}/labels", {"limit": 50})}
        for name in labels:
            if name not in known:
                created = self.http.json("POST", f"{self._path}/labels", json={"name": name, "color": "#ededed"})
                known[name] = created["id"]
        data = {"labels": [known[name] for name in labels]}
        self.http.request("POST", f"{self._path}/issues/{pull.number}/labels", json=data)

    def request_reviewers(self, pull: PullRequest, users: list[str]) -> None:
        self.http.request("POST", f"{self._path}/pulls/{pull.number}/requested_reviewers", json={"reviewers": users})

    def add_assignees(self, pull: PullRequest, users: list[str]) -> None:
        self.http.request("PATCH", f"{self._path}/issues/{pull.number}", json={"assignees": users})

    def blob_url(self, ref: str, path: str, line: int) -> str:
        return f"{self.web_url}/{self.repo}/src/branch/{quote(ref)}/{quote(path)}#L{line}"

    def git_authorization(self) -> str:
        return "Basic " + base64.b64encode(f"oauth2:{self._token}".encode()).decode()


def org_repositories(http: Http, org: str) -> list[Repository]:
    items = http.pages(f"orgs/{quote(org)}/repos", {"limit": 50})
    return [Repository(r["full_name"], r["clone_url"], bool(r.get("archived")), bool(r.get("fork"))) for r in items]


def _pull(data: dict[str, Any]) -> PullRequest:
    state = State.OPEN if data["state"] == "open" else State.MERGED if data.get("merged") else State.CLOSED
    title = data["title"]
    return PullRequest(
        number=data["number"],
        url=data["html_url"],
        title=_WIP.sub("", title, count=1),
        body=data.get("body") or "",
        state=state,
        head=data["head"]["ref"],
        base=data["base"]["ref"],
        draft=bool(_WIP.match(title) or data.get("draft")),
        head_sha=data["head"].get("sha") or "",
        base_sha=data.get("merge_base") or data["base"].get("sha") or "",
    )
