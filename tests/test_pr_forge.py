"""Forge detection, tokens, and each adapter over HTTP against the loopback forge: pages, errors, retries, drafts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakeforge import FakeForge, Pull

from gofix_conc import forge
from gofix_conc.forge import ForgeError, State

TOKEN = "tok-91b2c3d4e5"


@pytest.mark.parametrize(
    ("url", "kind", "api", "repo", "web"),
    [
        ("https://github.com/acme/svc.git", "github", "https://api.github.com", "acme/svc", "https://github.com"),
        ("git@github.com:acme/svc.git", "github", "https://api.github.com", "acme/svc", "https://github.com"),
        ("ssh://git@github.com:22/acme/svc", "github", "https://api.github.com", "acme/svc", "https://github.com"),
        (
            "https://x:secret@gitlab.com/acme/platform/svc.git",
            "gitlab",
            "https://gitlab.com/api/v4",
            "acme/platform/svc",
            "https://gitlab.com",
        ),
        (
            "git@gitlab.example.com:acme/a/b/svc.git",
            "gitlab",
            "https://gitlab.example.com/api/v4",
            "acme/a/b/svc",
            "https://gitlab.example.com",
        ),
        ("https://codeberg.org/acme/svc", "gitea", "https://codeberg.org/api/v1", "acme/svc", "https://codeberg.org"),
        ("git@gitea.corp:acme/svc.git", "gitea", "https://gitea.corp/api/v1", "acme/svc", "https://gitea.corp"),
    ],
)
def test_detect_from_remote_url(url: str, kind: str, api: str, repo: str, web: str) -> None:
    assert forge.detect(url) == forge.Target(kind, api, repo, web)


def test_detect_enterprise_and_overrides() -> None:
    target = forge.detect("https://git.corp.example/acme/svc.git", kind="github")
    assert target == forge.Target("github", "https://git.corp.example/api/v3", "acme/svc", "https://git.corp.example")
    local = forge.detect("/srv/git/svc.git", "gitea", "http://127.0.0.1:3000/api/v1", "acme/svc")
    assert local == forge.Target("gitea", "http://127.0.0.1:3000/api/v1", "acme/svc", "http://127.0.0.1:3000")


@pytest.mark.parametrize(
    ("url", "kind", "message"),
    [
        ("https://u:hunter2@git.example.org/acme/svc.git", None, "cannot tell which forge https://git.example.org/"),
        ("/srv/git/svc.git", "github", "cannot tell the repository"),
        ("https://github.com/acme/svc.git", "bitbucket", "unknown forge 'bitbucket'"),
    ],
)
def test_detect_refuses_with_a_clear_message(url: str, kind: str | None, message: str) -> None:
    with pytest.raises(ForgeError, match=message) as failed:
        forge.detect(url, kind)
    assert "hunter2" not in str(failed.value)


def test_token_from_env() -> None:
    assert forge.token_from_env("gitlab", {"GITLAB_TOKEN": "a", "GITHUB_TOKEN": "b"}) == "a"
    assert forge.token_from_env("gitlab", {"GITLAB_TOKEN": "a", "GOFIX_CONC_TOKEN": "c"}) == "c"
    assert forge.token_from_env("gitea", {"GITHUB_TOKEN": "b"}) is None


@pytest.fixture(params=["github", "gitlab", "gitea"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[FakeForge, forge.Forge]]:
    repo = "acme/platform/svc" if request.param == "gitlab" else "acme/svc"
    with FakeForge(request.param, repo, TOKEN) as fake:
        target = forge.Target(request.param, fake.api_url, repo, fake.web_url)
        yield fake, forge.connect(target, TOKEN, forge.RetryPolicy(attempts=3, max_wait=5, backoff=0.01))


def test_pages_of_pulls_and_comments(api: tuple[FakeForge, forge.Forge]) -> None:
    fake, client = api
    for number in range(1, 6):
        fake.pulls.append(Pull(number, "bot" if number % 2 else "other", "main", f"t{number}", "", "closed"))
    fake.pulls[4].state = "open"
    fake.pulls[2].state = "merged"
    found = client.find_pulls("bot")
    assert [(p.number, p.state) for p in found] == [(5, State.OPEN), (3, State.MERGED), (1, State.CLOSED)]
    for i in range(5):
        client.comment(found[0], f"c{i}")
    assert client.comments(found[0]) == [f"c{i}" for i in range(5)]
    assert client.default_branch() == "main"


def test_draft_create_update_and_close(api: tuple[FakeForge, forge.Forge]) -> None:
    fake, client = api
    pull = client.create_pull(head="bot", base="main", title="Fix it", body="b", draft=True)
    assert pull.draft and pull.title == "Fix it" and pull.state is State.OPEN
    updated = client.update_pull(pull, title="Fix more", body="b2")
    assert updated.title == "Fix more" and updated.body == "b2"
    assert fake.pulls[0].draft or fake.pulls[0].title != "Fix more"  # still a draft on the forge
    client.add_labels(pull, ["bot", "concurrency"])
    client.request_reviewers(pull, ["alice"])
    client.add_assignees(pull, ["bob"])
    assert (fake.pulls[0].labels, fake.pulls[0].reviewers, fake.pulls[0].assignees) == (
        ["bot", "concurrency"],
        ["alice"],
        ["bob"],
    )
    client.close_pull(pull)
    assert client.find_pulls("bot")[0].state is State.CLOSED


def test_errors_are_clear_and_never_hold_the_token(api: tuple[FakeForge, forge.Forge]) -> None:
    fake, client = api
    client.create_pull(head="bot", base="main", title="t", body="", draft=False)
    with pytest.raises(ForgeError) as duplicate:
        client.create_pull(head="bot", base="main", title="t", body="", draft=False)
    assert duplicate.value.status in (409, 422)
    fake.fail("GET", r".", 403, times=1, **{"x-ratelimit-remaining": "12"})
    with pytest.raises(ForgeError, match="403") as forbidden:
        client.default_branch()
    fake.fail("GET", r".", 404, times=1)
    with pytest.raises(ForgeError, match=r"404 .*check --repo") as missing:
        client.default_branch()
    fake.fail("GET", r".", 500, times=5)
    with pytest.raises(ForgeError, match="gave up after 3 attempts"):
        client.default_branch()
    fake.token = "another"  # the token is now refused
    with pytest.raises(ForgeError, match=r"401 .*token was refused") as refused:
        client.default_branch()
    for err in (duplicate, forbidden, missing, refused):
        assert TOKEN not in str(err.value)


def test_redaction_of_an_echoed_token() -> None:
    http = forge.base.Http("github", "http://127.0.0.1:9", TOKEN, f"Bearer {TOKEN}")
    assert http.redact(f"bad token {TOKEN} here") == "bad token *** here"
    with pytest.raises(ForgeError) as failed:  # nothing listens on port 9
        http.retry = forge.RetryPolicy(attempts=1)
        http.request("GET", f"repos/x?access_token={TOKEN}")
    assert TOKEN not in str(failed.value)


def test_secondary_rate_limit_waits_for_retry_after(api: tuple[FakeForge, forge.Forge]) -> None:
    fake, client = api
    slept: list[float] = []
    client.http._sleep = slept.append  # type: ignore[attr-defined]
    fake.fail("GET", r".", 403, times=1, **{"Retry-After": "2"})
    fake.fail("GET", r".", 429, times=1, **{"x-ratelimit-reset": "0"})
    assert client.default_branch() == "main"
    assert slept[0] == 2.0 and len(slept) == 2
    fake.fail("GET", r".", 403, times=1, **{"Retry-After": "600"})  # more than the budget: no waiting
    with pytest.raises(ForgeError, match="403"):
        client.default_branch()
    assert len(slept) == 2
