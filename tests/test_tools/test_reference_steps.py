"""The plain-PyTorch reference steps do the toolbox's work: on the same
batches and starting weights they give ``model.train_step``'s losses, so
``benchmark_train.py --reference`` compares equal work."""
import importlib.util
import itertools
from pathlib import Path

import pytest
import torch
from _helpers.configs import CONFIG_DIR, tiny_config
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed
from torch import nn

from mmssl_kd.cli import load_model

TOOL = (Path(__file__).resolve().parents[2] / 'tools' / 'benchmarks'
        / 'reference_steps.py')
spec = importlib.util.spec_from_file_location('reference_steps', TOOL)
reference_steps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference_steps)
build_reference_step = reference_steps.build_reference_step

DEMOS = {
    'SEED': 'seed/seed_resnet20-cifar_resnet56-cifar-sup_1xb256-coslr-1e_'
            'cifar10-demo.py',
    'DoGo': 'dogo/dogo_resnet20-cifar_resnet56-cifar_1xb256-adam-1e_'
            'cifar10-demo.py',
    'DINO': 'selfsup/dino_vit-mini-p4_1xb256-coslr-5e_cifar10-demo.py',
}


@pytest.mark.parametrize('algorithm', DEMOS)
def test_reference_step_gives_toolbox_losses(algorithm, tiny_image_folder,
                                             tmp_path):
    """Two steps: the first compares the losses on equal weights, the
    second also the optimizer step and what the step updates (queue, EMA
    teacher, centre).  After DoGo's first step the weights are no longer
    equal: Adam's first update is about +-lr whatever the gradient's size,
    so rounding noise in a near-zero gradient (1e-7 relative here) flips
    whole updates; its second losses agree to 1e-3."""
    cfg = tiny_config(CONFIG_DIR / DEMOS[algorithm], tiny_image_folder,
                      tmp_path)
    init_default_scope('mmssl_kd')
    MessageHub.get_current_instance().update_info('max_iters', 10)
    set_random_seed(0)
    model = load_model(cfg, 'random').train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    ref = build_reference_step(model, optim_wrapper)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    for step, batch in enumerate(itertools.islice(loader, 2)):
        ours = model.train_step(batch, optim_wrapper)
        theirs = ref.train_step(batch)
        rel = 1e-3 if step and algorithm == 'DoGo' else 1e-5
        for key in ref.totals:
            assert theirs[key].item() == pytest.approx(ours[key].item(),
                                                       rel=rel), (step, key)
    if algorithm == 'SEED':  # LARS: the same weights and queue
        own = dict(ref.model.named_parameters())
        for name, param in model.named_parameters():
            torch.testing.assert_close(own[name], param, msg=name)
        torch.testing.assert_close(ref.queue, model.queue.queue)
    if algorithm == 'DINO':
        torch.testing.assert_close(ref.center, model.loss_module.center)
        # one group per weight-decay setting, as the official code
        assert len(optim_wrapper.optimizer.param_groups) == 2
        assert len(ref.optimizers[0].param_groups) == 2


def test_other_algorithms_have_no_reference_step():
    with pytest.raises(ValueError, match='SEED, DoGo, DINO'):
        build_reference_step(nn.Linear(2, 2), None)
