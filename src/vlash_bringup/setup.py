import glob
import os

from setuptools import find_packages, setup

PACKAGE = "vlash_bringup"


def _share(folder: str) -> list[tuple[str, list[str]]]:
    """Install ``folder`` under share/<package>/, keeping its subfolders."""
    entries = []
    for directory, _, files in os.walk(folder):
        if files:
            entries.append((f"share/{PACKAGE}/{directory}", [f"{directory}/{f}" for f in files]))
    return entries


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob.glob("launch/*")),
        *_share("config"),
    ],
    install_requires=["setuptools", "PyYAML"],
    zip_safe=True,
    maintainer="VLASH ROS maintainers",
    maintainer_email="maintainers@vlash-ros.org",
    description="Launch files, configuration and the launcher of the VLASH node graph.",
    license="Apache-2.0",
    # colcon runs pytest for packages whose test extra names it (tests_require left setuptools).
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": ["vlash_launch = vlash_bringup.launcher:main"]},
)
