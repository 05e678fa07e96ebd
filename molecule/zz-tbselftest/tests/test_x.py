def test_x(host):
    assert host.file("/tmp/hello.txt").content_string == "hello-fixture\n"
    with host.sudo():
        assert "ext4" in host.check_output("blkid")
