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

Review state, when ``git_dir`` names the bare repository behind the forge:
a pull request read on its own carries its head commit (GitHub and Gitea
``head.sha``, GitLab ``sha`` and ``diff_refs`` {base_sha, start_sha,
head_sha}); GitHub review comments (``pulls/N/comments`` and ``pulls/N/reviews``
with ``comments: [{path, body, line, side, start_line}]``), GitLab diff
discussions (``merge_requests/N/discussions`` with ``position`` {position_type,
base_sha, start_sha, head_sha, new_path, new_line}) and Gitea reviews
(``pulls/N/reviews`` with ``comments: [{path, body, new_position}]``) are
kept, and refused as the forges refuse them (422 on GitHub and Gitea, 400 on
GitLab) when their commit is not the head or their line is not in the diff.
Conversation comments can be edited (``issues/comments/ID``, GitLab
``merge_requests/N/notes/ID``).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

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
    review_comments: list[dict[str, Any]] = field(default_factory=list)  # GitHub and Gitea, each with its review id
    reviews: list[dict[str, Any]] = field(default_factory=list)  # GitHub and Gitea
    discussions: list[dict[str, Any]] = field(default_factory=list)  # GitLab

    def comment_id(self, index: int) -> int:
        return self.number * 1000 + index


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
        self.git_dir: Path | None = None  # the repository behind the forge: head commits and diffs
        self.org_repos: list[dict[str, Any]] = []  # what the organisation listings answer: add_org_repo
        self.others: list[FakeForge] = []  # more repositories served through this one's address: serve()
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

    def add_org_repo(self, full_name: str, clone_url: str, *, archived: bool = False, fork: bool = False) -> None:
        self.org_repos.append({"full_name": full_name, "clone_url": clone_url, "archived": archived, "fork": fork})

    def serve(self, other: FakeForge) -> None:
        """Answer for ``other``'s repository too (its state stays its own), as one forge serves many."""
        self.others.append(other)

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
        for other in self.others:
            prefix = f"/projects/{quote(other.repo, safe='')}" if self.kind == "gitlab" else f"/repos/{other.repo}"
            if path == prefix or path.startswith(prefix + "/"):
                return other.handle(method, target, authorization, raw)
        if method == "GET" and re.fullmatch(r"/(orgs/[^/]+/repos|groups/[^/]+/projects)", path):
            return self._org_listing(path, query)
        return getattr(self, f"_{self.kind}")(method, path, query, body)

    def _org_listing(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """GitHub and Gitea ``orgs/ORG/repos``, GitLab ``groups/ID/projects`` (``include_subgroups``)."""
        group = unquote(path.split("/")[2])
        deep = self.kind == "gitlab" and query.get("include_subgroups") == "true"
        found = [
            r
            for r in self.org_repos
            if r["full_name"].rsplit("/", 1)[0] == group or (deep and r["full_name"].startswith(group + "/"))
        ]
        if not found and not any(r["full_name"].startswith(group + "/") for r in self.org_repos):
            return 404, {"message": "Not Found"}, {}
        shaped = []
        for i, r in enumerate(found):
            name = r["full_name"].rsplit("/", 1)[1]
            if self.kind == "gitlab":
                item: dict[str, Any] = {
                    "id": 100 + i,
                    "path": name,
                    "path_with_namespace": r["full_name"],
                    "http_url_to_repo": r["clone_url"],
                    "ssh_url_to_repo": f"git@example.invalid:{r['full_name']}.git",
                    "web_url": f"{self.web_url}/{r['full_name']}",
                    "archived": r["archived"],
                    "default_branch": self.default_branch,
                }
                if r["fork"]:
                    item["forked_from_project"] = {"id": 1, "path_with_namespace": f"upstream/{name}"}
            else:
                item = {
                    "id": 100 + i,
                    "name": name,
                    "full_name": r["full_name"],
                    "clone_url": r["clone_url"],
                    "ssh_url": f"git@example.invalid:{r['full_name']}.git",
                    "html_url": f"{self.web_url}/{r['full_name']}",
                    "archived": r["archived"],
                    "fork": r["fork"],
                    "default_branch": self.default_branch,
                }
            shaped.append(item)
        return self._page(shaped, query, path)

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

    def _git(self, *args: str) -> str:
        assert self.git_dir is not None
        done = subprocess.run(["git", *args], cwd=self.git_dir, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    def shas(self, p: Pull) -> dict[str, str]:
        """head_sha, base_sha (the merge base) and start_sha (the base branch's head), as GitLab's diff_refs."""
        if self.git_dir is None:
            return {"head_sha": "", "base_sha": "", "start_sha": ""}
        head = self._git("rev-parse", f"refs/heads/{p.head}")
        start = self._git("rev-parse", f"refs/heads/{p.base}")
        return {"head_sha": head, "base_sha": self._git("merge-base", start, head), "start_sha": start}

    def diff_lines(self, p: Pull) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
        """Per path: the lines the pull request adds, and every new-side line its diff shows (3 lines of context)."""
        refs = self.shas(p)
        out = self._git("diff", "-U3", "--no-prefix", refs["base_sha"], refs["head_sha"])
        added: dict[str, set[int]] = {}
        shown: dict[str, set[int]] = {}
        path, line = "", 0
        for text in out.splitlines():
            if text.startswith("+++ "):
                path = text[4:]
                continue
            match = re.match(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", text)
            if match:
                line = int(match[1])
                continue
            if text.startswith(("---", "diff ", "index ")) or text.startswith("-"):
                continue
            if text.startswith("+"):
                added.setdefault(path, set()).add(line)
            shown.setdefault(path, set()).add(line)
            line += 1
        return added, shown

    def _comment_target(self, comment_id: str) -> tuple[Pull, int] | None:
        number, index = divmod(int(comment_id), 1000)
        pull = self._find(str(number))
        return (pull, index) if pull is not None and index < len(pull.comments) else None

    def _issue_comments(self, p: Pull) -> list[dict[str, Any]]:
        return [{"id": p.comment_id(i), "body": c} for i, c in enumerate(p.comments)]

    def _review(self, p: Pull, body: dict[str, Any], line_key: str) -> tuple[int, Any, dict[str, str]]:
        """A GitHub or Gitea review with its line comments, refused whole when one comment is not on the diff."""
        head = self.shas(p)["head_sha"]
        if body.get("commit_id") and head and body["commit_id"] != head:
            return 422, {"message": "commit_id is not the head of the pull request"}, {}
        _, shown = self.diff_lines(p) if self.git_dir else ({}, {})
        comments = body.get("comments") or []
        for c in comments:
            lines = [c.get(line_key)] + ([c["start_line"]] if "start_line" in c else [])
            if not c.get("path") or not c.get("body") or not all(isinstance(n, int) and n > 0 for n in lines):
                return 422, {"message": "Validation Failed", "errors": ["path, body and line are required"]}, {}
            if line_key == "line" and c.get("side", "RIGHT") != "RIGHT":
                return 422, {"message": "Validation Failed", "errors": ["side must be RIGHT"]}, {}
            if self.git_dir and not all(n in shown.get(c["path"], set()) for n in lines):
                message = "pull_request_review_thread.line must be part of the diff"
                return 422, {"message": "Validation Failed", "errors": [message]}, {}
        review = {"id": 500 + len(p.reviews), "body": body.get("body", ""), "commit_id": head or body.get("commit_id")}
        review["comments_count"] = len(comments)
        p.reviews.append(review)
        for c in comments:
            stored = {"id": 9000 + len(p.review_comments), "pull_request_review_id": review["id"], **c}
            stored["commit_id"] = review["commit_id"]
            p.review_comments.append(stored)
        return 200, review, {}

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
        edited = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if edited and method == "PATCH":
            target = self._comment_target(edited[1])
            if target is None:
                return 404, {"message": "Not Found"}, {}
            target[0].comments[target[1]] = body["body"]
            return 200, {"id": int(edited[1]), "body": body["body"]}, {}
        match = re.fullmatch(r"/(pulls|issues)/(\d+)(/\w+)?", rest)
        pull = self._find(match[2]) if match else None
        if pull is None:
            return 404, {"message": "Not Found"}, {}
        kind, sub = match[1], match[3]
        if kind == "pulls" and sub is None and method == "GET":
            return 200, self._github_pull(pull), {}
        if kind == "pulls" and sub == "/comments" and method == "GET":
            return self._page(pull.review_comments, query, path)
        if kind == "pulls" and sub == "/comments" and method == "POST":
            status, review, headers = self._review(
                pull, {"commit_id": body.get("commit_id"), "comments": [body]}, "line"
            )
            return (status, pull.review_comments[-1], headers) if status == 200 else (status, review, headers)
        if kind == "pulls" and sub == "/reviews" and method == "POST":
            if body.get("event") == "COMMENT" and not body.get("body"):
                return 422, {"message": "Validation Failed", "errors": ["body is required for COMMENT"]}, {}
            return self._review(pull, body, "line")
        if kind == "pulls" and sub is None and method == "PATCH":
            pull.title = body.get("title", pull.title)
            pull.body = body.get("body", pull.body)
            if body.get("state") == "closed":
                pull.state = "closed"
            return 200, self._github_pull(pull), {}
        if sub == "/comments" and method == "GET":
            return self._page(self._issue_comments(pull), query, path)
        if sub == "/comments" and method == "POST":
            pull.comments.append(body["body"])
            return 201, self._issue_comments(pull)[-1], {}
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
        refs = self.shas(p)
        return {
            "number": p.number,
            "html_url": f"{self.web_url}/{self.repo}/pull/{p.number}",
            "title": p.title,
            "body": p.body,
            "state": "open" if p.state == "open" else "closed",
            "merged_at": "2024-01-01T00:00:00Z" if p.state == "merged" else None,
            "draft": p.draft,
            "head": {"ref": p.head, "label": f"{self.repo.split('/')[0]}:{p.head}", "sha": refs["head_sha"]},
            "base": {"ref": p.base, "sha": refs["start_sha"]},
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
        match = re.fullmatch(r"/merge_requests/(\d+)(/notes|/discussions)?(?:/(\d+))?", rest)
        pull = self._find(match[1]) if match else None
        if pull is None:
            return 404, {"message": "404 Not found"}, {}
        if match[2] == "/notes" and match[3] and method == "PUT":
            target = self._comment_target(match[3])
            if target is None or target[0] is not pull:
                return 404, {"message": "404 Note Not Found"}, {}
            pull.comments[target[1]] = body["body"]
            return 200, {"id": int(match[3]), "body": body["body"], "system": False}, {}
        if match[2] == "/notes" and method == "GET":
            notes = [{**c, "system": False} for c in self._issue_comments(pull)]
            return self._page([*notes, {"id": 99, "body": "added 1 commit", "system": True}], query, path)
        if match[2] == "/notes" and method == "POST":
            pull.comments.append(body["body"])
            return 201, {**self._issue_comments(pull)[-1], "system": False}, {}
        if match[2] == "/discussions" and method == "GET":
            return self._page(pull.discussions, query, path)
        if match[2] == "/discussions" and method == "POST":
            return self._gitlab_discussion(pull, body)
        if method == "GET" and match[2] is None:
            return 200, self._gitlab_mr(pull), {}
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

    def _gitlab_discussion(self, p: Pull, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        position = body.get("position")
        if not body.get("body"):
            return 400, {"message": "400 Bad request - body is missing"}, {}
        if position is not None:
            refs = self.shas(p)
            wanted = ("position_type", "base_sha", "start_sha", "head_sha", "new_path", "new_line")
            missing = [k for k in wanted if not position.get(k)]
            if missing:
                return 400, {"error": f"position[{missing[0]}] is missing"}, {}
            if self.git_dir and any(position[k] != refs[k] for k in ("base_sha", "start_sha", "head_sha")):
                return 400, {"message": '400 Bad request - Note {:line_code=>["can\'t be blank"]}'}, {}
            added, _ = self.diff_lines(p) if self.git_dir else ({}, {})
            if self.git_dir and position["new_line"] not in added.get(position["new_path"], set()):
                # an unchanged line would need old_line as well
                return 400, {"message": '400 Bad request - Note {:line_code=>["can\'t be blank"]}'}, {}
        note_id = 7000 + sum(len(d["notes"]) for d in p.discussions)
        note = {"id": note_id, "type": "DiffNote" if position else None, "body": body["body"], "system": False}
        note["position"] = position
        discussion = {"id": f"d{len(p.discussions) + 1:039d}", "individual_note": False, "notes": [note]}
        p.discussions.append(discussion)
        return 201, discussion, {}

    def _gitlab_mr(self, p: Pull) -> dict[str, Any]:
        refs = self.shas(p)
        return {
            "sha": refs["head_sha"],
            "diff_refs": refs if refs["head_sha"] else None,
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
        edited = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if edited and method == "PATCH":
            target = self._comment_target(edited[1])
            if target is None:
                return 404, {"message": "The target couldn't be found."}, {}
            target[0].comments[target[1]] = body["body"]
            return 200, {"id": int(edited[1]), "body": body["body"]}, {}
        review = re.fullmatch(r"/pulls/(\d+)/reviews/(\d+)/comments", rest)
        if review and method == "GET":
            pull = self._find(review[1])
            if pull is None or not any(r["id"] == int(review[2]) for r in pull.reviews):
                return 404, {"message": "The target couldn't be found."}, {}
            return 200, [c for c in pull.review_comments if c["pull_request_review_id"] == int(review[2])], {}
        match = re.fullmatch(r"/(pulls|issues)/(\d+)(/\w+)?", rest)
        pull = self._find(match[2]) if match else None
        if pull is None:
            return 404, {"message": "The target couldn't be found."}, {}
        kind, sub = match[1], match[3]
        if kind == "pulls" and sub is None and method == "GET":
            return 200, self._gitea_pull(pull), {}
        if kind == "pulls" and sub == "/reviews" and method == "GET":
            return self._page(pull.reviews, query, path)
        if kind == "pulls" and sub == "/reviews" and method == "POST":
            return self._review(pull, body, "new_position")
        if sub is None and method == "PATCH":
            pull.title = body.get("title", pull.title)
            pull.body = body.get("body", pull.body)
            pull.assignees += body.get("assignees", [])
            if body.get("state") == "closed":
                pull.state = "closed"
            return 201, self._gitea_pull(pull), {}
        if sub == "/comments" and method == "GET":
            return self._page(self._issue_comments(pull), query, path)
        if sub == "/comments" and method == "POST":
            pull.comments.append(body["body"])
            return 201, self._issue_comments(pull)[-1], {}
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
        refs = self.shas(p)
        return {
            "number": p.number,
            "html_url": f"{self.web_url}/{self.repo}/pulls/{p.number}",
            "title": p.title,
            "body": p.body,
            "state": "open" if p.state == "open" else "closed",
            "merged": p.state == "merged",
            "head": {"ref": p.head, "label": p.head, "sha": refs["head_sha"]},
            "base": {"ref": p.base, "label": p.base, "sha": refs["start_sha"]},
            "merge_base": refs["base_sha"],
        }
