"""What the wheel holds beyond pyproject.toml: every ``avpet*`` package, and the published weights.

The published repos of ``hub/`` ship inside the wheel as ``avpet/published/<repo>/`` (14 MB each),
so a fresh install loads ``pretrained=True`` offline (``avpet/hub/bundled.py``). Only the folders
named in ``PUBLISHED`` go in, never whatever else ``hub/`` holds (a converted 800 MB model).
"""

from setuptools import find_packages, setup

PUBLISHED = ["avpet_small_mid_lowrank.grid_s1", "avpet_small_mid_lowrank.sync_grid_s1"]
REPO_FILES = ["README.md", "config.json", "model.safetensors"]

setup(
    packages=[*find_packages(include=["avpet*"]), "avpet.published"],
    package_dir={"avpet.published": "hub"},
    package_data={"avpet.published": [f"{repo}/{f}" for repo in PUBLISHED for f in REPO_FILES]},
    include_package_data=False,
)
