"""tools/train.py then tools/test.py in subprocesses, as a user runs them."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = 'configs/demo/lcreg_resnet32_digits-lt.py'
# Stage 1 of one epoch (8 iterations) leaves the BN running statistics far
# from the data's; stage 2 with the backbone in eval mode (shift_bn=False)
# then diverges on the exploding features, whatever the classifier init
# (Normal(0, 0.01): loss 3.9 -> 6e4 within the first stage-2 epoch; Kaiming:
# faster). BN in train mode in stage 2 (shift_bn=True) keeps these
# mechanics tests on finite losses.
SHORT = [
    'train_cfg.stage1_epochs=1', 'train_cfg.val_interval=1',
    'param_scheduler.0.end=1', 'param_scheduler.1.end=1',
    'param_scheduler.1.milestones=[]', 'param_scheduler.2.begin=1',
    'default_hooks.logger.interval=4', 'train_cfg.stage2.shift_bn=True',
]


def run_tool(*args, check=True):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-3000:]}')
    return proc


def train(work_dir, epochs, *extra):
    return run_tool('tools/train.py', DEMO, '--work-dir', str(work_dir),
                    '--cfg-options', f'train_cfg.max_epochs={epochs}',
                    f'param_scheduler.2.end={epochs}', *SHORT, *extra)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('tools')
    train(work_dir, 2)
    return work_dir


def test_train_writes_checkpoints_and_logs(trained):
    assert osp.isfile(trained / 'epoch_1.pth')
    assert osp.isfile(trained / 'epoch_2.pth')
    with open(trained / 'last_checkpoint') as f:
        assert f.read().strip().endswith('epoch_2.pth')
    scalars = list(trained.glob('*/vis_data/scalars.json'))
    assert scalars
    lines = [json.loads(x) for x in open(scalars[0])]
    assert any('loss_recon' in x and 'loss_latent_aug' in x for x in lines)
    assert any('lt/top1' in x for x in lines)


def test_test_prints_split_table_and_json(trained, tmp_path):
    out = tmp_path / 'metrics.json'
    proc = run_tool('tools/test.py', DEMO, str(trained / 'epoch_2.pth'),
                    '--work-dir', str(tmp_path), '--out', str(out))
    header = [line for line in proc.stdout.splitlines()
              if line.split()[:5] == ['overall', 'many', 'medium', 'few',
                                      'ECE']]
    assert header, proc.stdout[-2000:]
    metrics = json.loads(out.read_text())
    assert set(metrics) >= {'lt/top1', 'lt/many', 'lt/medium', 'lt/few',
                            'lt/ece', 'lt/per_class'}
    assert len(metrics['lt/per_class']) == 10
    # Digits-LT IF10 (120 -> 12): 1 many, 7 medium, 2 few classes
    assert (metrics['lt/num_many'], metrics['lt/num_medium'],
            metrics['lt/num_few']) == (1, 7, 2)
    assert 0 <= metrics['lt/top1'] <= 100
    row = [line for line in proc.stdout.splitlines()
           if line.startswith('top-1')][0]
    assert f"{metrics['lt/top1']:.2f}" in row


def test_resume_continues_from_last_epoch(trained, tmp_path):
    work_dir = tmp_path / 'resumed'
    work_dir.mkdir()
    for name in ('epoch_2.pth', 'last_checkpoint'):
        src = trained / name
        text = src.read_bytes()
        if name == 'last_checkpoint':
            text = str(work_dir / 'epoch_2.pth').encode()
        (work_dir / name).write_bytes(text)
    proc = train(work_dir, 3, '--resume')
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 2' in log
    assert osp.isfile(work_dir / 'epoch_3.pth')
    assert not osp.isfile(work_dir / 'epoch_1.pth')


def test_unknown_cfg_option_is_refused(tmp_path):
    proc = run_tool('tools/train.py', DEMO, '--work-dir', str(tmp_path),
                    '--cfg-options', 'train_cfg.max_epoch=3', check=False)
    assert proc.returncode != 0
    assert "'max_epoch' does not exist under train_cfg" in proc.stderr.splitlines()[-1]
    assert 'max_epochs' in proc.stderr  # the close match is suggested
