"""moto_server for the ec2lab test bed, on 127.0.0.1 only, with AWS's behaviour where moto 5.2.5
differs in a way the playbooks notice.

- A volume created empty has SnapshotId "" and MultiAttachEnabled false in AWS; moto leaves
  both keys out and amazon.aws.ec2_vol / ec2_vol_info then fail with a KeyError.
- The AMI catalogue is replaced by tests/moto/amis.json (MOTO_AMIS_PATH): a few Canonical
  images shaped like today's, so the "latest Ubuntu LTS" lookup has real choices to make.
"""

import os
import pathlib
import sys

os.environ.setdefault("MOTO_AMIS_PATH", str(pathlib.Path(__file__).with_name("amis.json")))

from moto.ec2.models import elastic_block_store  # noqa: E402
from moto.server import main  # noqa: E402

_volume_init = elastic_block_store.Volume.__init__


def _volume_init_with_snapshot_id(self, *args, **kwargs):
    _volume_init(self, *args, **kwargs)
    if self.snapshot_id is None:
        self.snapshot_id = ""
    if self.multi_attach_enabled is None:
        self.multi_attach_enabled = False


elastic_block_store.Volume.__init__ = _volume_init_with_snapshot_id

if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else "5000"
    sys.exit(main(["-H", "127.0.0.1", "-p", port]))
