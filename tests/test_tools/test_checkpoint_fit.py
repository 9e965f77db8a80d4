"""tools/test.py refuses a checkpoint that does not fit the config's model
(MMEngine would load it non-strictly and test random layers)."""
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from fixtures.tool_runs import TINY_CONFIG, last_line, run_in_process
from lcreg.engine.runner.checkpoint_fit import state_dict_differences


def test_differences_are_named_by_kind():
    model = dict(a=torch.zeros(2, 3), b=torch.zeros(4), c=torch.zeros(1))
    assert state_dict_differences(model, dict(model)) == []
    found = state_dict_differences(
        model, dict(a=torch.zeros(3, 3), b=torch.zeros(4), d=torch.zeros(1)))
    assert found == [
        '1 shape mismatches (checkpoint vs model: a (3, 3) vs (2, 3))',
        '1 model keys missing (c)', '1 unexpected keys (d)']
    assert state_dict_differences(model, dict(a=model['a'], b=model['b']),
                                  optional=['c']) == []
    many = {f'k{i}': torch.zeros(1) for i in range(6)}
    assert state_dict_differences(many, {}) == [
        '6 model keys missing (k0, k1, k2, k3 and 2 more)']


def _checkpoint(path, num_latents=None):
    """A checkpoint of the tiny run's model (untrained weights)."""
    cfg = Config.fromfile(str(TINY_CONFIG))
    if num_latents is not None:
        cfg.model.neck.num_latents = num_latents
    model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return path


def test_test_tool_refuses_another_recipe(tmp_path, capsys):
    # a checkpoint with 20 latent categories, tested with the 10 of the config
    ckpt = _checkpoint(tmp_path / 'm20.pth', num_latents=20)
    status = run_in_process('test', TINY_CONFIG, ckpt, '--work-dir',
                            tmp_path / 'work')
    err = capsys.readouterr().err
    assert status == 2, err[-2000:]
    line = last_line(err)
    assert line.startswith(f'error: {ckpt} does not fit the model of '
                           f'{TINY_CONFIG}: ')
    assert 'shape mismatches (checkpoint vs model: neck.latent_pool ' \
        '(20, ' in line
    assert 'Use the config the checkpoint was trained with' in line
    assert not (tmp_path / 'work' / 'test_metrics.json').exists()


def test_test_tool_accepts_a_fitting_checkpoint(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / 'fits.pth')
    out = tmp_path / 'metrics.json'
    assert run_in_process('test', TINY_CONFIG, ckpt, '--work-dir',
                          tmp_path / 'work', '--out', out) == 0
    assert out.is_file()


def test_test_tool_with_the_saved_config_of_a_resumed_run(tmp_path, capsys):
    """The config MMEngine saves in the work dir of a ``--resume`` run holds
    ``resume = True`` (and the fit check's message recommends that file):
    tools/test.py loads the checkpoint plainly, as with the original."""
    ckpt = _checkpoint(tmp_path / 'fits.pth')
    cfg = Config.fromfile(str(TINY_CONFIG))
    cfg.resume, cfg.load_from = True, str(tmp_path / 'epoch_1.pth')
    saved = tmp_path / 'saved_by_resumed_run.py'
    cfg.dump(str(saved))
    outs = {}
    for name, config in (('original', TINY_CONFIG), ('saved', saved)):
        outs[name] = tmp_path / f'{name}.json'
        status = run_in_process('test', config, ckpt, '--work-dir',
                                tmp_path / name, '--out', outs[name])
        captured = capsys.readouterr()
        assert status == 0, captured.err[-2000:]
        assert 'resumed epoch' not in captured.out + captured.err
    import json
    assert json.loads(outs['saved'].read_text()) == json.loads(
        outs['original'].read_text())
