"""Build glue that pyproject.toml cannot express on its own.

- The one C helper: the sequential pcap/pcapng record walk (everything else is numpy).
- The top-level ``reports/`` directory (HTML templates and static assets) ships inside the
  wheel as the package ``netdiag._reports``.
"""

from setuptools import Extension, find_packages, setup

setup(
    packages=[*find_packages(include=["netdiag", "netdiag.*"]), "netdiag._reports"],
    package_dir={"netdiag._reports": "reports"},
    ext_modules=[
        Extension(
            "netdiag.pcap._walk",
            sources=["netdiag/pcap/_walk.c"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=False,
        )
    ],
)
