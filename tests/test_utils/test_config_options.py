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


def test_file_variable_is_refused_naming_the_keys_that_took_it(tmp_path):
    """A top-level variable of the file (used while it was read) would be
    accepted and change nothing: refused, with the keys to set instead."""
    base = tmp_path / 'base.py'
    base.write_text(
        'imbalance_factor = 100\n'
        "train_dataset = dict(type='CIFAR10LT', imbalance_factor="
        'imbalance_factor)\n'
        'train_dataloader = dict(dataset=train_dataset)\n'
        'val_evaluator = dict(type="LongTailMetric", '
        'train_dataset=train_dataset)\n')
    child = tmp_path / 'if50.py'
    child.write_text("_base_ = ['base.py']\nimbalance_factor = 50\n"
                     "train_dataloader = dict(dataset=dict("
                     "imbalance_factor=50))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.imbalance_factor == 50  # the file variable
    with pytest.raises(UnknownConfigKeyError) as e:
        merge_cfg_options(cfg, {'imbalance_factor': 10})
    msg = str(e.value)
    assert "'imbalance_factor' is a variable of" in msg
    assert 'if50.py' in msg and 'would change nothing' in msg
    assert ('train_dataloader.dataset.imbalance_factor, '
            'val_evaluator.train_dataset.imbalance_factor.') in msg
    with pytest.raises(UnknownConfigKeyError, match='variable of'):
        merge_cfg_options(cfg, {'train_dataset.imbalance_factor': 10})
    # a typo is not pointed at the file variable
    with pytest.raises(UnknownConfigKeyError) as e:
        merge_cfg_options(cfg, {'imbalanc_factor': 10})
    assert 'Did you mean' not in str(e.value)
    # the keys the Runner reads, and '+' on purpose, still merge
    merge_cfg_options(cfg, {'train_dataloader.dataset.imbalance_factor': 10,
                            'val_evaluator.train_dataset.imbalance_factor':
                            10, '+imbalance_factor': 10})
    assert cfg.train_dataloader.dataset.imbalance_factor == 10
    assert cfg.val_evaluator.train_dataset.imbalance_factor == 10


def test_default_work_dir_keeps_the_method_folder(tmp_path):
    from lcreg.utils.cli import default_work_dir
    assert default_work_dir('configs/lcreg/resnet32_cifar10-lt-if100.py') == \
        'work_dirs/lcreg/resnet32_cifar10-lt-if100'
    assert default_work_dir('configs/mislas/resnet32_cifar10-lt-if100.py') \
        == 'work_dirs/mislas/resnet32_cifar10-lt-if100'
    assert default_work_dir(str(tmp_path / 'configs' / 'a' / 'b' / 'x.py')) \
        == 'work_dirs/a/b/x'
    assert default_work_dir(str(tmp_path / 'mine.py')) == 'work_dirs/mine'


def test_train_tool_uses_the_default_work_dir():
    """tools/train.py without --work-dir (the config sets none)."""
    from fixtures.tool_runs import REPO, load_tool
    train = load_tool('train')
    config = REPO / 'configs' / 'mislas' / 'resnet32_cifar10-lt-if100.py'
    cfg = train.build_config(train.parse_args([str(config)]))
    assert cfg.work_dir == 'work_dirs/mislas/resnet32_cifar10-lt-if100'


@pytest.mark.parametrize('recipe', [
    'lcreg/resnet32_cifar10-lt-if100.py', 'mislas/resnet50_imagenet-lt.py',
    'baselines/resnet32_cifar10-lt-if100_ce.py'])
def test_auto_scale_lr_switch_needs_no_plus(recipe):
    """``auto_scale_lr.enable=True`` (as the schedules' comments say) is an
    existing key of every recipe, not a new one to add with ``+``."""
    import os.path as osp
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(repo, 'configs', recipe))
    assert cfg.auto_scale_lr.enable is False
    merge_cfg_options(cfg, {'auto_scale_lr.enable': True})
    assert cfg.auto_scale_lr.enable is True
