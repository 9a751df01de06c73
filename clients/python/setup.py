"""The build step pyproject.toml cannot say: the blocking client is generated from the async one
(`generate_sync.py`) into what is built: the wheel, or the source tree for an editable install."""

from __future__ import annotations

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithSyncClient(build_py):
    """build_py, and `_sync_client.py` written from `_async_client.py`."""

    def run(self) -> None:
        generate = runpy.run_path(str(HERE / "generate_sync.py"))["generate"]
        source = HERE / "src"
        if self.editable_mode:
            # An editable install imports the source tree itself (build_py copies nothing).
            generate(source, source)
            super().run()
        else:
            super().run()
            generate(source, Path(self.build_lib))


setup(cmdclass={"build_py": BuildWithSyncClient})
