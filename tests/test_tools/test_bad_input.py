"""User errors give one clear line through the real tools.

Every case runs ``tools/train.py`` or ``tools/test.py`` with a broken
config or broken data and checks: the exit status is 2, the last line of
stderr is ``error: <message>`` naming the file / line / key and the fix,
and there is no traceback. Two cases run the tools in subprocesses
(train.py refusing a key before the Runner exists; test.py failing in a
dataset the Runner builds); the others call the tools' ``cli(argv)`` in this
process: the same code, without the 5-15 s start-up of a new Python
(tests/test_tools/test_faults.py runs more failures in subprocesses).
"""
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from fixtures.tool_runs import (REPO, TINY_CONFIG, last_line, load_tool,
                                run_in_process, run_tool, write_config)

NUM_CLASSES = 10
TRAIN_COUNTS = [6, 5, 4, 3, 3, 2, 2, 2, 1, 1]  # 29 images
TEST_PER_CLASS = 1

LIST_CONFIG = """
train_pipeline = [dict(type='LoadImageFromFile'),
                  dict(type='RandomCrop', crop_size=16, padding=2),
                  dict(type='PackInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
list_train = dict(type='LTListDataset', data_root={root!r},
                  ann_file='train.txt', data_prefix='images', num_classes=10,
                  pipeline=train_pipeline)
list_test = dict(type='LTListDataset', data_root={root!r},
                 ann_file='test.txt', data_prefix='images', num_classes=10,
                 test_mode=True, pipeline=test_pipeline)
train_dataloader = dict(batch_size=8,
                        dataset=dict(_delete_=True, **list_train))
val_dataloader = dict(dataset=dict(_delete_=True, **list_test))
test_dataloader = val_dataloader
val_evaluator = dict(train_dataset=dict(_delete_=True, **list_train))
test_evaluator = val_evaluator
"""


@pytest.fixture(scope='module')
def list_root(tmp_path_factory):
    """16x16 RGB images of 10 classes with train/test lists and broken
    variants of the train list."""
    root = tmp_path_factory.mktemp('list_data')
    (root / 'images').mkdir()
    rng = np.random.default_rng(0)
    train, test = [], []
    for label, count in enumerate(TRAIN_COUNTS):
        for i in range(count + TEST_PER_CLASS):
            name = f'c{label}_{i}.png'
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / 'images' / name)
            (train if i < count else test).append(f'{name} {label}')
    lists = dict(
        train=train,
        test=test,
        malformed=train[:3] + ['c0_3.png'] + train[3:],  # line 4: no label
        out_of_range=train[:5] + ['c0_0.png 10'] + train[5:],  # line 6
        negative=train[:1] + ['c0_0.png -1'] + train[1:],  # line 2
        no_class_9=[line for line in train if not line.endswith(' 9')],
        missing_image=['gone.png 0'] + train,  # line 1
    )
    for name, lines in lists.items():
        (root / f'{name}.txt').write_text('\n'.join(lines) + '\n')
    return root


@pytest.fixture(scope='module')
def list_config(list_root, tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'tiny_list_lt.py'
    return write_config(path, LIST_CONFIG.format(root=str(list_root)))


def _in_process_error(capsys, tool, *argv) -> str:
    """Run ``tools/<tool>.py``'s ``cli(argv)``; assert exit 2 and return
    the error line."""
    assert run_in_process(tool, *argv) == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err, err
    line = last_line(err)
    assert line.startswith('error: '), err[-2000:]
    return line


def _subprocess_error(result) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    line = last_line(result.stderr)
    assert line.startswith('error: '), result.stderr[-3000:]
    return line


def _training_set(**settings):
    """``--cfg-options`` giving the training set and the metric's copy of
    it (``val_evaluator.train_dataset``) the same ``settings``."""
    return [f'{key}.{name}={value}' for name, value in settings.items()
            for key in ('train_dataloader.dataset',
                        'val_evaluator.train_dataset')]


def _train_args(config, tmp_path, *options):
    args = [config, '--work-dir', tmp_path / 'work']
    if options:
        args += ['--cfg-options', *options]
    return args


# --- subprocesses ------------------------------------------------------------
def test_unknown_cfg_options_key_subprocess(tmp_path):
    """Refused before the Runner is built, with close matches."""
    line = _subprocess_error(run_tool(
        'train.py', *_train_args(TINY_CONFIG, tmp_path,
                                 'optim_wraper.optimizer.lr=0.1')))
    assert "--cfg-options key 'optim_wraper.optimizer.lr'" in line
    assert "Did you mean ['optim_wrapper']" in line
    assert str(TINY_CONFIG) in line
    assert not (tmp_path / 'work').exists()


def test_malformed_list_line_in_test_tool_subprocess(tmp_path, list_config,
                                                     list_root):
    result = run_tool(
        'test.py', list_config, tmp_path / 'unused.pth', '--work-dir',
        tmp_path / 'work', '--cfg-options',
        'test_dataloader.dataset.ann_file=malformed.txt')
    line = _subprocess_error(result)
    assert line == (
        f"error: {list_root / 'malformed.txt'}: line 4: malformed line "
        "'c0_3.png' (no space between path and label); expected "
        "'<relative/image/path> <integer label>', fix or remove this line.")


# --- in-process cli(): the same handler, no interpreter start-up -------------
def test_cifar_missing_data_root(tmp_path, capsys):
    """A dataset the Runner builds: the message survives the registry."""
    config = REPO / 'configs/lcreg/resnet32_cifar10-lt-if100.py'
    missing = tmp_path / 'no_cifar_here'
    line = _in_process_error(capsys, 'train', *_train_args(
        config, tmp_path, f'train_dataloader.dataset.data_root={missing}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'))
    assert line.startswith('error: CIFAR10LT: cannot find the '
                           'cifar-10-batches-py files in '
                           f'{missing}/cifar-10-batches-py')
    assert 'make_cifar.py' in line and 'download=True' in line


def test_amp_on_a_cpu_without_bf16(tmp_path, capsys, monkeypatch):
    """--amp on a CPU without AVX512-BF16 / AMX-BF16: one line naming the
    instruction sets, no silent float32 run."""
    from lcreg.engine.optimizers import bf16_optim_wrapper
    monkeypatch.setattr(bf16_optim_wrapper, 'cpu_bf16_flags', lambda: dict(
        avx512_bf16=False, amx_bf16=False))
    line = _in_process_error(capsys, 'train', *_train_args(
        TINY_CONFIG, tmp_path), '--amp')
    assert line == (
        'error: --amp on the CPU trains in bfloat16 and needs a CPU with the '
        'AVX512-BF16 or AMX-BF16 instruction set (/proc/cpuinfo flag '
        "'avx512_bf16' or 'amx_bf16'); this CPU has neither. Drop --amp "
        '(float32), or train on a GPU.')
    assert not (tmp_path / 'work').exists()


def test_auto_scale_lr_without_base_batch_size(tmp_path, capsys):
    """--auto-scale-lr on a config that does not say which total batch its
    lrs are for: one line naming the key and the fix."""
    config = write_config(tmp_path / 'no_base.py', 'auto_scale_lr = None\n')
    line = _in_process_error(capsys, 'train', *_train_args(
        config, tmp_path), '--auto-scale-lr')
    assert line == (
        f'error: --auto-scale-lr needs auto_scale_lr.base_batch_size in '
        f'{config} (the total batch its lrs are for): add '
        'auto_scale_lr = dict(base_batch_size=<that batch>) to it.')
    assert not (tmp_path / 'work').exists()


def test_amp_on_a_device_without_amp(tmp_path, capsys, monkeypatch):
    import mmengine.device
    monkeypatch.setattr(mmengine.device, 'get_device', lambda: 'mps')
    line = _in_process_error(capsys, 'train', *_train_args(
        TINY_CONFIG, tmp_path), '--amp')
    assert line == ("error: --amp trains in float16 on CUDA / NPU / MLU / "
                    "MUSA and in bfloat16 on a CPU; this machine's device "
                    'is mps; drop --amp.')


def test_num_classes_mismatch(tmp_path, capsys):
    """NumClassesCheckHook stops the run before the first iteration."""
    line = _in_process_error(capsys, 'train', *_train_args(
        TINY_CONFIG, tmp_path, 'model.head.num_classes=12'))
    assert line == (
        'error: model.head.num_classes=12 but train_dataloader.dataset '
        "(LongTailed of SklearnDigits) has 10 classes (len(metainfo"
        "['classes'])); set model.head.num_classes=10 (e.g. --cfg-options "
        'model.head.num_classes=10) or use the dataset the config was '
        'written for.')
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_list_missing_data_root(tmp_path, list_config, capsys):
    missing = tmp_path / 'nowhere'
    line = _in_process_error(capsys, 'train', *_train_args(
        list_config, tmp_path,
        f'train_dataloader.dataset.data_root={missing}'))
    assert line == (f"error: LTListDataset: data_root '{missing}' does not "
                    'exist; set data_root to the dataset folder (or link the '
                    'data there).')


@pytest.mark.parametrize('ann_file, expected', [
    ('out_of_range.txt',
     'line 6: label 10 >= num_classes=10 (LTListDataset); fix the entry or '
     'num_classes.'),
    ('negative.txt',
     'line 2: negative label -1; labels are class indices '
     '0..num_classes-1, fix this entry.'),
])
def test_list_label_out_of_range(tmp_path, list_config, list_root,
                                 capsys, ann_file, expected):
    line = _in_process_error(capsys, 'train', *_train_args(
        list_config, tmp_path,
        f'train_dataloader.dataset.ann_file={ann_file}'))
    assert line == f'error: {list_root / ann_file}: {expected}'


def test_missing_image_error_mode(tmp_path, list_config, list_root,
                                  capsys):
    line = _in_process_error(capsys, 'train', *_train_args(
        list_config, tmp_path, *_training_set(ann_file='missing_image.txt'),
        'train_dataloader.sampler.shuffle=False'))
    image = list_root / 'images' / 'gone.png'
    assert line == (
        f"error: LTListDataset: image '{image}' "
        f"({list_root / 'missing_image.txt'}, line 1) does not exist; fix "
        f"data_prefix (now '{list_root / 'images'}') or the list, or set "
        "on_missing_image='skip'.")


def test_missing_image_skip_mode_trains_and_warns(tmp_path, list_config,
                                                  list_root):
    """'skip': the run finishes; the skipped image is counted and named."""
    one_epoch = write_config(  # stage 1 only, one epoch, one scheduler
        tmp_path / 'one_epoch.py',
        'train_cfg = dict(max_epochs=1, stage1_epochs=1, val_interval=2)\n'
        'param_scheduler = [dict(type="MultiStepLR", by_epoch=True, '
        'milestones=[], begin=0, end=1)]\n', base=list_config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        status = run_in_process('train', *_train_args(
            one_epoch, tmp_path, *_training_set(
                ann_file='missing_image.txt', on_missing_image='skip'),
            'train_dataloader.sampler.shuffle=False'))
    assert status == 0
    skipped = [str(w.message) for w in caught
               if 'missing image' in str(w.message)]
    assert len(skipped) == 1, skipped  # the first skip warns, with the path
    assert 'skipped 1 missing image(s) so far in this process' in skipped[0]
    assert str(list_root / 'images' / 'gone.png') in skipped[0]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()


def test_class_without_images_require_all_classes(tmp_path, list_config,
                                                  list_root, capsys):
    line = _in_process_error(capsys, 'train', *_train_args(
        list_config, tmp_path,
        'train_dataloader.dataset.ann_file=no_class_9.txt',
        '+train_dataloader.dataset.require_all_classes=True'))
    assert line.startswith(f"error: {list_root / 'no_class_9.txt'}: 1 of 10 "
                           'classes have no sample: 9;')
    assert 'require_all_classes=False' in line


def test_class_without_images_in_label_aware_smoothing_stage(
        tmp_path, list_config, list_root, capsys):
    """Stage 2 alone (stage1_epochs=0): label-aware smoothing needs every
    class to have training images."""
    line = _in_process_error(capsys, 'train', *_train_args(
        list_config, tmp_path, *_training_set(ann_file='no_class_9.txt'),
        'train_cfg.stage1_epochs=0'))
    assert line == (
        'error: LabelAwareSmoothingLoss: class_counts[9] = 0; every count '
        'must be a positive integer (a class without training samples has '
        'no place in the count vector of a long-tailed training set).')


def test_imbalance_factor_below_one(tmp_path, capsys):
    line = _in_process_error(capsys, 'train', *_train_args(
        TINY_CONFIG, tmp_path,
        'train_dataloader.dataset.imbalance_factor=0.1'))
    assert line == (
        'error: LongTailed: imbalance_factor must be >= 1 (size of the '
        'largest class / size of the smallest, e.g. 100; 1 keeps the '
        'balanced data), got 0.1. LDAM-DRW/MiSLAS configs write the inverse '
        '(imb_factor=0.1); here that is imbalance_factor=10.')


def test_num_classes_mismatch_in_test_tool(tmp_path, capsys):
    """test.py: the test dataset is checked (data_preprocessor too)."""
    line = _in_process_error(
        capsys, 'test', TINY_CONFIG, tmp_path / 'unused.pth', '--work-dir',
        tmp_path / 'work', '--cfg-options', 'model.head.num_classes=12',
        'data_preprocessor.num_classes=12')
    assert line.startswith(
        'error: model.head.num_classes=12, data_preprocessor.num_classes=12 '
        'but test_dataloader.dataset (SklearnDigits) has 10 classes')
    assert ('set model.head.num_classes=10 data_preprocessor.num_classes=10'
            in line)


def test_unknown_module_argument(tmp_path, capsys):
    """A misspelt argument of a dataset: one line naming it."""
    line = _in_process_error(capsys, 'train', *_train_args(
        TINY_CONFIG, tmp_path, 'train_dataloader.dataset.imbalance_facto=5'))
    assert 'imbalance_facto' in line


def test_debug_env_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv('LCREG_DEBUG', '1')
    with pytest.raises(ValueError, match='imbalance_factor must be >= 1'):
        run_in_process('train', *_train_args(
            TINY_CONFIG, tmp_path,
            'train_dataloader.dataset.imbalance_factor=0.5'))


def test_programming_errors_keep_their_traceback():
    """Only the toolbox's own checks count as user errors."""
    from lcreg.utils import cli as tool

    def raise_in_numpy():
        np.zeros(2).reshape(3)

    with pytest.raises(ValueError) as info:
        raise_in_numpy()
    assert tool.user_error_message(info.value) is None  # raised by numpy
    assert tool.user_error_message(AssertionError('x')) is None
    missing = FileNotFoundError('config nowhere.py not found')
    assert tool.user_error_message(missing) == 'config nowhere.py not found'
    worker = FileNotFoundError(
        'Caught FileNotFoundError in DataLoader worker process 0.\n'
        'Original Traceback (most recent call last):\n'
        f'  File "{REPO}/lcreg/datasets/lt_list.py", line 1, in x\n'
        'FileNotFoundError: LTListDataset: image a.png does not exist')
    assert tool.user_error_message(worker) == (
        'LTListDataset: image a.png does not exist')
    assert os.environ.get('LCREG_DEBUG') is None


def test_toolbox_default_hook_can_be_switched_off():
    from mmengine.config import Config

    from lcreg.utils.cli import drop_disabled_hooks
    cfg = Config(dict(default_hooks=dict(
        epoch_seed=None, logger=dict(type='LoggerHook'))))
    drop_disabled_hooks(cfg)
    assert set(cfg.default_hooks) == {'logger'}
