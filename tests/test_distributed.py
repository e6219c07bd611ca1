"""core.distributed: each rank's share of the data (the process group itself is tested by
tests/test_train.py, under torchrun)."""

import pytest
import torch

from core import distributed


def test_shard_is_equal_and_disjoint():
    x = torch.arange(11)
    parts = [distributed.shard(x, distributed.World(rank=r, world_size=3)) for r in range(3)]
    assert {len(p) for p in parts} == {3}
    assert len(set(torch.cat(parts).tolist())) == 9
    blocks = [distributed.shard(x, distributed.World(rank=r, world_size=3), True) for r in range(3)]
    assert torch.cat(blocks).tolist() == list(range(9))
    with pytest.raises(ValueError, match="larger than the data"):
        distributed.shard(x, distributed.World(rank=0, world_size=12))
