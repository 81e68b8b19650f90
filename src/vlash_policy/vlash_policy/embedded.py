"""Where the checkpoints shipped with the package live.

The package embeds a small flow-matching VLA trained on the simulated SO-101 whack-a-mole task
(``checkpoints/so101_whack_a_mole/``, reproduced by ``make default-model``; its TRAINING.md
records the recipe: VLASH offset augmentation with shared observation, Sec. 4.2-4.3, and the
AsyncVLA unified SFM/AFM loss, Algorithm 2, plus the stage-2 confidence rater, Sec. 3.3), so the
suite runs end to end with no download.

When the package is installed (colcon), ``setup.py`` copies the checkpoint to
``share/vlash_policy/checkpoints/<name>/`` and the ament index finds it there; running from a
source checkout (tests, ``PYTHONPATH=src/vlash_policy``) uses ``src/vlash_policy/checkpoints``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "vlash_policy"
DEFAULT_CHECKPOINT = "so101_whack_a_mole"
SOURCE_CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def _installed_checkpoints() -> Path | None:
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE)) / "checkpoints"
    except PackageNotFoundError:
        return None


def default_checkpoint_dir(name: str = DEFAULT_CHECKPOINT) -> Path:
    """Directory of the embedded checkpoint ``name``: installed share dir first, else source.

    Raises FileNotFoundError listing the places looked in when neither holds it.
    """
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"name must be a plain checkpoint directory name, got {name!r}")
    candidates = [root / name for root in (_installed_checkpoints(), SOURCE_CHECKPOINTS) if root]
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"embedded checkpoint {name!r} not found in {[str(c) for c in candidates]}; "
        "run `make default-model` to rebuild it"
    )
