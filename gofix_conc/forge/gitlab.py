"""GitLab REST v4: merge requests of a project named by its full path (nested groups URL-encoded)."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

from gofix_conc.forge.base import (
    Comment,
    ForgeError,
    Http,
    PullRequest,
    Repository,
    RetryPolicy,
    State,
    Suggestion,
    suggestion_body,
)

_DRAFT = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:|draft\s-|wip:)\s*", re.IGNORECASE)


class GitLab:
    kind = "gitlab"

    def __init__(self, api_url: str, repo: str, web_url: str, token: str, retry: RetryPolicy | None = None) -> None:
        self.repo = repo
        self.web_url = web_url.rstrip("/")
        self._token = token
        self.http = Http(self.kind, api_url, token, f"Bearer {token}", None, retry)
        self._path = f"projects/{quote(repo, safe='')}"

    def default_branch(self) -> str:
        return self.http.json("GET", self._path)["default_branch"]

    def find_pulls(self, branch: str) -> list[PullRequest]:
        params = {"state": "all", "source_branch": branch, "per_page": 100, "order_by": "created_at", "sort": "desc"}
        found = [_pull(m) for m in self.http.pages(f"{self._path}/merge_requests", params)]
        return sorted((p for p in found if p.head == branch), key=lambda p: -p.number)

    def create_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        data = {
            "source_branch": head,
            "target_branch": base,
            "title": f"Draft: {title}" if draft else title,
            "description": body,
        }
        return _pull(self.http.json("POST", f"{self._path}/merge_requests", json=data))

    def update_pull(self, pull: PullRequest, *, title: str, body: str) -> PullRequest:
        data = {"title": f"Draft: {title}" if pull.draft else title, "description": body}
        return _pull(self.http.json("PUT", f"{self._path}/merge_requests/{pull.number}", json=data))

    def close_pull(self, pull: PullRequest) -> None:
        self.http.request("PUT", f"{self._path}/merge_requests/{pull.number}", json={"state_event": "close"})

    def comments(self, pull: PullRequest) -> list[str]:
        notes = self.http.pages(f"{self._path}/merge_requests/{pull.number}/notes", {"per_page": 100})
        return [n.get("body") or "" for n in notes if not n.get("system")]

    def comment(self, pull: PullRequest, body: str) -> None:
        self.http.request("POST", f"{self._path}/merge_requests/{pull.number}/notes", json={"body": body})

    def get_pull(self, number: int) -> PullRequest:
        return _pull(self.http.json("GET", f"{self._path}/merge_requests/{number}"))

    def issue_comments(self, pull: PullRequest) -> list[Comment]:
        notes = self.http.pages(f"{self._path}/merge_requests/{pull.number}/notes", {"per_page": 100})
        return [Comment(n["id"], n.get("body") or "") for n in notes if not n.get("system")]

    def edit_comment(self, pull: PullRequest, comment: Comment, body: str) -> None:
        path = f"{self._path}/merge_requests/{pull.number}/notes/{comment.id}"
        self.http.request("PUT", path, json={"body": body})

    def line_comments(self, pull: PullRequest) -> list[str]:
        discussions = self.http.pages(f"{self._path}/merge_requests/{pull.number}/discussions", {"per_page": 100})
        return [n.get("body") or "" for d in discussions for n in d.get("notes", []) if n.get("position")]

    def suggest(self, pull: PullRequest, suggestions: list[Suggestion]) -> None:
        for s in suggestions:
            # The thread sits on the added line ``anchor``; the suggestion reaches the lines above and below it.
            body = suggestion_body(s, f"suggestion:-{s.anchor - s.start}+{s.end - s.anchor}")
            position = {
                "position_type": "text",
                "base_sha": pull.base_sha,
                "start_sha": pull.start_sha,
                "head_sha": pull.head_sha,
                "old_path": s.path,
                "new_path": s.path,
                "new_line": s.anchor,
            }
            path = f"{self._path}/merge_requests/{pull.number}/discussions"
            self.http.request("POST", path, json={"body": body, "position": position})

    def add_labels(self, pull: PullRequest, labels: list[str]) -> None:
        data = {"add_labels": ",".join(labels)}
        self.http.request("PUT", f"{self._path}/merge_requests/{pull.number}", json=data)

    def request_reviewers(self, pull: PullRequest, users: list[str]) -> None:
        data = {"reviewer_ids": self._user_ids(users)}
        self.http.request("PUT", f"{self._path}/merge_requests/{pull.number}", json=data)

    def add_assignees(self, pull: PullRequest, users: list[str]) -> None:
        data = {"assignee_ids": self._user_ids(users)}
        self.http.request("PUT", f"{self._path}/merge_requests/{pull.number}", json=data)

    def _user_ids(self, users: list[str]) -> list[int]:
        ids = []
        for name in users:
            found = self.http.json("GET", "users", params={"username": name})
            if not found:
                raise ForgeError(f"gitlab: no user named {name!r}")
            ids.append(found[0]["id"])
        return ids

    def blob_url(self, ref: str, path: str, line: int) -> str:
        return f"{self.web_url}/{self.repo}/-/blob/{quote(ref)}/{quote(path)}#L{line}"

    def git_authorization(self) -> str:
        return "Basic " + base64.b64encode(f"oauth2:{self._token}".encode()).decode()


def org_repositories(http: Http, group: str) -> list[Repository]:
    """The projects of a group and of its subgroups."""
    params = {"include_subgroups": "true", "per_page": 100, "order_by": "path", "sort": "asc"}
    items = http.pages(f"groups/{quote(group, safe='')}/projects", params)
    return [
        Repository(p["path_with_namespace"], p["http_url_to_repo"], bool(p.get("archived")), "forked_from_project" in p)
        for p in items
    ]


def _pull(data: dict[str, Any]) -> PullRequest:
    state = {"opened": State.OPEN, "merged": State.MERGED}.get(data["state"], State.CLOSED)  # closed, locked
    title = data["title"]
    draft = bool(data.get("draft") or data.get("work_in_progress") or _DRAFT.match(title))
    refs = data.get("diff_refs") or {}
    return PullRequest(
        number=data["iid"],
        url=data["web_url"],
        title=_DRAFT.sub("", title, count=1),
        body=data.get("description") or "",
        state=state,
        head=data["source_branch"],
        base=data["target_branch"],
        draft=draft,
        head_sha=refs.get("head_sha") or data.get("sha") or "",
        base_sha=refs.get("base_sha") or "",
        start_sha=refs.get("start_sha") or "",
    )
