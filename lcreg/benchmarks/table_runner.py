"""Train and test configs × seeds, resumably, and tabulate them.

Layout of a work dir ``DIR``::

    DIR/<config path below configs/, without .py>/seed<k>/
        run.json            manifest: config, seed, options, status, times
        train_output.log    tools/train.py output (appended per segment)
        epoch_*.pth, last_checkpoint, <timestamp>/vis_data/scalars.json
        test_metrics.json   tools/test.py --out of the final checkpoint
    DIR/table.md, DIR/table.json

A run is trained with ``tools/train.py`` (resumed with ``--resume`` from its
last checkpoint when it has one: the recipes save every epoch, so a kill
loses at most one epoch) and its final-epoch checkpoint is tested with
``tools/test.py``; both are subprocesses, as a user would run them. Started
again with the same arguments, the runner skips finished runs, resumes
unfinished ones and tests trained ones.

Wall time of a run: the sum of its training segments and its test. A segment
that was killed counts up to its last checkpoint (the time of that file).
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from lcreg.utils import merge_cfg_options
from lcreg.utils.cli import default_work_dir
from . import results_table
from .hardware import describe_hardware, hardware_label, precision_label
from .run_options import (best_epoch_options, data_options, final_stage_begin,
                          loader_options, option, stage1_epochs)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MANIFEST = 'run.json'
TEST_JSON = 'test_metrics.json'
#: ``best_test_epoch`` values: validate on the test set every epoch of the
#: final stage, or every epoch of the run (MiSLAS validates after each epoch
#: of both stages; its README's stage-1 numbers are best-of-all-epochs).
BEST_MODES = ('final-stage', 'all')


def config_label(config: str) -> str:
    """The config path relative to the repository when inside it, else the
    absolute path: what a manifest records and compares."""
    path = osp.abspath(config)
    return osp.relpath(path, REPO) if path.startswith(REPO + os.sep) \
        else path


def run_name(config: str) -> str:
    """``<method>/<recipe>`` for ``configs/<method>/<recipe>.py`` (as
    ``tools/train.py``'s default work dir, without ``work_dirs/``)."""
    return osp.relpath(default_work_dir(config), 'work_dirs')


@dataclass
class RunSpec:
    """One config × seed: where it lives and the options it runs with."""
    config: str
    seed: int
    run_dir: str
    max_epochs: int
    best_begin: Optional[int]
    stage1_epochs: Optional[int]
    train_options: List[str]
    test_options: List[str]
    manifest: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f'{run_name(self.config)} seed {self.seed}'

    def path(self, *names) -> str:
        return osp.join(self.run_dir, *names)


class TableRunner:
    """Configs × seeds → trained, tested runs and ``table.md`` / ``.json``.

    Args:
        configs: config files.
        seeds: distinct integer seeds (``randomness.seed``).
        work_dir: the ``DIR`` of the layout above.
        data_root: data folder of every dataset of the configs (None: the
            configs' own).
        verify_md5: ``verify_md5`` of the datasets that have it (None: the
            configs' own; ``False`` for a re-packed CIFAR copy).
        amp / channels_last: ``tools/train.py --amp`` / ``--channels-last``.
        workers: loader workers (0: load in the training process, fastest on
            a 2-core CPU).
        device: ``'cpu'`` or ``'cuda'`` (pinned memory, cuDNN benchmark,
            the hardware record; on ``'cpu'`` CUDA is hidden from the runs).
        best_test_epoch: also validate on the test set and report the best
            epoch (the literature's protocol): ``'final-stage'`` (or True)
            every epoch of the final stage, ``'all'`` every epoch of the run
            (then the stage-1 column of a two-stage recipe is best-of-every-
            stage-1-epoch too, as MiSLAS reports it); False: off.
        cfg_options: extra ``--cfg-options`` for training and testing
            (``key=value`` strings), recorded in each manifest.
        parallel: runs at the same time (e.g. several small runs on a GPU).
        retest: test finished runs again (e.g. after a test JSON was lost).
        dry_run: print the commands; run and write nothing.
    """

    def __init__(self, configs: Sequence[str], seeds: Sequence[int],
                 work_dir: str, data_root: Optional[str] = None,
                 verify_md5: Optional[bool] = None, amp: bool = False,
                 channels_last: bool = False, workers: Optional[int] = None,
                 device: str = 'cpu', best_test_epoch=False,
                 cfg_options: Sequence[str] = (), parallel: int = 1,
                 retest: bool = False, dry_run: bool = False,
                 log=print):
        if not configs:
            raise ValueError('run_table: give at least one config.')
        seeds = list(seeds)
        if not seeds:
            raise ValueError('run_table: --seeds needs at least one seed.')
        dupes = sorted({s for s in seeds if seeds.count(s) > 1})
        if dupes:
            raise ValueError(f'run_table: --seeds lists {dupes} more than '
                             'once; give each seed once.')
        if parallel < 1:
            raise ValueError(f'run_table: --parallel must be >= 1, got '
                             f'{parallel}.')
        if best_test_epoch is True:
            best_test_epoch = 'final-stage'
        if best_test_epoch not in (False, None) + BEST_MODES:
            raise ValueError(f'run_table: best_test_epoch must be one of '
                             f'{BEST_MODES} or False, got '
                             f'{best_test_epoch!r}.')
        if device not in ('cpu', 'cuda'):
            raise ValueError(f"run_table: device must be 'cpu' or 'cuda', "
                             f'got {device!r}.')
        self.work_dir = osp.abspath(work_dir)
        self.amp, self.channels_last = amp, channels_last
        self.device, self.parallel = device, parallel
        self.retest, self.dry_run, self.log = retest, dry_run, log
        self.best_test_epoch = best_test_epoch or None
        self.cfg_options = list(cfg_options)
        self.hardware = describe_hardware(device)
        names = {}
        for config in configs:
            if not osp.isfile(config):
                raise ValueError(f'run_table: config {config} does not '
                                 'exist.')
            other = names.setdefault(run_name(config), config)
            if osp.abspath(other) != osp.abspath(config):
                raise ValueError(
                    f'run_table: {other} and {config} would share the run '
                    f'folder {run_name(config)}; run them with different '
                    '--work-dir.')
        self.specs = [self._spec(config, seed, data_root, verify_md5,
                                 workers)
                      for config in configs for seed in seeds]

    # -- building the runs --------------------------------------------------
    def _spec(self, config, seed, data_root, verify_md5, workers) -> RunSpec:
        cfg = Config.fromfile(config)
        shared = data_options(
            cfg, None if data_root is None else osp.abspath(data_root),
            verify_md5)
        if workers is not None:
            shared += loader_options(cfg, workers, self.device)
        train = [option(cfg, 'randomness.seed', seed)] + shared
        resolved = Config.fromfile(config)
        merge_cfg_options(resolved, _parse_options(self.cfg_options))
        best_begin = None
        if self.best_test_epoch:
            # the best-epoch column covers the final stage; 'all' validates
            # from the first epoch (a one-stage recipe's column then too)
            validate_from = 0 if self.best_test_epoch == 'all' \
                else final_stage_begin(resolved)
            best_begin = validate_from if stage1_epochs(resolved) is None \
                else final_stage_begin(resolved)
            train += best_epoch_options(resolved, validate_from)
        train += self.cfg_options
        test = shared + self.cfg_options
        run_dir = osp.join(self.work_dir, run_name(config), f'seed{seed}')
        return RunSpec(config=config, seed=seed, run_dir=run_dir,
                       max_epochs=int(resolved.train_cfg.max_epochs),
                       best_begin=best_begin,
                       stage1_epochs=stage1_epochs(resolved),
                       train_options=train,
                       test_options=test)

    def train_command(self, spec: RunSpec, resume: bool) -> List[str]:
        cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'),
               osp.abspath(spec.config), '--work-dir', spec.run_dir]
        cmd += ['--amp'] if self.amp else []
        cmd += ['--channels-last'] if self.channels_last else []
        cmd += ['--resume'] if resume else []
        return cmd + ['--cfg-options'] + spec.train_options

    def test_command(self, spec: RunSpec, checkpoint: str) -> List[str]:
        cmd = [sys.executable, osp.join(REPO, 'tools', 'test.py'),
               osp.abspath(spec.config), checkpoint, '--work-dir',
               spec.path('test'), '--out', spec.path(TEST_JSON)]
        return cmd + (['--cfg-options'] + spec.test_options
                      if spec.test_options else [])

    def final_checkpoint(self, spec: RunSpec) -> str:
        return spec.path(f'epoch_{spec.max_epochs}.pth')

    # -- manifests ----------------------------------------------------------
    def _load_manifest(self, spec: RunSpec) -> dict:
        path = spec.path(MANIFEST)
        if not osp.isfile(path):
            return {}
        try:
            with open(path, encoding='utf-8') as f:
                manifest = json.load(f)
        except ValueError as err:
            raise ValueError(f'run_table: {path} is not valid JSON ({err}); '
                             'repair or delete it (the checkpoints beside '
                             'it are kept and resumed).') from None
        if manifest.get('config') != config_label(spec.config):
            raise ValueError(
                f"run_table: {spec.run_dir} holds a run of "
                f"{manifest.get('config')}, not of "
                f'{config_label(spec.config)} (same run name); use another '
                '--work-dir or move that folder.')
        if manifest.get('seed') != spec.seed:
            raise ValueError(f"run_table: {path} records seed "
                             f"{manifest.get('seed')}, not {spec.seed}; "
                             'the folder was renamed? Move it back.')
        return manifest

    def _save_manifest(self, spec: RunSpec) -> None:
        path = spec.path(MANIFEST)
        tmp = path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(spec.manifest, f, indent=2)
            f.write('\n')
        os.replace(tmp, path)

    def _close_killed_segments(self, spec: RunSpec) -> None:
        """A segment without an end was killed: it ends at the time of the
        newest checkpoint written after its start (its start if none)."""
        for seg in spec.manifest.get('segments', []):
            if seg.get('end') is None:
                times = [osp.getmtime(spec.path(n)) for n in
                         os.listdir(spec.run_dir) if n.endswith('.pth')]
                times = [t for t in times if t >= seg['start']]
                seg['end'] = max(times, default=seg['start'])
                seg['end_from_checkpoint_time'] = True

    # -- running ------------------------------------------------------------
    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        if self.device == 'cpu':
            env['CUDA_VISIBLE_DEVICES'] = ''
        return env

    def _run(self, cmd, log_file, tag) -> None:
        self.log(f'{tag}$ ' + ' '.join(cmd))
        with open(log_file, 'a', encoding='utf-8') as log:
            log.write(f'\n$ {" ".join(cmd)}\n')
            log.flush()
            proc = subprocess.Popen(cmd, cwd=REPO, env=self._env(),
                                    text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            for line in proc.stdout:
                log.write(line)
                if 'lt/top1' in line or line.startswith('error:'):
                    self.log(f'{tag}  ' + line.rstrip()[:240])
            code = proc.wait()
        if code != 0:
            raise RuntimeError(f'run_table: {osp.basename(cmd[1])} failed '
                               f'for {tag.strip()} (exit {code}); see '
                               f'{log_file}. Run again to resume.')

    def run_one(self, spec: RunSpec) -> dict:
        """Train (or resume) and test one run; returns its record."""
        tag = f'[{spec.label}] '
        spec.manifest = self._load_manifest(spec)
        finished = spec.manifest.get('status') == 'finished'
        if self.dry_run:
            resume = osp.isfile(spec.path('last_checkpoint'))
            state = 'finished, skipped' if finished and not self.retest \
                else ('resume' if resume else 'new')
            self.log(f'{tag}({state})')
            if not finished:
                self.log('$ ' + ' '.join(self.train_command(spec, resume)))
            if not finished or self.retest:
                self.log('$ ' + ' '.join(self.test_command(
                    spec, self.final_checkpoint(spec))))
            return {}
        if finished and not self.retest:
            self.log(f'{tag}finished, skipped')
            return self.record(spec)
        os.makedirs(spec.run_dir, exist_ok=True)
        if not spec.manifest:
            spec.manifest = dict(config=config_label(spec.config),
                                 seed=spec.seed, status='new', segments=[])
        spec.manifest.update(
            train_options=spec.train_options, amp=self.amp,
            channels_last=self.channels_last, best_begin=spec.best_begin,
            best_test_epoch=self.best_test_epoch,
            stage1_epochs=spec.stage1_epochs,
            hardware=(f'{hardware_label(self.hardware)}, '
                      + precision_label(self.amp, self.channels_last,
                                        self.hardware['device'])),
            hardware_detail=self.hardware)
        self._close_killed_segments(spec)
        final = self.final_checkpoint(spec)
        if not osp.isfile(final):
            resume = osp.isfile(spec.path('last_checkpoint'))
            segment = dict(start=time.time(), end=None, resumed=resume)
            spec.manifest['segments'].append(segment)
            spec.manifest['status'] = 'training'
            self._save_manifest(spec)
            self._run(self.train_command(spec, resume),
                      spec.path('train_output.log'), tag)
            segment['end'] = time.time()
            if not osp.isfile(final):
                raise RuntimeError(
                    f'run_table: {tag.strip()} trained without writing '
                    f'{final}; see {spec.path("train_output.log")}.')
        spec.manifest['status'] = 'trained'
        self._save_manifest(spec)
        start = time.time()
        self._run(self.test_command(spec, final), spec.path(
            'test_output.log'), tag)
        spec.manifest['test_seconds'] = time.time() - start
        results_table.read_test_metrics(spec.path(TEST_JSON))
        spec.manifest['status'] = 'finished'
        self._save_manifest(spec)
        return self.record(spec)

    def record(self, spec: RunSpec) -> dict:
        """The table record of a finished run (test JSON, best epoch, times).
        A finished run whose test JSON is missing or corrupt is an error."""
        try:
            metrics = results_table.read_test_metrics(spec.path(TEST_JSON))
        except ValueError as err:
            raise ValueError(
                f'run_table: {err}, but {spec.path(MANIFEST)} marks '
                f'{spec.label} finished; run again with --retest to test its '
                'final checkpoint again.') from None
        best = None
        history = results_table.read_val_history(spec.run_dir)
        begin = spec.manifest.get('best_begin')
        if begin is not None:
            found = results_table.best_test_epoch(history, begin)
            if found is not None:
                best = dict(epoch=found[0], top1=found[1])
        stage1 = results_table.stage1_summary(
            history, spec.manifest.get('stage1_epochs'))
        segments = spec.manifest.get('segments', [])
        return dict(
            config=config_label(spec.config), seed=spec.seed,
            metrics=metrics, best_test_epoch=best, stage1=stage1,
            best_test_mode=spec.manifest.get('best_test_epoch'),
            train_seconds=sum(s['end'] - s['start'] for s in segments
                              if s.get('end') is not None),
            train_segments=len(segments),
            test_seconds=spec.manifest.get('test_seconds', 0.0),
            hardware=spec.manifest.get('hardware'),
            amp=spec.manifest.get('amp'),
            channels_last=spec.manifest.get('channels_last'),
            train_options=spec.manifest.get('train_options'),
            run_dir=spec.run_dir)

    def run(self, title: str = '') -> List[dict]:
        """Run every spec; write and return the table records."""
        if self.dry_run:
            self.log('dry run: printing the commands; nothing is run or '
                     'written')
        if self.parallel > 1 and not self.dry_run:
            with ThreadPoolExecutor(self.parallel) as pool:
                records = list(pool.map(self.run_one, self.specs))
        else:
            records = [self.run_one(spec) for spec in self.specs]
        if self.dry_run:
            return []
        md, js = results_table.write_table(
            records, self.work_dir, title,
            extra=dict(hardware=self.hardware))
        with open(md, encoding='utf-8') as f:
            self.log('\n' + f.read())
        self.log(f'written: {md}, {js}')
        return records


def _parse_options(options: Sequence[str]) -> dict:
    """``['a.b=1', ...]`` → the dict MMEngine's ``DictAction`` makes."""
    from mmengine.config import DictAction
    parsed = {}
    for text in options:
        if '=' not in text:
            raise ValueError(f'run_table: --cfg-options entry {text!r} is '
                             'not key=value.')
        key, value = text.split('=', 1)
        parsed[key] = DictAction._parse_iterable(value)
    return parsed
