"""Each fix in :mod:`mmssl_kd.compat`: the failure on today's stack, then the
fix (``shared/design/stack.md`` items 1 to 4)."""
import builtins
import pickle
import zipfile
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from mmengine.config import Config
from mmengine.config.utils import ConfigParsingError
from mmengine.model import BaseModel, BaseModule
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
from mmpretrain.datasets.transforms import ColorJitter as MMPretrainColorJitter
from torch import nn

from mmssl_kd import compat
from mmssl_kd.compat import (UntrustedCheckpointError, adjust_hue,
                             check_config_file, load_checkpoint_file,
                             trust_checkpoints, untrust_all)
from mmssl_kd.datasets.transforms import ColorJitter
from mmssl_kd.registry import TRANSFORMS

# ---------------------------------------------------------------------------
# 1. checkpoints


class TinyModel(BaseModel):
    """A linear regressor, enough for a real MMEngine checkpoint."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(3, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.fc(inputs)
        if mode == 'loss':
            return {'loss': ((out - targets)**2).mean()}
        return out


def tiny_runner(work_dir: Path, name: str, max_epochs: int,
                **kwargs) -> Runner:
    """A Runner on 4 samples, batch 2: 2 iterations per epoch."""
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(3, generator=gen), torch.randn(1, generator=gen))
            for _ in range(4)]
    return Runner(
        model=TinyModel(),
        work_dir=str(work_dir),
        experiment_name=name,  # several runners within one second
        train_dataloader=dict(
            dataset=data, batch_size=2,
            collate_fn=dict(type='default_collate'),
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmssl_kd',
        randomness=dict(seed=0),
        **kwargs)


@pytest.fixture(scope='module')
def mmengine_checkpoint(tmp_path_factory) -> Path:
    """``epoch_1.pth`` saved by a Runner after 2 iterations."""
    work_dir = tmp_path_factory.mktemp('ckpt_run')
    tiny_runner(work_dir, 'make_ckpt', max_epochs=1).train()
    return work_dir / 'epoch_1.pth'


class _RunsCode:
    """Unpickling this runs ``source`` (what a malicious checkpoint does)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return builtins.exec, (self.source,)


def save_code_running_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint whose loading creates ``marker``."""
    torch.save({'state_dict': {'fc.weight': torch.zeros(1, 3)},
                'payload': _RunsCode(f'open({str(marker)!r}, "w").close()')},
               path)
    return path


@pytest.fixture(autouse=True)
def no_trusted_files():
    yield
    untrust_all()


@pytest.fixture
def loader_calls(monkeypatch) -> list:
    """Record every file that goes through ``load_checkpoint_file``."""
    calls = []

    def spy(filename, map_location=None):
        calls.append(str(filename))
        return load_checkpoint_file(filename, map_location)

    monkeypatch.setattr(compat, 'load_checkpoint_file', spy)
    return calls


def test_plain_weights_only_load_fails(mmengine_checkpoint):
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(mmengine_checkpoint, weights_only=True)
    # and so does MMEngine's own local-file loader, which compat replaces
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        load_from_local(str(mmengine_checkpoint), map_location='cpu')


def test_load_checkpoint_file_loads_mmengine_checkpoint(mmengine_checkpoint):
    ckpt = load_checkpoint_file(str(mmengine_checkpoint), map_location='cpu')
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(ckpt)
    assert ckpt['meta']['iter'] == 2
    assert ckpt['state_dict']['fc.weight'].shape == (1, 3)


def test_checkpoint_from_numpy_1_loads(mmengine_checkpoint, tmp_path):
    """numpy 1 pickles its helpers as ``numpy.core.multiarray.*``."""
    old = tmp_path / 'numpy1.pth'
    with zipfile.ZipFile(mmengine_checkpoint) as src, \
            zipfile.ZipFile(old, 'w') as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith('/data.pkl'):
                assert b'numpy._core.multiarray' in data
                data = data.replace(b'numpy._core.multiarray',
                                    b'numpy.core.multiarray')
            dst.writestr(name, data)
    ckpt = load_checkpoint_file(str(old))
    new = load_checkpoint_file(str(mmengine_checkpoint))
    assert torch.equal(ckpt['state_dict']['fc.weight'],
                       new['state_dict']['fc.weight'])


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_mmengine_loaders_go_through_compat(mmengine_checkpoint,
                                            loader_calls):
    path = str(mmengine_checkpoint)
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert loader_calls == [path]

    # the path of `load_from` and init_cfg=dict(type='Pretrained')
    model = TinyModel()
    load_checkpoint(model, path, map_location='cpu')
    assert torch.equal(model.fc.weight, ckpt['state_dict']['fc.weight'])
    assert len(loader_calls) == 2

    pretrained = TinyModel(
        init_cfg=dict(type='Pretrained', checkpoint=path))
    assert isinstance(pretrained, BaseModule)
    pretrained.init_weights()
    assert torch.equal(pretrained.fc.weight, ckpt['state_dict']['fc.weight'])
    assert loader_calls == [path] * 3


def test_runner_resume_goes_through_compat(mmengine_checkpoint, tmp_path,
                                           loader_calls):
    runner = tiny_runner(tmp_path, 'resume', max_epochs=2,
                         load_from=str(mmengine_checkpoint), resume=True)
    runner.train()
    assert loader_calls == [str(mmengine_checkpoint)]
    assert runner.iter == 4  # 2 resumed + 2 trained


def test_code_running_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = save_code_running_checkpoint(tmp_path / 'evil.pth', marker)
    with pytest.raises(UntrustedCheckpointError, match='exec') as err:
        load_checkpoint_file(str(path))
    assert '--trust-checkpoint' in str(err.value)
    # the way every MMEngine path loads a file refuses it too
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint(TinyModel(), str(path))
    assert not marker.exists()


def test_trust_only_the_named_file(tmp_path):
    marker_a, marker_b = tmp_path / 'ran_a', tmp_path / 'ran_b'
    path_a = save_code_running_checkpoint(tmp_path / 'a.pth', marker_a)
    path_b = save_code_running_checkpoint(tmp_path / 'b.pth', marker_b)

    trust_checkpoints([str(path_a)])
    ckpt = load_checkpoint_file(str(path_a))
    assert marker_a.exists()  # loaded the unsafe way: the payload ran
    assert torch.equal(ckpt['state_dict']['fc.weight'], torch.zeros(1, 3))

    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(str(path_b))
    assert not marker_b.exists()

    untrust_all()
    marker_a.unlink()
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(str(path_a))
    assert not marker_a.exists()


# ---------------------------------------------------------------------------
# 3. hue jitter under numpy 2


def random_bgr(seed: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3),
                                                dtype=np.uint8)


@pytest.fixture
def mmssl_kd_scope():
    init_default_scope('mmssl_kd')


def test_mmcv_adjust_hue_overflows_for_negative_factor():
    with pytest.raises(OverflowError, match='out of bounds for uint8'):
        mmcv.adjust_hue(random_bgr(0), -0.1)


def test_mmpretrain_color_jitter_fails_on_some_seeds():
    jitter = MMPretrainColorJitter(hue=0.1)
    failures = 0
    for seed in range(20):
        np.random.seed(seed)
        try:
            jitter({'img': random_bgr(seed)})
        except OverflowError:
            failures += 1
    assert failures > 0


def test_registry_builds_the_fixed_color_jitter(mmssl_kd_scope):
    jitter = TRANSFORMS.build(dict(type='ColorJitter', hue=0.1))
    assert type(jitter) is ColorJitter
    parent = TRANSFORMS.build(dict(type='mmpretrain.ColorJitter', hue=0.1))
    assert type(parent) is MMPretrainColorJitter


def test_fixed_color_jitter_inside_multiview_and_random_apply(mmssl_kd_scope):
    multiview = TRANSFORMS.build(
        dict(type='MultiView', num_views=2, transforms=[[
            dict(type='RandomApply', prob=1.0,
                 transforms=[dict(type='ColorJitter', hue=0.1)])
        ]]))
    random_apply = multiview.pipelines[0].transforms[0]
    assert type(random_apply.transforms.transforms[0]) is ColorJitter
    for seed in range(20):
        np.random.seed(seed)
        views = multiview({'img': random_bgr(seed)})['img']
        assert len(views) == 2


@pytest.mark.filterwarnings('ignore:Only use .alpha. for pillow backend')
def test_fixed_color_jitter_never_fails(mmssl_kd_scope):
    jitter = TRANSFORMS.build(
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.2, hue=0.5))
    for seed in range(200):
        np.random.seed(seed)
        img = random_bgr(seed, size=8)
        out = jitter({'img': img})['img']
        assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize('factor', [0.02, 0.1, 0.3, 0.5])
def test_adjust_hue_equals_mmcv_for_positive_factors(factor):
    img = random_bgr(1)
    np.testing.assert_array_equal(adjust_hue(img, factor),
                                  mmcv.adjust_hue(img, factor))


def torchvision_hue(img_bgr: np.ndarray, factor: float) -> np.ndarray:
    """torchvision's exact (float HSV) hue shift, on a BGR uint8 image."""
    rgb = torch.from_numpy(np.ascontiguousarray(img_bgr[..., ::-1]))
    out = TF.adjust_hue(rgb.permute(2, 0, 1), factor).permute(1, 2, 0)
    return out.numpy()[..., ::-1]


@pytest.mark.parametrize('factor', [-0.5, -0.3, -0.1, -0.02])
def test_adjust_hue_shifts_for_negative_factors(factor):
    img = random_bgr(2, size=32)
    ours = adjust_hue(img, factor).astype(int)
    expected = torchvision_hue(img, factor).astype(int)
    # OpenCV quantises hue to 256 levels: a few levels off at most
    assert np.abs(ours - expected).mean() < 2
    assert np.abs(ours - expected).max() <= 16
    assert np.abs(ours - img).mean() > 4  # a real shift, not a no-op


def test_adjust_hue_turns_pure_red_blue_and_green():
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 2] = 255  # BGR
    np.testing.assert_allclose(adjust_hue(red, -1 / 3)[0, 0], [255, 0, 0],
                               atol=8)  # 0 - 120 degrees: blue
    np.testing.assert_allclose(adjust_hue(red, 1 / 3)[0, 0], [0, 255, 0],
                               atol=8)  # 0 + 120 degrees: green


def test_adjust_hue_rejects_bad_factor():
    with pytest.raises(ValueError):
        adjust_hue(random_bgr(0), 0.6)


# ---------------------------------------------------------------------------
# 2 and 4. configs


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('text, error', [
    ("import os\n_base_ = './plain.py'\nb = 2\n", ConfigParsingError),
    ("import os\nb = os.path.join('x', 'y')\n", RuntimeError),
], ids=['with_base', 'using_import'])
def test_config_with_import_fails_and_is_flagged(tmp_path, text, error):
    write(tmp_path / 'plain.py', 'a = 1\n')
    path = write(tmp_path / 'with_import.py', text)
    with pytest.raises(error):
        Config.fromfile(path)
    with pytest.raises(ValueError, match='import statement'):
        check_config_file(path)


PKG_BASE = "_base_ = 'mmpretrain::_base_/default_runtime.py'\nb = 2\n"


def test_package_base_config_fails_without_pkg_resources(tmp_path):
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip('pkg_resources is importable here (setuptools < 82), so '
                    'the failure cannot be reproduced')
    path = write(tmp_path / 'pkg_base.py', PKG_BASE)
    with pytest.raises(ModuleNotFoundError, match='pkg_resources'):
        Config.fromfile(path)


def test_package_base_config_is_flagged(tmp_path):
    path = write(tmp_path / 'pkg_base.py', PKG_BASE)
    with pytest.raises(ValueError, match="'package::' base"):
        check_config_file(path)


def test_plain_config_passes(tmp_path):
    write(tmp_path / 'base.py', "default_scope = 'mmssl_kd'\na = 1\n")
    path = write(
        tmp_path / 'plain.py',
        "_base_ = './base.py'\n"
        "# import os would break it; values from outside use substitution:\n"
        "home = '{{$HOME:/tmp}}'\n"
        "b = dict(type='ColorJitter', hue=0.1)\n")
    check_config_file(path)
    cfg = Config.fromfile(path)
    assert cfg.a == 1 and cfg.b.hue == 0.1 and cfg.home
