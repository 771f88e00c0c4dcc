"""Build the one C helper: the sequential pcap/pcapng record walk (everything else is numpy)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "netdiag.pcap._walk",
            sources=["netdiag/pcap/_walk.c"],
            extra_compile_args=["-O2", "-std=c99"],
            optional=False,
        )
    ]
)
