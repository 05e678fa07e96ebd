"""What the bench scripts share."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv, env=None) -> tuple[float, str]:
    """Wall seconds and stdout of one command run at the repository root; a failure ends the bench."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc.stdout


def mitogen_env(env):
    """The environment that runs the plays under Mitogen's strategy, or None without Mitogen."""
    try:
        import ansible_mitogen  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return dict(env, ANSIBLE_STRATEGY_PLUGINS=str(plugins), ANSIBLE_STRATEGY="mitogen_linear")
