import itertools
from pathlib import Path

import pytest

from vlash_policy.embedded import default_checkpoint_dir
from vlash_policy.training.options import (
    FinetuneOptions,
    load_options,
    parse_overrides,
    valid_keys,
)

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "config" / "finetune.yaml"


def test_shipped_yaml_equals_the_dataclass_defaults():
    assert load_options(DEFAULT_YAML) == FinetuneOptions()


def test_overrides_win_and_are_type_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\nlr: 0.01\nshared_observation: false\n")
    opts = load_options(path, parse_overrides(["--steps=7", "--seed", "3", "--unified=false"]))
    assert (opts.steps, opts.lr, opts.seed) == (7, 0.01, 3)
    assert opts.shared_observation is False and opts.unified is False
    with pytest.raises(TypeError, match="option steps must be int"):
        load_options(overrides={"steps": "many"})
    with pytest.raises(TypeError, match="option unified must be bool"):
        load_options(overrides={"unified": 2})


def test_unknown_keys_list_the_valid_ones(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stepz: 5\n")
    with pytest.raises(ValueError, match="unknown option") as err:
        load_options(path)
    assert all(k in str(err.value) for k in valid_keys())
    with pytest.raises(ValueError, match=r"\['max_ofset'\] in command-line"):
        load_options(overrides=parse_overrides(["--max-ofset=2"]))


def test_training_starts_from_the_embedded_checkpoint_unless_told_otherwise(tmp_path):
    assert FinetuneOptions().init_checkpoint_dir() == default_checkpoint_dir()
    assert FinetuneOptions(init_checkpoint="none").init_checkpoint_dir() is None
    assert FinetuneOptions(init_checkpoint=str(tmp_path)).init_checkpoint_dir() == tmp_path
    config = FinetuneOptions(init_checkpoint="none", model_config="vla.json")
    assert config.init_checkpoint_dir() is None
    with pytest.raises(ValueError, match="set init_checkpoint: none to train it from scratch"):
        FinetuneOptions(model_config="vla.json")
    with pytest.raises(ValueError, match="init_checkpoint is empty; give 'default'"):
        load_options(overrides={"init_checkpoint": ""})


def test_value_checks():
    with pytest.raises(ValueError, match="stage must be one of"):
        FinetuneOptions(stage="both")
    with pytest.raises(ValueError, match="needs init_checkpoint"):
        FinetuneOptions(stage="rater", init_checkpoint="none")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        FinetuneOptions(batch_size=0)
    with pytest.raises(ValueError, match="expected --key=value"):
        parse_overrides(["steps=3"])


def test_cosine_schedule_warms_up_then_decays_to_zero():
    options = FinetuneOptions(lr=1e-3, steps=110, warmup_steps=10, lr_schedule="cosine")
    rates = [options.learning_rate(step) for step in range(110)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))
    assert rates[60] == pytest.approx(5e-4) and rates[-1] < 1e-6
    constant = FinetuneOptions(lr=1e-3, steps=110, warmup_steps=10)
    assert constant.learning_rate(5) == pytest.approx(6e-4) and constant.learning_rate(50) == 1e-3
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        FinetuneOptions(lr_schedule="linear")


def test_sfm_fraction_is_a_share():
    assert FinetuneOptions(sfm_fraction=0.0).sfm_fraction == 0.0
    with pytest.raises(ValueError, match=r"sfm_fraction must be in \[0, 1\]"):
        FinetuneOptions(sfm_fraction=-0.1)
