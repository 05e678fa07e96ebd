"""The rules of plugins/filter/ec2lab.py that roles need as Jinja tests, for select/reject over a
list of options: `urls | reject('ec2lab.notebook.download_url')`."""

from __future__ import annotations

from ansible_collections.ec2lab.notebook.plugins.filter.ec2lab import download_url


class TestModule:
    """ec2lab tests."""

    def tests(self):
        return {"download_url": download_url}
