"""tests/bin/scan-git-history on throw-away repositories: what CI reports about old commits."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).parents[2] / "tests/bin/scan-git-history"
# Built here so this file itself holds no AWS key id shape for the tree scan to flag.
FAKE_KEY_ID = "AKIA" + "Z7Q3M4XKD2WPL6NB"
CREDENTIALS = f"[default]\naws_access_key_id = {FAKE_KEY_ID}\n"
# The venv's python (detect-secrets) first on PATH, as CI runs it; no user or system git config.
ENV = {
    **os.environ,
    "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo, message, write=None, remove=()):
    """Commit the files in `write` ({path: str or bytes}) and the removal of `remove`."""
    for name, content in (write or {}).items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for name in remove:
        git(repo, "rm", "-q", name)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "--short", "HEAD")


def make_baseline(repo, *scan_args):
    """`detect-secrets scan` of the current tree, as a project creates its baseline."""
    baseline = subprocess.run(
        ["detect-secrets", "scan", *scan_args],
        cwd=repo,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (repo / ".secrets.baseline").write_text(baseline)
    return json.loads(baseline)


def scan(repo, *args):
    return subprocess.run(
        [str(SCRIPT), "--repo", str(repo), *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "project"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.invalid")
    commit(path, "README", {"README.md": "# project\n"})
    return path


def test_secret_committed_then_deleted_fails_naming_commit_and_path(repo):
    leaked = commit(repo, "add credentials", {"deploy/credentials.ini": CREDENTIALS})
    commit(repo, "oops, remove credentials", remove=["deploy/credentials.ini"])
    make_baseline(repo)
    commit(repo, "baseline", {})

    result = scan(repo)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{leaked} deploy/credentials.ini:2 AWS Access Key" in result.stdout.splitlines()
    assert "rotate" in result.stdout and "filter-repo" in result.stdout
    assert "1 unknown findings" in result.stdout


def test_secret_from_a_merged_branch_names_the_branch_commit(repo):
    git(repo, "switch", "-q", "-c", "feature")
    leaked = commit(repo, "feature with credentials", {"app/settings.ini": CREDENTIALS})
    git(repo, "switch", "-q", "main")
    commit(repo, "meanwhile on main", {"NOTES.md": "notes\n"})
    git(repo, "merge", "-q", "--no-edit", "feature")
    commit(repo, "remove credentials", remove=["app/settings.ini"])
    make_baseline(repo)

    result = scan(repo)

    assert result.returncode == 1
    assert f"{leaked} app/settings.ini:2 AWS Access Key" in result.stdout.splitlines()


def test_secret_added_while_resolving_a_merge_names_the_merge(repo):
    git(repo, "switch", "-q", "-c", "feature")
    commit(repo, "feature", {"feature.txt": "feature\n"})
    git(repo, "switch", "-q", "main")
    commit(repo, "main", {"main.txt": "main\n"})
    git(repo, "merge", "-q", "--no-commit", "feature")
    merge = commit(repo, "merge feature", {"merged/aws.ini": CREDENTIALS})
    commit(repo, "remove credentials", remove=["merged/aws.ini"])
    make_baseline(repo)

    result = scan(repo)

    assert result.returncode == 1
    assert f"{merge} merged/aws.ini:2 AWS Access Key" in result.stdout.splitlines()


def test_clean_history_passes_with_a_summary(repo):
    commit(repo, "code", {"src/app.py": "print('hello')\n", "docs/index.md": "Hello\n"})
    commit(repo, "more code", {"src/app.py": "print('hello, world')\n"})
    make_baseline(repo)
    commit(repo, "baseline", {})

    result = scan(repo)

    assert result.returncode == 0, result.stdout + result.stderr
    # README, two versions of app.py, index.md, the baseline.
    assert result.stdout.strip() == "history secret scan: 4 commits, 5 blobs, 0 unknown findings"


def test_audited_finding_passes_after_the_file_was_moved(repo):
    commit(repo, "example config", {"conf/example.ini": CREDENTIALS})
    (repo / "examples").mkdir()
    git(repo, "mv", "conf/example.ini", "examples/aws.ini")
    commit(
        repo,
        "move and document it",
        {"examples/aws.ini": "; documentation example\n" + CREDENTIALS},
    )
    baseline = make_baseline(repo)
    [finding] = baseline["results"]["examples/aws.ini"]
    finding["is_secret"] = False  # what `detect-secrets audit` records for a false positive
    (repo / ".secrets.baseline").write_text(json.dumps(baseline, indent=2))
    commit(repo, "audited baseline", {})

    assert scan(repo).returncode == 0

    # The same history against a baseline that lacks the audit still fails, at the old path.
    unaudited = repo.parent / "unaudited.baseline"
    unaudited.write_text(json.dumps({**baseline, "results": {}}))
    result = scan(repo, "--baseline", str(unaudited))
    assert result.returncode == 1
    assert "conf/example.ini:2 AWS Access Key" in result.stdout


def test_binary_and_non_utf8_blobs_do_not_crash_it(repo):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + FAKE_KEY_ID.encode() + bytes(range(256))
    commit(
        repo,
        "assets",
        {
            "img/logo.png": png,
            "data/model.pkl": bytes(range(256)) * 8,
            "docs/latin1.txt": "caf\xe9 cr\xe8me\n".encode("latin-1"),
        },
    )
    make_baseline(repo)
    commit(repo, "baseline", {})

    result = scan(repo)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("history secret scan: 3 commits, 5 blobs, 0 unknown findings")


def test_files_excluded_by_the_baseline_are_not_scanned_in_history(repo):
    commit(repo, "vendored test data", {"vendor/moto/fixture.ini": CREDENTIALS})
    commit(repo, "drop vendored data", remove=["vendor/moto/fixture.ini"])
    make_baseline(repo, "--exclude-files", "^vendor/")
    commit(repo, "baseline", {})

    result = scan(repo)

    assert result.returncode == 0, result.stdout + result.stderr


def test_unmerged_branch_is_scanned_only_with_all(repo):
    git(repo, "switch", "-q", "-c", "experiment")
    leaked = commit(repo, "experiment", {"try/aws.ini": CREDENTIALS})
    git(repo, "switch", "-q", "main")
    make_baseline(repo)
    commit(repo, "baseline", {})

    assert scan(repo).returncode == 0

    result = scan(repo, "--all")
    assert result.returncode == 1
    assert f"{leaked} try/aws.ini:2 AWS Access Key" in result.stdout


def test_a_shallow_clone_is_refused_unless_allowed(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    git(origin, "config", "user.name", "t")
    git(origin, "config", "user.email", "t@example.com")
    commit(origin, "one", {"a.txt": "one\n"})
    commit(origin, "two", {"b.txt": "two\n"})
    make_baseline(origin)
    commit(origin, "baseline")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(shallow)], env=ENV, check=True)
    run = [sys.executable, str(SCRIPT), "--repo", str(shallow)]
    refused = subprocess.run(run, env=ENV, capture_output=True, text=True)
    assert refused.returncode == 2 and "shallow clone" in refused.stderr, refused.stderr
    allowed = subprocess.run([*run, "--allow-shallow"], env=ENV, capture_output=True, text=True)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
