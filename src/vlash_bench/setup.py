from setuptools import find_packages, setup

PACKAGE = "vlash_bench"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools", "numpy", "matplotlib", "torch"],
    zip_safe=True,
    maintainer="VLASH ROS maintainers",
    maintainer_email="maintainers@vlash-ros.org",
    description="Benchmarks of the suite and its hostile-input and fault harness.",
    license="Apache-2.0",
    # colcon runs pytest for packages whose test extra names it (tests_require left setuptools).
    extras_require={"test": ["pytest", "hypothesis"]},
)
