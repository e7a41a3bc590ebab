"""A resume with another optimizer than the checkpoint's, or with another
run length, is refused before anything is loaded, naming both and the way
out."""
from pathlib import Path

import pytest
import torch
from _helpers.loops import Dropping, dataloader
from mmengine.optim import OptimWrapper, OptimWrapperDict

from mmssl_kd.compat import load_checkpoint_file
from mmssl_kd.engine import Runner
from mmssl_kd.engine.runner import optimizer_mismatch

ADAMW = dict(type='AdamW', lr=0.01, weight_decay=0.1)


def train(work_dir: Path, optimizer: dict, resume: bool = False,
          epochs: int = 1, cfg: dict = None) -> Runner:
    torch.manual_seed(0)
    runner = Runner(
        cfg=cfg,
        model=Dropping(), work_dir=str(work_dir),
        experiment_name=f'optimizer_{work_dir.name}_{optimizer["type"]}_'
        f'{resume}', train_dataloader=dataloader('main'),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=epochs),
        optim_wrapper=dict(optimizer=optimizer), resume=resume,
        default_scope='mmssl_kd', log_level='WARNING')
    runner.train()
    return runner


@pytest.fixture
def adamw_run(tmp_path) -> Path:
    """A work dir with the checkpoint of one AdamW epoch."""
    train(tmp_path, ADAMW)
    assert load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))['meta'][
        'optimizers'] == {'': 'AdamW'}
    return tmp_path


@pytest.mark.parametrize('optimizer', [
    dict(type='SGD', lr=0.01, momentum=0.9),  # was: KeyError: 'momentum'
    dict(ADAMW, type='Adam'),  # was: resumed with AdamW's groups
])
def test_resume_with_another_optimizer_is_refused(adamw_run, optimizer):
    with pytest.raises(ValueError) as err:
        train(adamw_run, optimizer, resume=True, epochs=2)
    message = str(err.value)
    assert f"its optimizer is AdamW, this config's is {optimizer['type']}" \
        in message
    assert 'Resume with the config that wrote it' in message
    assert 'load_from' in message
    # nothing was trained or written
    assert sorted(p.name for p in adamw_run.glob('*.pth')) == ['epoch_1.pth']


def test_resume_with_the_same_optimizer(adamw_run):
    assert train(adamw_run, ADAMW, resume=True, epochs=2).iter == 8


def test_checkpoint_without_optimizer_types(adamw_run):
    """An older checkpoint names no types: the settings an optimizer steps
    with must be in its state's groups."""
    checkpoint = load_checkpoint_file(str(adamw_run / 'epoch_1.pth'))
    del checkpoint['meta']['optimizers']
    sgd = train(adamw_run / 'sgd', dict(type='SGD', lr=0.1, momentum=0.9))
    assert optimizer_mismatch(checkpoint, sgd.optim_wrapper) == (
        "its optimizer state lacks the settings ['momentum', 'dampening'] "
        "that this config's SGD steps with: it was written by another "
        'optimizer type')
    adamw = train(adamw_run / 'adamw', ADAMW)
    assert optimizer_mismatch(checkpoint, adamw.optim_wrapper) is None
    assert optimizer_mismatch(dict(meta={}), adamw.optim_wrapper) is None


def test_parts_must_match():
    """A two-optimizer state (DoGo, MOKD) and a one-optimizer config, or
    other parts, or one part's type changed."""
    weights = [torch.nn.Parameter(torch.ones(2)) for _ in range(2)]
    parts = OptimWrapperDict(
        model1=OptimWrapper(torch.optim.Adam([weights[0]])),
        model2=OptimWrapper(torch.optim.SGD([weights[1]], lr=0.1)))
    state = dict(optimizer=parts.state_dict(), meta=dict(
        optimizers=dict(model1='Adam', model2='SGD')))
    assert optimizer_mismatch(state, parts) is None
    single = OptimWrapper(torch.optim.Adam(weights))
    assert optimizer_mismatch(state, single) == (
        "its optimizer is model1: Adam, model2: SGD, this config's is Adam")
    state['meta']['optimizers']['model2'] = 'Adam'
    assert optimizer_mismatch(state, parts) == (
        "its optimizer is model1: Adam, model2: Adam, this config's is "
        'model1: Adam, model2: SGD')
    del state['meta']['optimizers']  # an older checkpoint
    assert optimizer_mismatch(state, single) == (
        "it holds the optimizer states of the parts ['model1', 'model2'], "
        'this config has one optimizer')
    assert optimizer_mismatch(dict(optimizer=single.state_dict()), parts) \
        == ("it holds the optimizer states of one optimizer, this config "
            "has the parts ['model1', 'model2']")


def test_resume_with_another_run_length_is_refused(tmp_path):
    """max_epochs 1 -> 2 on resume went through silently (the schedules
    follow the run length); allow_schedule_change=True extends on
    purpose."""
    def cfg(epochs, **extra):
        return dict(train_cfg=dict(type='EpochBasedTrainLoop',
                                   max_epochs=epochs), **extra)

    train(tmp_path, ADAMW, epochs=1, cfg=cfg(1))
    with pytest.raises(ValueError, match=r"its run had max_epochs=1, this "
                       r"config max_epochs=2\..*allow_schedule_change"):
        train(tmp_path, ADAMW, resume=True, epochs=2, cfg=cfg(2))
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth']
    assert train(tmp_path, ADAMW, resume=True, epochs=1, cfg=cfg(1)).iter \
        == 4  # the same length: resumes (here: nothing left to train)
    assert train(tmp_path, ADAMW, resume=True, epochs=2,
                 cfg=cfg(2, allow_schedule_change=True)).iter == 8


def test_checkpoint_config_text_is_read_not_run(tmp_path, monkeypatch):
    """meta['cfg'] is Python: parsing it with Config.fromstring would run
    its code and custom_imports (a checkpoint is untrusted input)."""
    from mmengine.config import Config

    from mmssl_kd.engine.runner import schedule_change
    marker = tmp_path / 'ran'
    text = (f'open({str(marker)!r}, "w")\n'
            "custom_imports = dict(imports=['os'])\n"
            "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)\n")
    assert schedule_change(dict(meta=dict(cfg=text)), Config(dict(
        train_cfg=dict(max_epochs=2)))) == \
        'max_epochs=1, this config max_epochs=2'
    assert not marker.exists()
    assert schedule_change(dict(meta=dict(cfg='not python (')),
                           Config(dict(train_cfg=dict(max_epochs=2)))) is None
