import pytest
from mmengine.config import Config

from lcreg.utils import UnknownConfigKeyError, merge_cfg_options


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / 'recipe.py'
    path.write_text('')
    return Config(dict(
        train_cfg=dict(type='TwoStageTrainLoop', max_epochs=10),
        model=dict(type='X', head=dict(type='H', num_classes=10)),
        param_scheduler=[dict(type='LinearLR', end=5)],
        work_dir='w'), filename=str(path))


def test_existing_keys_merge(cfg):
    merge_cfg_options(cfg, {'train_cfg.max_epochs': 3,
                            'param_scheduler.0.end': 2,
                            'model.head.num_classes': 100})
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.param_scheduler[0].end == 2
    assert cfg.model.head.num_classes == 100


def test_typo_is_refused_with_suggestion(cfg):
    with pytest.raises(UnknownConfigKeyError) as e:
        merge_cfg_options(cfg, {'train_cfg.max_epoch': 3})
    msg = str(e.value)
    assert "'max_epoch' does not exist under train_cfg" in msg
    assert 'max_epochs' in msg and 'recipe.py' in msg


def test_unknown_top_level_and_intermediate_keys(cfg):
    with pytest.raises(UnknownConfigKeyError, match='top level'):
        merge_cfg_options(cfg, {'train_cfgg.max_epochs': 3})
    with pytest.raises(UnknownConfigKeyError, match='neck'):
        merge_cfg_options(cfg, {'model.neck.num_latents': 3})
    with pytest.raises(UnknownConfigKeyError, match='not an index'):
        merge_cfg_options(cfg, {'param_scheduler.3.end': 3})


def test_new_module_argument_and_plus_prefix(cfg):
    merge_cfg_options(cfg, {'model.head.init_cfg': None,
                            '+custom_flag': True})
    assert 'init_cfg' in cfg.model.head and cfg.custom_flag is True
