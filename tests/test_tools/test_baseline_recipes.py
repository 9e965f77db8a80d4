"""Every new baseline recipe trains and tests end to end through
tools/train.py and tools/test.py (their ``cli``, in this process).

Each shortened CIFAR-10-LT recipe of configs/shortened/ (12 + 2 epochs) is
cut further to 1 + 1 epochs on a tiny Digits-LT subset (16×16, 36 training
images, IF 10): the DRW recipes switch their weights at epoch 1, the
class-wise ISDA one switches to stage 2 at epoch 1. A pipeline check, not
a benchmark.
"""
import json
import re

import pytest

from fixtures.tool_runs import REPO, run_in_process, write_config

SHORTENED = REPO / 'configs' / 'shortened'
RECIPES = ['ldam-drw', 'balanced-softmax', 'logit-adjust', 'remix-drw',
           'focal', 'cb-focal', 'class-isda']
DRW = {'ldam-drw': 1, 'remix-drw': 1, 'cb-focal': 0}
COUNTED = ('ldam-drw', 'balanced-softmax', 'logit-adjust', 'remix-drw')

TINY_DATA = """
train_dataset = dict(
    type='LongTailed',
    dataset=dict(type='SklearnDigits', split='train', scale=2,
                 pipeline=[dict(type='RandomCrop', crop_size=16, padding=2),
                           dict(type='PackInputs')]),
    imbalance_factor=10, imbalance_type='exp', seed=0, max_per_class=10)
test_dataset = dict(type='SklearnDigits', split='test', test_per_class=2,
                    scale=2, pipeline=[dict(type='PackInputs')])
train_dataloader = dict(batch_size=16, dataset=dict(_delete_=True,
                                                    **train_dataset))
val_dataloader = dict(batch_size=20, dataset=dict(_delete_=True,
                                                  **test_dataset))
test_dataloader = val_dataloader
val_evaluator = dict(train_dataset=dict(_delete_=True, **train_dataset))
test_evaluator = val_evaluator
data_preprocessor = dict(mean=[76.0] * 3, std=[97.0] * 3)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(max_keep_ckpts=-1))
"""
SINGLE_STAGE = """
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[1],
                        gamma=0.1)]
train_cfg = dict(max_epochs=2, val_interval=2)
"""
TWO_STAGE = """
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[], begin=0, end=1),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=2,
         eta_min=0.0)]
train_cfg = dict(max_epochs=2, stage1_epochs=1, val_interval=2,
                 stage2=dict(shift_bn=True))
"""


def _config(tmp_path, recipe):
    body = TINY_DATA + (TWO_STAGE if recipe == 'class-isda'
                        else SINGLE_STAGE)
    if recipe in DRW:
        body += ("custom_hooks = [dict(type='DeferredReweightingHook', "
                 f"start_epoch={DRW[recipe]}, beta=0.9999)]\n")
    base = SHORTENED / f'{recipe}_resnet32_cifar10-lt-if100_12e-2e.py'
    return write_config(tmp_path / f'tiny_{recipe}.py', body, base=base)


@pytest.mark.parametrize('recipe', RECIPES)
def test_recipe_trains_and_tests(recipe, tmp_path):
    config = _config(tmp_path, recipe)
    work_dir = tmp_path / 'work'
    assert run_in_process('train', config, '--work-dir', work_dir) == 0
    text = ''.join(p.read_text() for p in work_dir.glob('*/*.log'))
    assert (work_dir / 'epoch_2.pth').is_file()
    # the count-dependent parts got the training counts (36 images)
    counted = 'class counts of train_dataloader.dataset (10 classes, 36'
    assert (counted in text) == (recipe in COUNTED), text[-2000:]
    if recipe in DRW:
        on = re.findall(r'epoch (\d+): class weights on', text)
        assert on == [str(DRW[recipe])], text[-3000:]
    out = tmp_path / 'metrics.json'
    assert run_in_process('test', config, work_dir / 'epoch_2.pth',
                          '--work-dir', tmp_path / 'test',
                          '--out', out) == 0
    metrics = json.loads(out.read_text())
    assert 0 <= metrics['lt/top1'] <= 100
    assert len(metrics['lt/per_class']) == 10
