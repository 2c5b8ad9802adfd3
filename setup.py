"""Build of the C extension ``controller._fastenc`` (everything else is in pyproject.toml).

The extension is optional: where it cannot be compiled, ``controller.translate`` uses its
Python encoder (the same bytes, slower) and the daemon logs which one it uses.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "controller._fastenc",
            ["controller/_fastenc.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
