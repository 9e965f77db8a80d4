"""NumClassesCheckHook: model and dataset must agree on the class count."""
from types import SimpleNamespace

import pytest
import torch.nn as nn
from mmengine.runner import BaseLoop

from lcreg.datasets import LongTailed, SklearnDigits
from lcreg.engine.hooks import NumClassesCheckHook
from lcreg.engine.hooks.num_classes_check_hook import check_num_classes


class _Model(nn.Module):
    def __init__(self, head_classes, preprocessor_classes=None):
        super().__init__()
        self.head = nn.Linear(2, head_classes)
        self.head.num_classes = head_classes
        self.data_preprocessor = nn.Identity()
        self.data_preprocessor.num_classes = preprocessor_classes


class _Loop(BaseLoop):
    def __init__(self, dataset):
        self.dataloader = SimpleNamespace(dataset=dataset)

    def run(self):
        pass


class _Dataset:
    def __init__(self, metainfo):
        self.metainfo = metainfo


@pytest.fixture(scope='module')
def digits_lt():
    return LongTailed(SklearnDigits(split='train'), imbalance_factor=10,
                      max_per_class=20)


def test_matching_model_passes(digits_lt):
    check_num_classes(_Model(10, 10), digits_lt, 'train_dataloader.dataset')


def test_head_mismatch_names_keys_and_dataset(digits_lt):
    with pytest.raises(ValueError) as info:
        check_num_classes(_Model(100), digits_lt, 'train_dataloader.dataset')
    assert str(info.value) == (
        'model.head.num_classes=100 but train_dataloader.dataset (LongTailed '
        "of SklearnDigits) has 10 classes (len(metainfo['classes'])); set "
        'model.head.num_classes=10 (e.g. --cfg-options '
        'model.head.num_classes=10) or use the dataset the config was '
        'written for.')


def test_preprocessor_mismatch():
    dataset = _Dataset(dict(classes=('a', 'b', 'c')))
    with pytest.raises(ValueError, match=r'^data_preprocessor.num_classes=4 '
                       r'but val_dataloader.dataset \(_Dataset\) has 3 '):
        check_num_classes(_Model(3, 4), dataset, 'val_dataloader.dataset')


def test_class_counts_length_is_checked():
    dataset = _Dataset(dict(class_counts=[5, 3, 1, 1]))
    with pytest.raises(ValueError, match=r"has 4 classes \(len\(metainfo"
                       r"\['class_counts'\]\)\)"):
        check_num_classes(_Model(3), dataset, 'train_dataloader.dataset')
    dataset = _Dataset(dict(classes=('a', 'b', 'c'), class_counts=[5, 3]))
    with pytest.raises(ValueError, match=r"is inconsistent: len\(metainfo"
                       r"\['classes'\]\)=3, len\(metainfo\['class_counts'\]"
                       r'\)=2'):
        check_num_classes(_Model(3), dataset, 'train_dataloader.dataset')


def test_nothing_to_compare_passes():
    check_num_classes(_Model(3), _Dataset({}), 'test_dataloader.dataset')
    model = nn.Module()  # no head.num_classes: nothing to check
    check_num_classes(model, _Dataset(dict(classes=('a', ))), 'x')


def test_hook_checks_built_loops_before_run_and_each_once(digits_lt):
    hook = NumClassesCheckHook()
    wrong = _Loop(_Dataset(dict(classes=tuple('abc'))))
    runner = SimpleNamespace(model=_Model(10), _train_loop=_Loop(digits_lt),
                             _val_loop=dict(type='ValLoop'),  # not built
                             _test_loop=None)
    hook.before_run(runner)
    assert hook._checked == {'train_dataloader.dataset'}
    runner.val_loop = wrong
    with pytest.raises(ValueError, match='val_dataloader.dataset'):
        hook.before_val(runner)
    runner.test_loop = _Loop(digits_lt)
    hook.before_test(runner)
    runner.train_loop = wrong  # already checked: not again
    hook.before_train(runner)
    assert hook._checked == {'train_dataloader.dataset',
                             'test_dataloader.dataset'}


def test_metric_counts_must_be_those_of_the_training_set(digits_lt):
    from lcreg.engine.hooks.num_classes_check_hook import check_metric_counts
    from lcreg.evaluation import LongTailMetric
    counts = list(digits_lt.metainfo['class_counts'])
    same = SimpleNamespace(metrics=[LongTailMetric(class_counts=counts)])
    check_metric_counts(digits_lt, same, 'val_evaluator')
    other = counts[:-1] + [counts[-1] + 1]
    with pytest.raises(ValueError) as err:
        check_metric_counts(digits_lt, SimpleNamespace(metrics=[
            LongTailMetric(class_counts=counts),
            LongTailMetric(class_counts=other)]), 'val_evaluator')
    msg = str(err.value)
    assert msg.startswith('val_evaluator.1.class_counts (LongTailMetric) has '
                          f'the training counts 10 classes, {sum(other)} ')
    assert (f'train_dataloader.dataset has 10 classes, {sum(counts)} images, '
            f'{max(counts)} to {min(counts)} per class') in msg
    # metrics without class counts (e.g. MMPretrain's Accuracy) are skipped
    check_metric_counts(digits_lt, SimpleNamespace(metrics=[object()]),
                        'val_evaluator')


def test_train_tool_refuses_a_metric_of_another_training_set(tmp_path,
                                                             capsys):
    """Only train_dataloader.dataset.imbalance_factor overridden: the run
    stops before the first iteration, naming both keys."""
    from fixtures.tool_runs import TINY_CONFIG, run_in_process
    status = run_in_process(
        'train', TINY_CONFIG, '--work-dir', tmp_path, '--cfg-options',
        'train_dataloader.dataset.imbalance_factor=5')
    err = capsys.readouterr().err
    assert status == 2
    assert 'error: val_evaluator.train_dataset (LongTailMetric)' in err
    assert 'train_dataloader.dataset has 10 classes' in err
    assert not list(tmp_path.glob('*.pth'))
