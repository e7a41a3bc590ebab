"""FeatureQueue: FIFO order, wrap-around at any length, state dict."""
import pytest
import torch

from mmssl_kd.models.utils import FeatureQueue


def numbered_keys(start: int, count: int, dim: int = 2) -> torch.Tensor:
    """Key n is (n, n, ...), so a row tells which key it is."""
    return torch.arange(start, start + count).float()[:, None].repeat(1, dim)


def sequential_reference(queue: torch.Tensor, ptr: int, keys: torch.Tensor):
    """Write the keys one at a time: the FIFO definition."""
    queue = queue.clone()
    for key in keys:
        queue[ptr] = key
        ptr = (ptr + 1) % queue.shape[0]
    return queue, ptr


def test_init_rows_unit_norm_and_buffers():
    q = FeatureQueue(dim=16, length=50)
    assert q.queue.shape == (50, 16)
    torch.testing.assert_close(q.queue.norm(dim=1), torch.ones(50))
    assert q.queue.std() > 0.1  # random, not constant
    assert q.ptr.dtype == torch.long and int(q.ptr) == 0
    assert set(q.state_dict()) == {'queue', 'ptr'}


@pytest.mark.parametrize('length,batch,steps', [(7, 3, 6), (6, 3, 5),
                                                (4, 10, 3), (5, 5, 3)])
def test_fifo_with_wrap_around(length, batch, steps):
    """Odd lengths (7 with batch 3), multiples, batches longer than the
    queue: always the same as writing the keys one by one."""
    q = FeatureQueue(dim=2, length=length)
    expected, ptr = q.queue.clone(), 0
    for step in range(steps):
        keys = numbered_keys(step * batch, batch)
        q.enqueue(keys)
        expected, ptr = sequential_reference(expected, ptr, keys)
        assert torch.equal(q.queue, expected)
        assert int(q.ptr) == ptr


def test_oldest_first_order():
    """Rolled by ptr, the queue lists the newest `length` keys in order."""
    q = FeatureQueue(dim=2, length=7)
    for step in range(4):
        q.enqueue(numbered_keys(step * 3, 3))
    oldest_first = torch.roll(q.queue, -int(q.ptr), dims=0)
    assert oldest_first[:, 0].tolist() == list(range(5, 12))


def test_batch_longer_than_queue_keeps_newest():
    q = FeatureQueue(dim=2, length=4)
    q.enqueue(numbered_keys(100, 1))  # ptr 1
    q.enqueue(numbered_keys(0, 10))
    assert int(q.ptr) == 11 % 4
    assert sorted(q.queue[:, 0].tolist()) == [6, 7, 8, 9]
    assert torch.roll(q.queue, -int(q.ptr), 0)[:, 0].tolist() == [6, 7, 8, 9]


def test_no_graph_and_shape_check():
    q = FeatureQueue(dim=3, length=5)
    keys = torch.randn(2, 3, requires_grad=True)
    q.enqueue(keys * 2)
    assert not q.queue.requires_grad and q.queue.grad_fn is None
    with pytest.raises(ValueError, match=r'\(B, 3\)'):
        q.enqueue(torch.randn(2, 4))
    with pytest.raises(ValueError, match='length=0'):
        FeatureQueue(dim=3, length=0)


def test_state_dict_round_trip():
    q = FeatureQueue(dim=4, length=9)
    q.enqueue(torch.randn(5, 4))
    restored = FeatureQueue(dim=4, length=9)
    assert not torch.equal(restored.queue, q.queue)
    restored.load_state_dict(q.state_dict())
    assert torch.equal(restored.queue, q.queue)
    assert int(restored.ptr) == int(q.ptr) == 5
    keys = torch.randn(6, 4)
    q.enqueue(keys)
    restored.enqueue(keys)
    assert torch.equal(restored.queue, q.queue)


def test_enqueue_reads_nothing_back_to_the_host(monkeypatch):
    """The write position stays on the device (a GPU step never waits)."""
    q = FeatureQueue(dim=2, length=5)

    def no_sync(self, *args):
        raise AssertionError('read a value back to the host')

    for name in ('item', '__int__', '__index__', 'tolist'):
        monkeypatch.setattr(torch.Tensor, name, no_sync)
    q.enqueue(numbered_keys(0, 3))
    q.enqueue(numbered_keys(3, 3))
    monkeypatch.undo()
    assert int(q.ptr) == 1
