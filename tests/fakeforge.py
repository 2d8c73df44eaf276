"""A loopback forge for the PR bot's tests: GitHub v3, GitLab v4 or Gitea v1, with state.

A threaded http.server keeps pull requests (merge requests), comments, labels,
reviewers and assignees, and answers with each forge's documented JSON shapes:
GitHub ``pulls`` (``number``, ``html_url``, ``state`` open/closed, ``merged_at``,
``head.ref``, ``draft``), GitLab ``merge_requests`` (``iid``, ``web_url``,
``description``, ``state`` opened/closed/merged, ``source_branch``) and Gitea
``pulls`` (``number``, ``html_url``, ``merged``, ``head.ref``). Lists are paged
two items at a time (a ``Link: rel="next"`` header for GitHub and Gitea,
``X-Next-Page`` for GitLab). A request without the token in the Authorization
header gets a 401; a missing repository a 404; a second open pull request for
one branch a 422 (409 on GitLab). Faults can be queued: a 403 secondary rate
limit with ``Retry-After: 1``, a 500 that succeeds on retry.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

PAGE = 2
API_ROOT = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}


@dataclass
class Fault:
    method: str
    pattern: str
    status: int
    headers: dict[str, str]
    times: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pull:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "open"  # open, closed, merged
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


class FakeForge:
    def __init__(self, kind: str, repo: str, token: str, default_branch: str = "main") -> None:
        self.kind = kind
        self.repo = repo
        self.token = token
        self.default_branch = default_branch
        self.pulls: list[Pull] = []
        self.labels: dict[str, int] = {}
        self.users = {"alice": 7, "bob": 8}
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str]] = []  # method, path with query
        self.lock = threading.Lock()
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with forge.lock:
                    forge.calls.append((self.command, self.path))
                    status, payload, headers = forge.handle(
                        self.command, self.path, self.headers.get("Authorization", ""), raw
                    )
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    # -- the test's side -------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{API_ROOT[self.kind]}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def fail(self, method: str, pattern: str, status: int, times: int = 1, **headers: str) -> None:
        self.faults.append(Fault(method, pattern, status, headers, times))

    def open_pulls(self, head: str) -> list[Pull]:
        return [p for p in self.pulls if p.head == head and p.state == "open"]

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    def __enter__(self) -> FakeForge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the forge's side --------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        expected = f"token {self.token}" if self.kind == "gitea" else f"Bearer {self.token}"
        if authorization != expected:
            return 401, {"message": "Bad credentials"}, {}
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if not path.startswith(API_ROOT[self.kind]):
            return 404, {"message": "Not Found"}, {}
        path = path[len(API_ROOT[self.kind]) :]
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and re.search(fault.pattern, path):
                fault.times -= 1
                return fault.status, {"message": fault.body.get("message", "injected fault")}, fault.headers
        body = json.loads(raw) if raw else {}
        return getattr(self, f"_{self.kind}")(method, path, query, body)

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
        page = int(query.get("page", "1"))
        chunk = items[(page - 1) * PAGE : page * PAGE]
        headers: dict[str, str] = {}
        if page * PAGE < len(items):
            if self.kind == "gitlab":
                headers["X-Next-Page"] = str(page + 1)
            else:
                following = {**query, "page": str(page + 1)}
                link = "&".join(f"{k}={quote(v)}" for k, v in following.items())
                headers["Link"] = f'<{self.api_url}{path}?{link}>; rel="next"'
        elif self.kind == "gitlab":
            headers["X-Next-Page"] = ""
        return 200, chunk, headers

    def _find(self, number: str) -> Pull | None:
        return next((p for p in self.pulls if p.number == int(number)), None)

    def _new(self, head: str, base: str, title: str, body: str, draft: bool) -> Pull | None:
        if self.open_pulls(head):
            return None
        pull = Pull(len(self.pulls) + 1, head, base, title, body, draft=draft)
        self.pulls.append(pull)
        return pull

    # GitHub REST v3
    def _github(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Any:
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return 404, {"message": "Not Found"}, {}
        rest = path[len(prefix) :]
        if rest == "" and method == "GET":
            return 200, {"full_name": self.repo, "default_branch": self.default_branch}, {}
        if rest == "/pulls" and method == "GET":
            owner = self.repo.split("/")[0]
            pulls = [p for p in reversed(self.pulls) if "head" not in query or query["head"] == f"{owner}:{p.head}"]
            state = query.get("state", "open")
            pulls = [p for p in pulls if state == "all" or (p.state == "open") == (state == "open")]
            return self._page([self._github_pull(p) for p in pulls], query, path)
        if rest == "/pulls" and method == "POST":
            missing = [k for k in ("head", "base", "title") if not body.get(k)]
            if missing:
                return 422, {"message": "Validation Failed", "errors": [{"field": missing[0], "code": "missing"}]}, {}
            pull = self._new(body["head"], body["base"], body["title"], body.get("body", ""), body.get("draft", False))
            if pull is None:
                message = f"A pull request already exists for {self.repo.split('/')[0]}:{body['head']}."
                return 422, {"message": "Validation Failed", "errors": [{"message": message}]}, {}
            return 201, self._github_pull(pull), {}
        match = re.fullmatch(r"/(pulls|issues)/(\d+)(/\w+)?", rest)
        pull = self._find(match[2]) if match else None
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        kind, sub = match[1], match[3]
        if kind == "pulls" and sub is None and method == "PATCH":
            pull.title = body.get("title", pull.title)
            pull.body = body.get("body", pull.body)
            if body.get("state") == "closed":
                pull.state = "closed"
            return 200, self._github_pull(pull), {}
        if sub == "/comments" and method == "GET":
            return self._page([{"id": i, "body": c} for i, c in enumerate(pull.comments)], query, path)
        if sub == "/comments" and method == "POST":
            pull.comments.append(body["body"])
            return 201, {"id": len(pull.comments), "body": body["body"]}, {}
        if sub == "/labels" and method == "POST":
            pull.labels += body["labels"]
            return 200, [{"name": n} for n in pull.labels], {}
        if sub == "/requested_reviewers" and method == "POST":
            pull.reviewers += body["reviewers"]
            return 201, self._github_pull(pull), {}
        if sub == "/assignees" and method == "POST":
            pull.assignees += body["assignees"]
            return 201, {"number": pull.number}, {}
        return 404, {"message": "Not Found"}, {}

    def _github_pull(self, p: Pull) -> dict[str, Any]:
        return {
            "number": p.number,
            "html_url": f"{self.web_url}/{self.repo}/pull/{p.number}",
            "title": p.title,
            "body": p.body,
            "state": "open" if p.state == "open" else "closed",
            "merged_at": "2024-01-01T00:00:00Z" if p.state == "merged" else None,
            "draft": p.draft,
            "head": {"ref": p.head, "label": f"{self.repo.split('/')[0]}:{p.head}"},
            "base": {"ref": p.base},
        }

    # GitLab REST v4
    def _gitlab(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Any:
        if path == "/users" and method == "GET":
            name = query.get("username", "")
            return 200, ([{"id": self.users[name], "username": name}] if name in self.users else []), {}
        prefix = f"/projects/{quote(self.repo, safe='')}"
        if not path.startswith(prefix):
            return 404, {"message": "404 Project Not Found"}, {}
        rest = path[len(prefix) :]
        if rest == "" and method == "GET":
            return 200, {"path_with_namespace": self.repo, "default_branch": self.default_branch}, {}
        if rest == "/merge_requests" and method == "GET":
            pulls = [p for p in reversed(self.pulls) if query.get("source_branch") in (None, p.head)]
            state = {"opened": "open"}.get(query.get("state", "all"), query.get("state", "all"))
            pulls = [p for p in pulls if state == "all" or p.state == state]
            return self._page([self._gitlab_mr(p) for p in pulls], query, path)
        if rest == "/merge_requests" and method == "POST":
            title = body["title"]
            draft = title.startswith("Draft: ")
            pull = self._new(body["source_branch"], body["target_branch"], title, body.get("description", ""), draft)
            if pull is None:
                message = ["Another open merge request already exists for this source branch: !1"]
                return 409, {"message": message}, {}
            return 201, self._gitlab_mr(pull), {}
        match = re.fullmatch(r"/merge_requests/(\d+)(/notes)?", rest)
        pull = self._find(match[1]) if match else None
        if pull is None:
            return 404, {"message": "404 Not found"}, {}
        if match[2] and method == "GET":
            notes = [{"id": i, "body": c, "system": False} for i, c in enumerate(pull.comments)]
            return self._page([*notes, {"id": 99, "body": "added 1 commit", "system": True}], query, path)
        if match[2] and method == "POST":
            pull.comments.append(body["body"])
            return 201, {"id": len(pull.comments), "body": body["body"]}, {}
        if method == "PUT":
            if "title" in body:
                pull.title = body["title"]
            pull.body = body.get("description", pull.body)
            if body.get("state_event") == "close":
                pull.state = "closed"
            pull.labels += [x for x in body.get("add_labels", "").split(",") if x]
            names = {v: k for k, v in self.users.items()}
            pull.reviewers += [names[i] for i in body.get("reviewer_ids", [])]
            pull.assignees += [names[i] for i in body.get("assignee_ids", [])]
            return 200, self._gitlab_mr(pull), {}
        return 404, {"message": "404 Not found"}, {}

    def _gitlab_mr(self, p: Pull) -> dict[str, Any]:
        return {
            "id": 1000 + p.number,
            "iid": p.number,
            "web_url": f"{self.web_url}/{self.repo}/-/merge_requests/{p.number}",
            "title": p.title,
            "description": p.body,
            "state": {"open": "opened"}.get(p.state, p.state),
            "draft": p.title.startswith("Draft: "),
            "source_branch": p.head,
            "target_branch": p.base,
            "labels": p.labels,
        }

    # Gitea / Forgejo REST v1
    def _gitea(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Any:
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix):
            return 404, {"message": "The target couldn't be found."}, {}
        rest = path[len(prefix) :]
        if rest == "" and method == "GET":
            return 200, {"full_name": self.repo, "default_branch": self.default_branch}, {}
        if rest == "/pulls" and method == "GET":
            state = query.get("state", "open")
            pulls = [p for p in reversed(self.pulls) if state == "all" or (p.state == "open") == (state == "open")]
            return self._page([self._gitea_pull(p) for p in pulls], query, path)
        if rest == "/pulls" and method == "POST":
            title = body["title"]
            pull = self._new(body["head"], body["base"], title, body.get("body", ""), title.startswith("WIP: "))
            if pull is None:
                return 409, {"message": "pull request already exists for these targets"}, {}
            return 201, self._gitea_pull(pull), {}
        if rest == "/labels" and method == "GET":
            return self._page([{"id": i, "name": n} for n, i in self.labels.items()], query, path)
        if rest == "/labels" and method == "POST":
            self.labels[body["name"]] = len(self.labels) + 1
            return 201, {"id": self.labels[body["name"]], "name": body["name"]}, {}
        match = re.fullmatch(r"/(pulls|issues)/(\d+)(/\w+)?", rest)
        pull = self._find(match[2]) if match else None
        if pull is None:
            return 404, {"message": "The target couldn't be found."}, {}
        kind, sub = match[1], match[3]
        if sub is None and method == "PATCH":
            pull.title = body.get("title", pull.title)
            pull.body = body.get("body", pull.body)
            pull.assignees += body.get("assignees", [])
            if body.get("state") == "closed":
                pull.state = "closed"
            return 201, self._gitea_pull(pull), {}
        if sub == "/comments" and method == "GET":
            return self._page([{"id": i, "body": c} for i, c in enumerate(pull.comments)], query, path)
        if sub == "/comments" and method == "POST":
            pull.comments.append(body["body"])
            return 201, {"id": len(pull.comments), "body": body["body"]}, {}
        if sub == "/labels" and method == "POST":
            names = {i: n for n, i in self.labels.items()}
            if not all(isinstance(i, int) and i in names for i in body["labels"]):
                return 422, {"message": "label ids expected"}, {}
            pull.labels += [names[i] for i in body["labels"]]
            return 200, [{"id": i, "name": names[i]} for i in body["labels"]], {}
        if kind == "pulls" and sub == "/requested_reviewers" and method == "POST":
            pull.reviewers += body["reviewers"]
            return 201, [], {}
        return 404, {"message": "The target couldn't be found."}, {}

    def _gitea_pull(self, p: Pull) -> dict[str, Any]:
        return {
            "number": p.number,
            "html_url": f"{self.web_url}/{self.repo}/pulls/{p.number}",
            "title": p.title,
            "body": p.body,
            "state": "open" if p.state == "open" else "closed",
            "merged": p.state == "merged",
            "head": {"ref": p.head, "label": p.head},
            "base": {"ref": p.base, "label": p.base},
        }
