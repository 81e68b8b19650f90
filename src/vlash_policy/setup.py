import glob
import os

from setuptools import find_packages, setup

PACKAGE = "vlash_policy"
# The embedded default policy, installed so nodes find it without a source tree.
CHECKPOINT = "checkpoints/so101_whack_a_mole"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", ["config/finetune.yaml"]),
        (
            f"share/{PACKAGE}/{CHECKPOINT}",
            [f for f in glob.glob(f"{CHECKPOINT}/*") if os.path.isfile(f)],
        ),
        (f"share/{PACKAGE}/{CHECKPOINT}/tokenizer", glob.glob(f"{CHECKPOINT}/tokenizer/*")),
    ],
    install_requires=[
        "setuptools",
        "numpy",
        "torch",
        "transformers",
        "tokenizers",
        "safetensors",
        "opencv-python-headless",
        "matplotlib",
        "tqdm",
        "PyYAML",
        "pyarrow",
        "Pillow",
        "rosbags",
    ],
    zip_safe=True,
    maintainer="VLASH ROS maintainers",
    maintainer_email="maintainers@vlash-ros.org",
    description="VLASH asynchronous inference, the VLA model and the policy node.",
    license="Apache-2.0",
    # colcon runs pytest for packages whose test extra names it (tests_require left setuptools).
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "policy_node = vlash_policy.policy_node:main",
            "recorder_node = vlash_policy.recording.recorder_node:main",
            "replay = vlash_policy.recording.replay:main",
        ]
    },
)
