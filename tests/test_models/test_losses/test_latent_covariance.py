"""LatentCovarianceEstimator: exact pooled update, buffers, AMP, gloo."""
import os
import socket
import tempfile
import time

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lcreg.models.losses import LatentCovarianceEstimator


def _batches(seed=0, sizes=(3, 5, 2), M=3, D=4):
    g = torch.Generator().manual_seed(seed)
    # Offset mean so that the cross term (μ − μ̂)(μ − μ̂)ᵀ matters.
    return [torch.randn(b, M, D, generator=g) * 2 + 5 for b in sizes]


def _numpy_cov(samples, m, diag):
    cov = np.cov(samples[:, m].double().numpy(), rowvar=False, bias=True)
    return np.diag(cov) if diag else cov


def test_first_update_copies_hand_computed_batch_statistics():
    est = LatentCovarianceEstimator(num_latents=2, feature_dim=2)
    # category 0: samples (0, 2), (2, 0); category 1: (1, 0), (1, 2).
    feats = torch.tensor([[[0., 2.], [1., 0.]], [[2., 0.], [1., 2.]]])
    est.update(feats)
    torch.testing.assert_close(est.mean, torch.tensor([[1., 1.], [1., 1.]]))
    torch.testing.assert_close(
        est.covariance,
        torch.tensor([[[1., -1.], [-1., 1.]], [[0., 0.], [0., 1.]]]))
    assert est.count.tolist() == [2, 2]


def test_pooled_update_by_hand():
    """Two one-dimensional updates, merged with w = n / (n + N)."""
    est = LatentCovarianceEstimator(num_latents=1, feature_dim=1)
    est.update(torch.tensor([[[0.]], [[2.]]]))  # μ = 1, Σ = 1, N = 2
    est.update(torch.tensor([[[6.]], [[6.]]]))  # μ̂ = 6, Σ̂ = 0, n = 2
    # w = 1/2: Σ = 0.5·1 + 0.5·0 + 0.25·(1 − 6)² = 6.75, μ = 3.5
    assert est.covariance.item() == pytest.approx(6.75)
    assert est.mean.item() == pytest.approx(3.5)
    # The biased variance of {0, 2, 6, 6}: mean 3.5, (12.25+2.25+6.25·2)/4.
    assert np.var([0., 2., 6., 6.]) == pytest.approx(6.75)


@pytest.mark.parametrize('cov_type', ['full', 'diag'])
def test_several_updates_equal_biased_covariance_of_all_samples(cov_type):
    batches = _batches()
    est = LatentCovarianceEstimator(3, 4, cov_type=cov_type)
    for batch in batches:
        est.update(batch)
    seen = torch.cat(batches)
    assert est.count.tolist() == [10, 10, 10]
    assert est.covariance.dtype == torch.float32
    for m in range(3):
        np.testing.assert_allclose(
            est.covariance[m].numpy(),
            _numpy_cov(seen, m, cov_type == 'diag'), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(est.mean[m].numpy(),
                                   seen[:, m].mean(0).numpy(), rtol=1e-5)


def test_update_is_detached_and_buffers_are_checkpointed():
    est = LatentCovarianceEstimator(3, 4, cov_type='full')
    feats = _batches()[0].requires_grad_()
    est.update(feats * 1.0)
    assert not est.covariance.requires_grad and est.covariance.grad_fn is None
    assert set(est.state_dict()) == {'mean', 'covariance', 'count'}
    restored = LatentCovarianceEstimator(3, 4, cov_type='full')
    restored.load_state_dict(est.state_dict())
    for module in (est, restored):
        module.update(_batches(seed=1)[1])
    torch.testing.assert_close(restored.covariance, est.covariance)
    assert restored.count.tolist() == est.count.tolist() == [8, 8, 8]


def test_fp32_under_autocast_with_values_that_overflow_fp16():
    """float16 autocast (bfloat16 has float32's range and cannot overflow):
    the products of centred features ~1e6 exceed float16's 65504, so the
    statistics are finite only if they are computed in float32."""
    batches = [b * 1e3 for b in _batches()]  # squares ~ 5e7 > fp16 max
    assert not torch.isfinite(torch.einsum(
        'bmd,bme->mde', batches[0].half(), batches[0].half())).all()
    est = LatentCovarianceEstimator(3, 4)
    with torch.autocast('cpu', dtype=torch.float16):
        for batch in batches:
            est.update(batch)
    assert est.covariance.dtype == torch.float32
    assert torch.isfinite(est.covariance).all()
    seen = torch.cat(batches)
    np.testing.assert_allclose(est.covariance[0].numpy(),
                               _numpy_cov(seen, 0, False), rtol=1e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match='cov_type'):
        LatentCovarianceEstimator(3, 4, cov_type='low_rank')
    est = LatentCovarianceEstimator(3, 4)
    with pytest.raises(ValueError, match='B×3×4'):
        est.update(torch.zeros(2, 4, 3))


# --------------------------------------------------------------- distributed
def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _dist_worker(rank, world_size, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world_size)
    try:
        # Batch 1 split in halves (2 + 2), batch 2 unevenly (1 + 4).
        batches = _batches(sizes=(4, 5))
        splits = [(0, 2, 4), (0, 1, 5)]
        result = {}
        for cov_type in ('full', 'diag'):
            est = LatentCovarianceEstimator(3, 4, cov_type=cov_type)
            for batch, cut in zip(batches, splits):
                est.update(batch[cut[rank]:cut[rank + 1]])
            result[cov_type] = est.state_dict()
        torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_process_with_global_batch():
    with tempfile.TemporaryDirectory() as out_dir:
        # 'fork' reuses the parent's imports (a 'spawn' child re-imports
        # torch and mmpretrain: ~20 s on a busy 2-core machine).
        context = mp.start_processes(
            _dist_worker, args=(2, _free_port(), out_dir), nprocs=2,
            join=False, start_method='fork')
        deadline = time.monotonic() + 60
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.kill()
                pytest.fail('gloo workers did not finish within 60 s')
        results = [torch.load(os.path.join(out_dir, f'rank{r}.pt'))
                   for r in range(2)]
    for cov_type in ('full', 'diag'):
        single = LatentCovarianceEstimator(3, 4, cov_type=cov_type)
        for batch in _batches(sizes=(4, 5)):
            single.update(batch)
        for result in results:
            state = result[cov_type]
            assert state['count'].tolist() == [9, 9, 9]
            torch.testing.assert_close(state['covariance'], single.covariance,
                                       rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(state['mean'], single.mean)
