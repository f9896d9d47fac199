"""Packages are found, not listed: every package and data folder under the four top-level folders, which
install as edgebench, edgebench.models, edgebench.export and edgebench.ncnn_tools (metadata: pyproject.toml)."""

from setuptools import find_namespace_packages, setup

ROOTS = {"edgebench": "edgebench", "edgebench.models": "models", "edgebench.export": "export",
         "edgebench.ncnn_tools": "ncnn_tools"}


def packages_under(name: str, folder: str) -> list[str]:
    return [name, *(f"{name}.{sub}" for sub in find_namespace_packages(folder, exclude=["*__pycache__*"]))]


setup(packages=[p for name, folder in ROOTS.items() for p in packages_under(name, folder)], package_dir=ROOTS)
