"""ssh_alias_file: the aliases, their tunnel ports and host keys, written under a lock (real files,
real ssh -G and ssh-keygen, no Ansible)."""

import multiprocessing
import socket

import pytest

from ansible_collections.ec2lab.notebook.plugins.modules import ssh_alias_file as module

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"
BLOCK = "Host {name} {name}-jupyter\n    HostName 203.0.113.7\nHost {name}-jupyter\n    LocalForward 127.0.0.1:@LOCAL_PORT@ 127.0.0.1:8888\n"


def params(home, name, state="present", **extra):
    return {"name": name, "state": state, "path": str(home / "config.d" / "ec2lab"),
            "known_hosts_path": str(home / "ec2lab_known_hosts"), "block": BLOCK.format(name=name),
            "tunnel_alias": f"{name}-jupyter", "preferred_port": 8888, "port_tries": 100,
            "host_keys": [KEY], "lock_timeout": 30, **extra}


@pytest.fixture
def home(tmp_path):
    (tmp_path / "config.d").mkdir()
    return tmp_path


def write(home, name, taken=(), tunnels=(), check_mode=False, **extra):
    return module.apply(params(home, name, **extra), check_mode, is_free=lambda port: port not in taken,
                        commands=lambda: list(tunnels))


def test_an_alias_gets_the_first_free_port_keeps_it_and_a_rerun_changes_nothing(home):
    first = write(home, "nb", taken={8888})
    assert first["changed"] and first["local_port"] == 8889
    text = (home / "config.d" / "ec2lab").read_text()
    assert "LocalForward 127.0.0.1:8889 127.0.0.1:8888" in text and text.startswith("# BEGIN ec2lab nb\n")
    assert (home / "config.d" / "ec2lab").stat().st_mode & 0o777 == 0o600
    assert (home / "ec2lab_known_hosts").read_text() == f"nb {KEY}\n"
    again = write(home, "nb")
    assert not again["changed"] and again["local_port"] == 8889
    # Taken by something else now: the alias moves; held by its own tunnel: it stays.
    assert write(home, "nb", taken={8889}, tunnels=["ssh -N -f nb-jupyter"])["local_port"] == 8889
    assert write(home, "nb", taken={8889})["local_port"] == 8888


def test_another_alias_never_gets_a_port_the_file_gives_one_already(home):
    assert write(home, "a")["local_port"] == 8888
    assert write(home, "b")["local_port"] == 8889


def _write_one(home, name, queue):
    queue.put((name, write(home, name)["local_port"]))


def test_runs_side_by_side_give_every_alias_its_own_port_and_lose_none(home):
    names = [f"ws{i}" for i in range(8)]
    queue = multiprocessing.get_context("fork").Queue()
    workers = [multiprocessing.get_context("fork").Process(target=_write_one, args=(home, name, queue)) for name in names]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    ports = dict(queue.get(timeout=5) for _ in names)
    assert sorted(ports.values()) == list(range(8888, 8896))
    text = (home / "config.d" / "ec2lab").read_text()
    assert sorted(module.ssh_alias_names(text)) == names
    assert all(f"LocalForward 127.0.0.1:{ports[name]} " in text.split(f"# BEGIN ec2lab {name}\n")[1].split("# END")[0]
               for name in names)
    assert sorted(line.split()[0] for line in (home / "ec2lab_known_hosts").read_text().splitlines()) == names


def test_check_mode_chooses_and_shows_but_writes_nothing(tmp_path, home):
    result = write(home, "nb", check_mode=True)
    assert result["changed"] and result["local_port"] == 8888 and result["diff"]
    assert not (home / "config.d" / "ec2lab").exists() and not (home / "ec2lab_known_hosts").exists()
    # A fresh home has no directory yet: the preview still says what a real run would write.
    fresh = write(tmp_path / "nowhere", "nb", check_mode=True)
    assert fresh["changed"] and fresh["local_port"] == 8888


def test_removing_one_alias_keeps_the_others_and_the_last_takes_the_files_with_it(home):
    write(home, "a"), write(home, "b")
    removed = module.apply(params(home, "a", state="absent"), False)
    assert removed["changed"] and not removed["file_removed"]
    assert module.ssh_alias_names((home / "config.d" / "ec2lab").read_text()) == ["b"]
    assert (home / "ec2lab_known_hosts").read_text() == f"b {KEY}\n"
    last = module.apply(params(home, "b", state="absent"), False)
    assert last["file_removed"] and not (home / "config.d" / "ec2lab").exists()
    assert not (home / "ec2lab_known_hosts").exists()


def test_a_block_ssh_would_refuse_is_not_written(home):
    write(home, "nb")
    before = (home / "config.d" / "ec2lab").read_text()
    with pytest.raises(ValueError, match="ssh -G"):
        write(home, "nb", block="Host nb\n    NoSuchOption yes\n")
    assert (home / "config.d" / "ec2lab").read_text() == before


def test_a_run_that_cannot_get_the_lock_says_so(home):
    with module.Lock(str(home / "config.d"), 5), pytest.raises(TimeoutError, match="held the lock"):
        write(home, "nb", lock_timeout=0)


def test_port_probe_sees_a_listening_socket():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not module.local_port_is_free(port)
    assert module.local_port_is_free(port)
